"""A settler that is slow but alive keeps its campaign: the lease is renewed while it works.

The lease is short (20 s by default) so that a dead settler's campaign is resumed within
seconds; renewal is what keeps a second replica away from a live settler's campaign.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from libs.common.clock import clock as platform_clock
from services.crowdfunding import settlement
from services.crowdfunding.app import create_app
from services.crowdfunding.pledges import Crowdfunding
from services.crowdfunding.tests.test_crowdfunding_lifecycle import (
    Clock,
    launch,
    live_campaign,
    pledge,
)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(platform_clock, "now", clock)
    return clock


async def test_a_slow_settler_keeps_its_campaign_while_others_poll(
    service_factory, clock, monkeypatch
):
    service = await service_factory("crowdfunding", create_app)
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    for backer in ("ann", "bob"):
        assert (await pledge(service, campaign["id"], backer, 60_00)).status_code == 201
    clock.advance(days=30, seconds=1)
    # From here time runs for real, from the clock's instant, so leases can expire.
    base, started = clock.at, datetime.now(UTC)
    monkeypatch.setattr(platform_clock, "now", lambda: base + (datetime.now(UTC) - started))

    cf = service.runtime.attached(Crowdfunding)
    monkeypatch.setattr(cf.settings, "settlement_lease_seconds", 2.0)
    capture = cf.provider.capture
    captures = []

    async def slow_capture(**kwargs):
        captures.append(kwargs["payment"].payment_id)
        await asyncio.sleep(2.5)  # each pledge outlives the lease (a loaded CI has slack)
        return await capture(**kwargs)

    monkeypatch.setattr(cf.provider, "capture", slow_capture)
    settler = asyncio.create_task(settlement.settle_campaign(cf, campaign_id=campaign["id"]))
    # The second replica starts polling once the settler holds the campaign (its first
    # capture is under way); before that, whoever claims first would simply be the settler.
    while not captures and not settler.done():
        await asyncio.sleep(0.02)
    others = []
    while not settler.done():
        others.extend(await settlement.settle_due(cf))  # a second replica's passes
        await asyncio.sleep(0.1)
    outcome = await settler
    assert outcome["outcome"] == "succeeded"
    assert others == []
    # Nobody else resumed the campaign meanwhile: each pledge was captured by one worker.
    assert len(captures) == len(set(captures)) == 2
    assert await settlement.settle_due(cf) == []
