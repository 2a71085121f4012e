"""`impact rebuild` replays the archive: it still sees every event once the working
stream has been trimmed (retention by age or size)."""

from __future__ import annotations

import asyncio

import nats
import pytest

from libs.common.broker import ARCHIVE_STREAM
from libs.common.events import STREAM
from services.impact.config import get_impact_settings
from services.impact.handlers import LIVE
from services.impact.rebuild import differences, drop, rebuild
from services.impact.tests.test_impact_service import publish, until_applied
from tests.impact_scenario import hand_computed_scenario


@pytest.fixture
async def impact(service_factory, monkeypatch):
    from services.impact.app import create_app

    monkeypatch.setenv("IMPACT_MIN_CELL", "1")
    get_impact_settings.cache_clear()
    yield await service_factory("impact", create_app)
    get_impact_settings.cache_clear()


async def test_rebuild_after_the_working_stream_was_trimmed_equals_live(impact, nats_server):
    events = hand_computed_scenario()
    for envelope in events:
        await publish(impact, envelope)
    await until_applied(impact, len(events))

    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        async with asyncio.timeout(10):  # the archive copies within milliseconds
            while (await js.stream_info(ARCHIVE_STREAM)).state.messages < len(events):
                await asyncio.sleep(0.05)
        await js.purge_stream(STREAM)  # what max_age / max_bytes do to old events
        assert (await js.stream_info(STREAM)).state.messages == 0
    finally:
        await nc.close()

    result = await rebuild(impact.runtime.db, nats_server.url)
    assert result.events == len(events)
    async with impact.runtime.db.transaction() as session:
        assert await differences(session, result.projection, LIVE) == {}
    await drop(impact.runtime.db, result.projection)
