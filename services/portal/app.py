"""Wiring of the portal: the pages residents, reviewers and the city use (port 8000).

Server-rendered (Jinja2), progressively enhanced by one small script, French by default.
The portal keeps only accounts in its own database; everything else it asks the services
for over HTTP, with a JWT it mints per call.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from libs.common.logs import get_logger
from libs.common.runtime import ServiceRuntime
from libs.common.settings import Settings, get_settings
from libs.common.web import create_service_app
from services.portal import (
    accounts,
    api,
    pages_accessibility,
    pages_budget,
    pages_energy,
    pages_exchange,
    pages_funding,
    pages_impact,
    pages_public,
    pages_soup,
    pages_staff,
    roles,
)
from services.portal.backends import Backends
from services.portal.config import PortalSettings, get_portal_settings
from services.portal.debate import pages as debate_pages
from services.portal.territory import directory
from services.portal.web import install_page_handlers

NAME = "portal"
STATIC = Path(__file__).parent / "static"
log = get_logger(__name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # The portal uses no camera, microphone, location or payment API: nothing embedded may.
    "Permissions-Policy": (
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
    ),
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Production only: a browser that saw it refuses plain HTTP to the portal for a year.
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


async def bootstrap_staff(runtime: ServiceRuntime, spec: str | None) -> None:
    """Create the first staff account from PORTAL_BOOTSTRAP_STAFF="email:password"."""
    if not spec or ":" not in spec:
        return
    email, password = spec.split(":", 1)
    async with runtime.db.transaction() as session:
        if await accounts.find_by_email(session, email=email):
            return
        first_street = directory().street_names[0]
        account = await accounts.sign_up(
            session,
            directory=directory(),
            email=email,
            display_name="Staff",
            password=password,
            address=f"1 {first_street}",
            roles=("staff", "reviewer"),
            status=accounts.VERIFIED,
        )
        await roles.record(
            session, actor_id=roles.BOOTSTRAP, account_id=account.id, before=(), after=account.roles
        )
    log.info("bootstrap staff account created", email=email)


def create_app(
    settings: Settings | None = None,
    *,
    portal: PortalSettings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    portal = portal or get_portal_settings()

    def wire(runtime: ServiceRuntime) -> None:
        backends = Backends(settings, portal, transport=transport)
        app.state.backends = backends
        runtime.on_start(lambda: bootstrap_staff(runtime, portal.bootstrap_staff))
        runtime.on_stop(backends.close)

    app = create_service_app(
        NAME,
        routers=[
            api.router,
            # Before the funding pages: their catch-all POST /campaigns/{id}/{step} would
            # take /campaigns/{id}/comments.
            debate_pages.router,
            debate_pages.api,
            pages_public.router,
            pages_exchange.router,
            pages_energy.router,  # before the funding pages: their POST /campaigns/{id}/{step}
            pages_soup.router,
            pages_funding.router,
            pages_budget.router,
            pages_impact.router,
            pages_staff.router,
            pages_accessibility.router,
        ],
        settings=settings,
        wire=wire,
        title="Sharitories portal",
        description="The pages residents, reviewers and the city use.",
    )
    app.state.portal_settings = portal
    # The base policy, which a page may widen for itself (the Stripe card page does).
    app.state.content_security_policy = SECURITY_HEADERS["Content-Security-Policy"]
    install_page_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    production = settings.env == "production"
    headers = {**SECURITY_HEADERS, **(dict([HSTS]) if production else {})}

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for header, value in headers.items():
            response.headers.setdefault(header, value)
        return response

    app.add_middleware(
        SessionMiddleware,
        secret_key=portal.session_secret,
        session_cookie="sharitories_session",
        max_age=int(timedelta(hours=portal.session_hours).total_seconds()),
        same_site="lax",
        https_only=portal.secure_cookies or production,
    )
    return app
