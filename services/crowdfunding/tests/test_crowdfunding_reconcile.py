# ruff: noqa: F811  (pytest fixtures imported from the lifecycle tests)
"""`sharitories crowdfunding reconcile`: orphan holds are found, and voided with --apply."""

import asyncio
import json

import pytest
from typer.testing import CliRunner

from libs.common import settings as common_settings
from services.crowdfunding.pledges import Crowdfunding
from services.crowdfunding.tests.test_crowdfunding_lifecycle import (  # noqa: F401
    clock,
    launch,
    live_campaign,
    pledge,
    service,
    staff,
)
from sharitories.cli import app

runner = CliRunner()


async def cli(service, monkeypatch, *args):
    monkeypatch.setattr(common_settings, "get_settings", lambda: service.settings)
    result = await asyncio.to_thread(runner.invoke, app, ["crowdfunding", "reconcile", *args])
    assert result.exit_code == 0, result.output
    *lines, summary = result.output.strip().splitlines()
    return json.loads("\n".join(lines)), summary


async def test_reconcile_finds_and_voids_the_hold_of_a_pledge_whose_process_died(
    service, clock, monkeypatch
):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    await pledge(service, campaign["id"], "ann", 150_00)
    provider = service.runtime.attached(Crowdfunding).provider
    real = provider.authorise

    async def dies_after_the_bank_answered(**kw):
        await real(**kw)
        raise RuntimeError("the worker died before recording the answer")

    monkeypatch.setattr(provider, "authorise", dies_after_the_bank_answered)
    with pytest.raises(RuntimeError, match="worker died"):
        await pledge(service, campaign["id"], "bob", 40_00)
    monkeypatch.setattr(provider, "authorise", real)
    clock.advance(days=31)  # past the grace: settlement goes on without bob's answer
    [result] = (await service.client.post("/settlement/run", headers=staff(service))).json()[
        "settled"
    ]
    assert result["raised_cents"] == 150_00
    [orphan] = await provider.open_holds()

    findings, summary = await cli(service, monkeypatch)
    assert [(f["problem"], f["reference"], f["pledge_status"], f["action"]) for f in findings] == [
        ("orphan-hold", orphan.reference, "voided", "would-void")
    ]
    assert "dry run" in summary
    assert await provider.open_holds() == [orphan], "a dry run changes nothing"

    findings, summary = await cli(service, monkeypatch, "--apply")
    assert [f["action"] for f in findings] == ["voided"]
    assert await provider.open_holds() == []
    findings, _ = await cli(service, monkeypatch)
    assert findings == [], "reconciled: nothing left to report"


async def test_reconcile_leaves_live_pledges_alone(service, clock, monkeypatch):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    await pledge(service, campaign["id"], "ann", 50_00)
    await pledge(service, campaign["id"], "bob", 50_00, token="tok_3ds")  # hold, not confirmed
    findings, summary = await cli(service, monkeypatch, "--apply")
    assert findings == [] and summary.startswith("0 orphan")
    assert len(await service.runtime.attached(Crowdfunding).provider.open_holds()) == 2


async def test_settle_command_settles_due_campaigns_once(service, clock, monkeypatch):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    await pledge(service, campaign["id"], "ann", 150_00)
    clock.advance(days=31)
    monkeypatch.setattr(common_settings, "get_settings", lambda: service.settings)
    first = await asyncio.to_thread(runner.invoke, app, ["crowdfunding", "settle"])
    assert first.exit_code == 0, first.output
    [result] = json.loads(first.output)
    assert (result["campaign_id"], result["outcome"]) == (campaign["id"], "succeeded")
    again = await asyncio.to_thread(runner.invoke, app, ["crowdfunding", "settle"])
    assert json.loads(again.output) == []
