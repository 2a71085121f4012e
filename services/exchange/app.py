"""Wiring of the exchange service: its routes and its event consumers."""

from __future__ import annotations

from fastapi import FastAPI

from libs.common.runtime import ServiceRuntime
from libs.common.settings import Settings
from libs.common.web import create_service_app
from services.exchange import api, api_credits, api_feedback

NAME = "exchange"


def wire(runtime: ServiceRuntime) -> None:
    """Register this service's event consumers."""


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        NAME,
        routers=[api.router, api_credits.router, api_feedback.router],
        settings=settings,
        wire=wire,
        title="Sharitories exchange",
    )
