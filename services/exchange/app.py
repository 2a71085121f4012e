"""Wiring of the exchange service: its routes and its event consumers."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from libs.common.clock import clock
from libs.common.logs import get_logger
from libs.common.runtime import ServiceRuntime
from libs.common.settings import Settings
from libs.common.web import create_service_app
from services.exchange import api, api_carpools, api_credits, api_feedback, api_history, loans

log = get_logger(__name__)

NAME = "exchange"


SWEEP_EVERY_SECONDS = 3600


def wire(runtime: ServiceRuntime) -> None:
    """The exchange consumes no events; it marks overdue loans every hour."""
    if runtime.settings.env != "test":
        runtime.add_task("overdue-sweep", lambda: sweep_every_hour(runtime))


async def sweep_every_hour(runtime: ServiceRuntime) -> None:
    while True:
        try:
            await loans.sweep_overdue(runtime, actor=loans.SWEEPER, today=clock.today())
        except Exception:
            log.exception("overdue sweep failed; will try again")
        await asyncio.sleep(SWEEP_EVERY_SECONDS)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        NAME,
        routers=[
            api.router,
            api_credits.router,
            api_feedback.router,
            api_carpools.router,
            api_history.router,
        ],
        settings=settings,
        wire=wire,
        title="Sharitories exchange",
    )
