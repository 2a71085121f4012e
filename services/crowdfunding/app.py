"""Wiring of the crowdfunding service: its routes, its event consumers, its background loop.

The background loop (off when SHARITORIES_ENV=test) delivers the sandbox provider's
webhooks and settles campaigns whose deadline has passed. Settlement is exactly-once by
construction, so any number of replicas may run the loop; `POST /settlement/run` (staff)
and `python -m services.crowdfunding.app settle` do the same pass on demand (cron).
"""

from __future__ import annotations

import asyncio
import sys

from fastapi import FastAPI

from libs.common.logs import get_logger
from libs.common.runtime import ServiceRuntime
from libs.common.settings import Settings
from libs.common.web import create_service_app
from services.crowdfunding import pledges, settlement
from services.crowdfunding.api import router
from services.crowdfunding.config import CrowdfundingSettings
from services.crowdfunding.funding_api import router as funding_router
from services.crowdfunding.handlers import RESULTS_SUBJECT, results_handler
from services.crowdfunding.payments import PaymentProvider, SandboxProvider
from services.crowdfunding.pledges import Crowdfunding

NAME = "crowdfunding"
log = get_logger(__name__)


def build(runtime: ServiceRuntime, settings: CrowdfundingSettings | None = None) -> Crowdfunding:
    settings = settings or CrowdfundingSettings()
    return Crowdfunding(
        runtime=runtime, provider=payment_provider(runtime, settings), settings=settings
    )


def payment_provider(runtime: ServiceRuntime, settings: CrowdfundingSettings) -> PaymentProvider:
    """CROWDFUNDING_PAYMENT_PROVIDER picks the provider (the production check refusing the
    sandbox, or Stripe without its secrets, lives in libs.common)."""
    if settings.payment_provider == "stripe":
        from services.crowdfunding.stripe_provider import StripeProvider

        if not (settings.stripe_secret_key and settings.stripe_webhook_secret):
            raise RuntimeError(
                "CROWDFUNDING_PAYMENT_PROVIDER=stripe needs STRIPE_SECRET_KEY and "
                "STRIPE_WEBHOOK_SECRET"
            )

        return StripeProvider(
            secret_key=settings.stripe_secret_key,
            webhook_secret=settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base,
            return_url=settings.stripe_return_url,
        )
    return SandboxProvider(runtime.db, settings.webhook_secret)


def wire(runtime: ServiceRuntime) -> None:
    """Register this service's event consumers and its background loop."""
    cf = build(runtime)
    runtime.attach(cf)
    runtime.consume(RESULTS_SUBJECT, results_handler(runtime))
    if runtime.settings.env == "test" or cf.settings.settlement_interval <= 0:
        return
    runtime.add_task("background", lambda: background(cf))


async def background(cf: Crowdfunding) -> None:
    """Deliver sandbox webhooks often, settle due campaigns every settlement_interval."""
    loop = asyncio.get_running_loop()
    next_settlement = loop.time() + 1.0
    step = max(0.2, min(cf.settings.sandbox_delivery_interval, cf.settings.settlement_interval))
    while True:
        await asyncio.sleep(step)
        try:
            if isinstance(cf.provider, SandboxProvider):
                await cf.provider.dispatch_webhooks(
                    lambda body, headers: pledges.handle_webhook(cf, body=body, headers=headers)
                )
            if loop.time() >= next_settlement:
                next_settlement = loop.time() + cf.settings.settlement_interval
                await settlement.settle_due(cf)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("crowdfunding background pass failed")


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        NAME,
        routers=[router, funding_router],
        settings=settings,
        wire=wire,
        title="Sharitories crowdfunding",
    )


async def settle_once(settings: Settings | None = None) -> list[dict]:
    """One settlement pass outside the web app (for cron): `python -m … settle`."""
    from libs.common.settings import get_settings

    runtime = ServiceRuntime(NAME, settings or get_settings())
    cf = build(runtime)
    try:
        return await settlement.settle_due(cf)
    finally:
        await runtime.db.dispose()


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["settle"]:
        print(asyncio.run(settle_once()))
    else:
        print("usage: python -m services.crowdfunding.app settle")
