"""Fixtures of the portal tests: a started portal whose service calls go to a fake."""

from __future__ import annotations

import httpx
import pytest

from services.portal.app import create_app
from services.portal.backends import Backends
from services.portal.config import PortalSettings
from services.portal.testkit import FakeServices


@pytest.fixture
async def portal(service_factory):
    service = await service_factory("portal", create_app)
    fake = FakeServices()
    portal_settings = PortalSettings(
        exchange_url="http://exchange.test",
        crowdfunding_url="http://crowdfunding.test",
        budget_url="http://budget.test",
        impact_url="http://impact.test",
    )
    await service.app.state.backends.close()
    service.app.state.backends = Backends(
        service.settings, portal_settings, transport=httpx.MockTransport(fake.handle)
    )
    service.fake = fake
    yield service
    await service.app.state.backends.close()
