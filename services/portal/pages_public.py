"""Public pages: home, sign-up, log-in/out, language, the account page, OIDC log-in."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request

from libs.common.problems import Conflict, Invalid, TooManyRequests
from libs.common.web import problem_response
from services.portal import accounts, oidc, roles, sessions, throttle
from services.portal.backends import BackendDown, BackendProblem, Caller
from services.portal.i18n import LANGUAGES, translate
from services.portal.territory import directory
from services.portal.web import (
    Form,
    Services,
    Viewer,
    end_session,
    flash,
    language,
    redirect,
    render,
    runtime,
    safe_next,
    start_session,
    wants_problem,
)

router = APIRouter(include_in_schema=False)


async def _quietly(coro) -> Any:
    """A figure for the home page; a service that is down just leaves it out."""
    try:
        return await coro
    except (BackendDown, BackendProblem):
        return None


@router.get("/")
async def home(request: Request, me: Viewer, services: Services):
    near = me.neighbourhood if me else None
    items, campaigns, editions = await asyncio.gather(
        _quietly(services.get("exchange", "/items", params={"neighbourhood": near, "limit": 6})),
        _quietly(services.get("crowdfunding", "/campaigns", params={"state": "live"})),
        _quietly(services.get("budget", "/editions")),
    )
    return render(
        request,
        "home.html",
        items=items,
        campaigns=(campaigns or [])[:3] if campaigns is not None else None,
        edition=(editions or [None])[0] if editions is not None else None,
    )


def _login_options(request: Request) -> dict:
    portal = request.app.state.portal_settings
    return {"oidc": portal.oidc_enabled, "local": not portal.oidc_only}


@router.get("/signup")
async def signup_page(request: Request, me: Viewer):
    return render(request, "signup.html", values={}, errors={}, **_login_options(request))


KINDS = {"resident": ("resident",), "organisation": ("organisation",)}


@router.post("/signup")
async def signup(request: Request, form: Form):
    if request.app.state.portal_settings.oidc_only:
        return redirect("/login")
    values = {k: form.get(k, "") for k in ("email", "display_name", "address")}
    kind = form.get("kind") if form.get("kind") in KINDS else "resident"
    shown = {**values, "kind": kind, "birthdate": form.get("birthdate", "")}
    try:
        birthdate = accounts.parse_birthdate(form.get("birthdate"))
        async with runtime(request).db.transaction() as session:
            await accounts.sign_up(
                session,
                directory=directory(),
                password=form.get("password", ""),
                language=language(request),
                roles=KINDS[kind],
                birthdate=birthdate if kind == "resident" else None,
                **values,
            )
    except Conflict:
        # The e-mail has an account already: answer exactly as for a new one, so that the
        # page never tells whether someone is registered (the hashing cost is the same).
        pass
    except Invalid as exc:
        field = (exc.extra.get("errors") or [{}])[0].get("field", "body.").split(".")[-1]
        errors = {field: translate(language(request), f"signup.error.{field}")}
        return render(
            request,
            "signup.html",
            status=422,
            values=shown,
            errors=errors,
            **_login_options(request),
        )
    return redirect("/signup/done")


@router.get("/signup/done")
async def signup_done(request: Request, me: Viewer):
    return render(request, "signup_done.html")


@router.get("/login")
async def login_page(request: Request, me: Viewer, next: str = "/"):
    return render(
        request, "login.html", next=safe_next(next), error=None, **_login_options(request)
    )


@router.post("/login")
async def login(request: Request, form: Form):
    target = safe_next(form.get("next"))
    if request.app.state.portal_settings.oidc_only:
        return redirect("/login")
    email = str(form.get("email", ""))
    by_account = throttle.account_key(email)
    by_address = throttle.address_key(request.client.host if request.client else None)
    async with runtime(request).db.transaction() as session:
        wait = await throttle.retry_after(session, keys=[by_account, by_address])
    if wait:
        # Not even checked: a guess made now tells nothing, right or wrong.
        if wants_problem(request):
            too_many = TooManyRequests(
                f"Too many failed log-ins: try again in {wait} s.", retry_after=wait
            )
            response = problem_response(too_many, request)
            response.headers["Retry-After"] = str(wait)
            return response
        page = render(
            request,
            "login.html",
            status=429,
            next=target,
            error="login.throttled",
            email=email,
            retry_after=wait,
            **_login_options(request),
        )
        page.headers["Retry-After"] = str(wait)
        return page
    async with runtime(request).db.transaction() as session:
        account = await accounts.authenticate(
            session, email=email, password=form.get("password", "")
        )
        if account is None:
            await throttle.record_failure(session, key=by_account, free=throttle.ACCOUNT_FREE)
            await throttle.record_failure(session, key=by_address, free=throttle.ADDRESS_FREE)
        else:
            await throttle.forget(session, key=by_account)
    if account is None:
        return render(
            request,
            "login.html",
            status=401,
            next=target,
            error="login.failed",
            email=email,
            **_login_options(request),
        )
    await start_session(request, account)
    if account.verified:
        await sync_profile(request.app.state.backends, account)
    return redirect(target)


async def sync_profile(services, account: accounts.Account) -> None:
    """Give the exchange the name, address and contact it shows to a loan's counterparty
    once the loan is accepted (best effort: a service that is down is retried next time)."""
    await _quietly(
        services.request(
            "exchange",
            "PATCH",
            "/members/me",
            caller=Caller.of(account),
            json={
                "display_name": account.display_name,
                "address": account.address,
                "contact": account.email,
            },
        )
    )


@router.post("/logout")
async def logout(request: Request, form: Form):
    await end_session(request)
    return redirect("/")


@router.post("/lang")
async def choose_language(request: Request, form: Form, me: Viewer):
    lang = form.get("lang")
    if lang in LANGUAGES:
        request.session["lang"] = lang
        if me:
            async with runtime(request).db.transaction() as session:
                await accounts.set_language(session, account_id=me.id, language=lang)
    return redirect(safe_next(form.get("next")))


@router.get("/account")
async def account_page(request: Request, me: Viewer):
    if me is None:
        return redirect("/login?next=/account")
    return render(request, "account.html")


@router.post("/account/password")
async def change_password(request: Request, form: Form, me: Viewer):
    """A new password ends every session of the account (a thief's too); this browser
    gets a fresh one."""
    if me is None:
        return redirect("/login?next=/account")
    lang = language(request)
    try:
        async with runtime(request).db.transaction() as session:
            await accounts.change_password(
                session,
                account_id=me.id,
                current=form.get("current_password", ""),
                new=form.get("new_password", ""),
            )
            await sessions.revoke_all(session, account_id=me.id)
    except Invalid as exc:
        field = exc.extra["errors"][0]["field"].split(".")[-1]
        flash(request, translate(lang, f"password.error.{field}"), "error")
        return redirect("/account")
    await start_session(request, me)
    flash(request, translate(lang, "password.changed"), "success")
    return redirect("/account")


# --- OIDC (a city's Keycloak, FranceConnect…) -----------------------------------------------


@router.get("/auth/oidc/login")
async def oidc_login(request: Request, next: str = "/"):
    portal = request.app.state.portal_settings
    if not portal.oidc_enabled:
        return render(request, "error.html", status=404, message_key="oidc.disabled")
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    request.session["oidc"] = {"state": state, "nonce": nonce, "next": safe_next(next)}
    config = await oidc.discover(request.app.state.backends.client, portal.oidc_issuer)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": portal.oidc_client_id,
            "redirect_uri": portal.oidc_redirect_url or str(request.url_for("oidc_callback")),
            "scope": portal.oidc_scopes,
            "state": state,
            "nonce": nonce,
        }
    )
    return redirect(f"{config['authorization_endpoint']}?{query}")


@router.get("/auth/oidc/callback", name="oidc_callback")
async def oidc_callback(request: Request, code: str = "", state: str = ""):
    portal = request.app.state.portal_settings
    pending = request.session.pop("oidc", None)
    if (
        not portal.oidc_enabled
        or not pending
        or not secrets.compare_digest(state, pending["state"])
    ):
        return render(request, "error.html", status=400, message_key="oidc.failed")
    try:
        claims = await oidc.exchange_code(
            request.app.state.backends.client,
            portal,
            code=code,
            nonce=pending["nonce"],
            redirect_uri=portal.oidc_redirect_url or str(request.url_for("oidc_callback")),
        )
    except oidc.OidcError:
        return render(request, "error.html", status=400, message_key="oidc.failed")
    async with runtime(request).db.transaction() as session:
        account = await roles.provider_account(session, **oidc.account_fields(claims))
    await start_session(request, account)
    return redirect(pending["next"])
