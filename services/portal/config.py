"""Settings of the portal (environment variables, documented in services/portal/README.md).

- `PORTAL_EXCHANGE_URL`, `PORTAL_CROWDFUNDING_URL`, `PORTAL_BUDGET_URL`, `PORTAL_IMPACT_URL`:
  base URLs of the services (default http://127.0.0.1:<port + SHARITORIES_PORT_OFFSET>).
- `PORTAL_SESSION_SECRET`: key that signs the session cookie (set it in production).
- `PORTAL_SESSION_HOURS` (8), `PORTAL_SESSION_IDLE_MINUTES` (30), `PORTAL_SECURE_COOKIES`
  (false in dev, forced in production).
- `PORTAL_TOKEN_MINUTES` (5): lifetime of the JWTs the portal mints per service call.
- `PORTAL_BOOTSTRAP_STAFF`: "email:password" of a staff account created at start-up if
  absent (first deployment, demo).
- `PORTAL_OIDC_ISSUER`, `PORTAL_OIDC_CLIENT_ID`, `PORTAL_OIDC_CLIENT_SECRET`,
  `PORTAL_OIDC_REDIRECT_URL`, `PORTAL_OIDC_ONLY`: log in with a city's identity provider
  (Keycloak, FranceConnect…) instead of, or beside, local passwords.
- `CROWDFUNDING_PAYMENT_PROVIDER` (sandbox): the crowdfunding service's provider, read here
  too: with the sandbox in production (an explicit opt-in, see README), every page says
  that no real money moves; the pledge form offers the provider's test cards.
- `STRIPE_PUBLISHABLE_KEY` (unset): with the `stripe` provider, the card is typed into
  Stripe's Payment Element on the portal's card page (the number never reaches us); unset,
  the pledge form offers Stripe's test cards (dev). Production requires it.
- `CROWDFUNDING_STRIPE_RETURN_URL` (http://localhost:8000/my-pledges): where Stripe.js
  sends the backer after the card page (and 3-D Secure); the same setting as the service's.
- `PORTAL_ACCESSIBILITY_CONTACT`, `PORTAL_ACCESSIBILITY_STATEMENT_DATE`: who the
  accessibility statement (/accessibilite) tells people to write to, and its date.
- `PORTAL_COMMENT_EDIT_MINUTES` (15): how long the author may edit or withdraw a comment.
- `PORTAL_COMMENTS_PER_WINDOW` (5) per `PORTAL_COMMENT_WINDOW_MINUTES` (10): comments and
  replies an account may post; beyond, 429 with Retry-After.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from libs.common.settings import Settings
from services.portal.sessions import Lifetime

BACKENDS: tuple[str, ...] = ("exchange", "crowdfunding", "budget", "impact")


class PortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    exchange_url: str | None = Field(None, alias="PORTAL_EXCHANGE_URL")
    crowdfunding_url: str | None = Field(None, alias="PORTAL_CROWDFUNDING_URL")
    budget_url: str | None = Field(None, alias="PORTAL_BUDGET_URL")
    impact_url: str | None = Field(None, alias="PORTAL_IMPACT_URL")

    session_secret: str = Field(
        "sharitories-portal-dev-session-secret-change-me", alias="PORTAL_SESSION_SECRET"
    )
    # Absolute lifetime of a session (from the log-in), then idle lifetime (since the last
    # request): whichever ends first ends the session.
    session_hours: int = Field(8, alias="PORTAL_SESSION_HOURS", ge=1, le=24 * 30)
    session_idle_minutes: int = Field(30, alias="PORTAL_SESSION_IDLE_MINUTES", ge=1, le=24 * 60)
    # Always on in production (SHARITORIES_ENV=production), whatever this says.
    secure_cookies: bool = Field(False, alias="PORTAL_SECURE_COOKIES")
    token_minutes: int = Field(5, alias="PORTAL_TOKEN_MINUTES", ge=1, le=60)
    service_timeout: float = Field(10.0, alias="PORTAL_SERVICE_TIMEOUT")
    bootstrap_staff: str | None = Field(None, alias="PORTAL_BOOTSTRAP_STAFF")

    oidc_issuer: str | None = Field(None, alias="PORTAL_OIDC_ISSUER")
    oidc_client_id: str | None = Field(None, alias="PORTAL_OIDC_CLIENT_ID")
    oidc_client_secret: str | None = Field(None, alias="PORTAL_OIDC_CLIENT_SECRET")
    oidc_redirect_url: str | None = Field(None, alias="PORTAL_OIDC_REDIRECT_URL")
    oidc_scopes: str = Field("openid email profile", alias="PORTAL_OIDC_SCOPES")
    # True: local passwords are switched off, every log-in goes through the provider.
    oidc_only: bool = Field(False, alias="PORTAL_OIDC_ONLY")
    payment_provider: str = Field("sandbox", alias="CROWDFUNDING_PAYMENT_PROVIDER")
    # Publishable: it is meant for browsers (it can only create card tokens, never charge).
    stripe_publishable_key: str | None = Field(None, alias="STRIPE_PUBLISHABLE_KEY")
    stripe_return_url: str = Field(
        "http://localhost:8000/my-pledges", alias="CROWDFUNDING_STRIPE_RETURN_URL"
    )
    # The accessibility statement (RGAA) names who to write to and when it was last made.
    accessibility_contact: str = Field(
        "accessibilite@valmont.example", alias="PORTAL_ACCESSIBILITY_CONTACT"
    )
    accessibility_statement_date: date = Field(
        date(2026, 11, 27), alias="PORTAL_ACCESSIBILITY_STATEMENT_DATE"
    )

    comment_edit_minutes: int = Field(15, alias="PORTAL_COMMENT_EDIT_MINUTES", ge=1, le=24 * 60)
    comments_per_window: int = Field(5, alias="PORTAL_COMMENTS_PER_WINDOW", ge=1, le=1000)
    # At most an hour: the throttle table forgets keys an hour after their last change.
    comment_window_minutes: int = Field(10, alias="PORTAL_COMMENT_WINDOW_MINUTES", ge=1, le=60)

    @property
    def card_form_in_browser(self) -> bool:
        """Stripe with a publishable key: the card goes into Stripe's own form (Elements)."""
        return self.payment_provider == "stripe" and bool(self.stripe_publishable_key)

    @property
    def session_lifetime(self) -> Lifetime:
        return Lifetime(
            idle=timedelta(minutes=self.session_idle_minutes),
            absolute=timedelta(hours=self.session_hours),
        )

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    def base_url(self, service: str, settings: Settings) -> str:
        """The base URL of a backend service, configured or derived from its port."""
        explicit = getattr(self, f"{service}_url")
        if explicit:
            return explicit.rstrip("/")
        host = settings.host if settings.host not in ("0.0.0.0", "::") else "127.0.0.1"
        return f"http://{host}:{settings.port_for(service)}"


@lru_cache
def get_portal_settings() -> PortalSettings:
    return PortalSettings()
