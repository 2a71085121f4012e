"""Wiring of the impact service: its routes and its event consumers."""

from __future__ import annotations

from fastapi import FastAPI

from libs.common.runtime import ServiceRuntime
from libs.common.settings import Settings
from libs.common.web import create_service_app
from services.impact.api import router
from services.impact.handlers import apply, flush

NAME = "impact"
CONSUMER = "impact"
# Events per consumer transaction: the per-batch costs (inbox claim, one executemany per
# table, the commit) are shared by more events; still well under max_ack_pending.
BATCH_SIZE = 1000


def wire(runtime: ServiceRuntime) -> None:
    """The impact service listens to every event of the platform."""
    runtime.consume("sharitories.>", apply, flush=flush, consumer=CONSUMER, batch_size=BATCH_SIZE)


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        NAME, routers=[router], settings=settings, wire=wire, title="Sharitories impact"
    )
