"""What production refuses: secrets left unset, published, or too short; half-configured
identity providers; a payment sandbox nobody opted into.

`production_problems(env)` is pure: it reads a mapping of environment variables and returns
one line per problem, each naming its variable. `refuse_unsafe_production()` is what every
entry point calls (each service app, the portal, `sharitories up`): with
SHARITORIES_ENV=production and any problem, it prints the lines to stderr and exits
non-zero before anything listens.

The secrets checked are those the process uses: JWT_SECRET and METRICS_TOKEN everywhere,
PORTAL_SESSION_SECRET in the portal, CROWDFUNDING_WEBHOOK_SECRET (and the payment
provider's settings) in crowdfunding, BUDGET_BALLOT_SECRET in budget; `sharitories up`
runs them all, so it checks them all.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

MIN_SECRET_BYTES = 32
EXIT_UNSAFE = 78  # EX_CONFIG (sysexits.h): a configuration error

# Secrets every process needs, then those only one service (or the portal) uses.
COMMON_SECRETS: tuple[str, ...] = ("JWT_SECRET", "METRICS_TOKEN")
SERVICE_SECRETS: dict[str, tuple[str, ...]] = {
    "portal": ("PORTAL_SESSION_SECRET",),
    "crowdfunding": ("CROWDFUNDING_WEBHOOK_SECRET",),
    "budget": ("BUDGET_BALLOT_SECRET",),
}
ALL = ("portal", "exchange", "crowdfunding", "budget", "impact")

# The defaults written in this repository's code and docs: anyone can read them, so they
# sign nothing in production. A test keeps this list in step with the code's defaults.
PUBLISHED_DEFAULTS: frozenset[str] = frozenset(
    {
        "sharitories-dev-secret-change-me-0123456789",  # JWT_SECRET
        "sharitories-portal-dev-session-secret-change-me",  # PORTAL_SESSION_SECRET
        "sandbox-webhook-secret-change-me",  # CROWDFUNDING_WEBHOOK_SECRET
        "sharitories-dev-ballot-secret-change-me-0123456789",  # BUDGET_BALLOT_SECRET
    }
)
# Any value carrying one of these markers is a placeholder someone forgot to replace.
PLACEHOLDER_MARKERS: tuple[str, ...] = ("change-me", "changeme", "change_me")
TRUE = frozenset({"1", "true", "yes", "on"})


def production_problems(env: Mapping[str, str], *, services: Iterable[str] = ALL) -> list[str]:
    """Every reason `env` is unsafe for production, one line each (empty: safe)."""
    services = tuple(services)
    secrets = list(COMMON_SECRETS)
    for service in services:
        secrets.extend(SERVICE_SECRETS.get(service, ()))
    problems = [p for name in secrets if (p := _secret_problem(name, env.get(name)))]
    if _set(env, "JWT_JWKS_URL"):
        for name in ("JWT_ISSUER", "JWT_AUDIENCE"):
            if not _set(env, name):
                problems.append(
                    f"{name} is unset: with JWT_JWKS_URL, set it to what your identity "
                    "provider puts in its tokens (every token is checked against it)"
                )
    if "crowdfunding" in services:
        problems.extend(_payment_problems(env))
    if "portal" in services:
        problems.extend(_card_form_problems(env))
    return problems


def _set(env: Mapping[str, str], name: str) -> bool:
    return bool((env.get(name) or "").strip())


def _secret_problem(name: str, value: str | None) -> str | None:
    if not value:
        return f"{name} is unset: set a random secret of at least {MIN_SECRET_BYTES} bytes"
    lowered = value.lower()
    if value in PUBLISHED_DEFAULTS or any(m in lowered for m in PLACEHOLDER_MARKERS):
        return f"{name} is a published default: set your own random secret"
    if len(value.encode()) < MIN_SECRET_BYTES:
        return f"{name} is shorter than {MIN_SECRET_BYTES} bytes: set a longer random secret"
    return None


def _payment_problems(env: Mapping[str, str]) -> list[str]:
    provider = (env.get("CROWDFUNDING_PAYMENT_PROVIDER") or "sandbox").strip().lower()
    if provider == "sandbox":
        opted_in = (env.get("CROWDFUNDING_SANDBOX_IN_PRODUCTION") or "").strip().lower() in TRUE
        if opted_in:
            return []
        return [
            "CROWDFUNDING_PAYMENT_PROVIDER is the sandbox (no real money moves): set it to "
            "stripe, or set CROWDFUNDING_SANDBOX_IN_PRODUCTION=true to run the sandbox knowingly"
        ]
    if provider == "stripe":
        return [
            f"{name} is unset: CROWDFUNDING_PAYMENT_PROVIDER=stripe needs it"
            for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")
            if not _set(env, name)
        ]
    return [f"CROWDFUNDING_PAYMENT_PROVIDER is {provider!r}: use stripe or sandbox"]


def _card_form_problems(env: Mapping[str, str]) -> list[str]:
    """The portal with Stripe: its card form needs the publishable key, and only that key
    (the page hands it to every browser)."""
    provider = (env.get("CROWDFUNDING_PAYMENT_PROVIDER") or "sandbox").strip().lower()
    if provider != "stripe":
        return []
    key = (env.get("STRIPE_PUBLISHABLE_KEY") or "").strip()
    if not key:
        return [
            "STRIPE_PUBLISHABLE_KEY is unset: CROWDFUNDING_PAYMENT_PROVIDER=stripe needs it "
            "for the portal's card form (without it no real card can be typed)"
        ]
    if key.startswith(("sk_", "rk_")):
        return [
            "STRIPE_PUBLISHABLE_KEY holds a secret or restricted key: the portal sends it to "
            "every browser; set the publishable key (pk_…)"
        ]
    return []


def environment(dotenv: Path | None = Path(".env")) -> dict[str, str]:
    """The variables the settings read: the process environment over the `.env` file."""
    values: dict[str, str] = {}
    if dotenv is not None and dotenv.is_file():
        from dotenv import dotenv_values

        values.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    values.update(os.environ)
    return values


def refuse_unsafe_production(
    *, services: Iterable[str] = ALL, env: Mapping[str, str] | None = None
) -> None:
    """Exit (status 78) with one line per problem on stderr; return when there is none.

    Callers call it when their settings say production (SHARITORIES_ENV=production)."""
    env = environment() if env is None else env
    problems = production_problems(env, services=services)
    if not problems:
        return
    for problem in problems:
        print(f"refusing to start in production: {problem}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_UNSAFE)
