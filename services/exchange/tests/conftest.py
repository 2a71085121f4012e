"""Fixtures of the exchange tests: a started exchange service whose today is frozen."""

from __future__ import annotations

import pytest

from libs.common.clock import today
from services.exchange.app import create_app
from services.exchange.testkit import TODAY


@pytest.fixture
async def exchange(service_factory):
    service = await service_factory("exchange", create_app)
    service.app.dependency_overrides[today] = lambda: TODAY
    return service
