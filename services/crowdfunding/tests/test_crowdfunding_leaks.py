# ruff: noqa: F811  (pytest fixtures imported from the lifecycle tests)
"""Regressions of issue 13: no match money, reward unit or card hold is left behind."""

import asyncio

from services.crowdfunding.pledges import Crowdfunding
from services.crowdfunding.tests.test_crowdfunding_lifecycle import (  # noqa: F401
    clock,
    launch,
    live_campaign,
    pledge,
    service,
    staff,
)
from services.crowdfunding.tests.test_crowdfunding_money import make_pool


async def attach(service, campaign, pool) -> None:
    r = await service.client.post(
        f"/campaigns/{campaign['id']}/match-pool",
        json={"pool_id": pool["id"]},
        headers=staff(service),
    )
    assert r.status_code == 200, r.text


async def test_failed_campaign_returns_the_match_and_reward_of_desk_pledges(service, clock):
    pool = await make_pool(service, budget_cents=100_00)
    campaign = await live_campaign(service, goal=5_000_00)
    await attach(service, campaign, pool)
    await launch(service, campaign, rewards=[{"title": "Mug", "min_cents": 10_00, "stock": 2}])
    [reward] = campaign["rewards"]
    desk = await service.client.post(
        f"/campaigns/{campaign['id']}/desk-pledges",
        json={
            "backer_id": "dan",
            "verified_resident": True,
            "amount_cents": 15_03,
            "method": "cash",
            "reward_id": reward,
        },
        headers=staff(service),
    )
    assert desk.status_code == 201 and desk.json()["matched_cents"] == 15_03, desk.text
    online = await pledge(service, campaign["id"], "ann", 20_00, reward_id=reward)
    assert online.json()["matched_cents"] == 20_00
    pool_view = (await service.client.get(f"/match-pools/{pool['id']}")).json()
    assert pool_view["reserved_cents"] == 35_03

    clock.advance(days=31)
    [result] = (await service.client.post("/settlement/run", headers=staff(service))).json()[
        "settled"
    ]
    assert result["outcome"] == "failed"
    pledges = (
        await service.client.get(f"/campaigns/{campaign['id']}/pledges", headers=staff(service))
    ).json()
    assert sorted((p["status"], p["match_status"]) for p in pledges) == [
        ("refunded", "returned"),
        ("voided", "returned"),
    ]
    pool_view = (await service.client.get(f"/match-pools/{pool['id']}")).json()
    assert pool_view["reserved_cents"] == 0 and pool_view["released_cents"] == 0
    shown = (await service.client.get(f"/campaigns/{campaign['id']}")).json()
    assert shown["rewards"][0]["remaining"] == 2


class PausedAuthorisations:
    """Holds the provider's authorise calls until released: a card answer in flight."""

    def __init__(self, provider, monkeypatch) -> None:
        self.real = provider.authorise
        self.calls: list[str] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        monkeypatch.setattr(provider, "authorise", self)

    async def __call__(self, **kw):
        self.calls.append(kw["reference"])
        self.started.set()
        await self.release.wait()
        return await self.real(**kw)


async def settle(service) -> list[dict]:
    r = await service.client.post("/settlement/run", headers=staff(service))
    assert r.status_code == 200, r.text
    return r.json()["settled"]


async def pledge_statuses(service, campaign) -> list[str]:
    r = await service.client.get(f"/campaigns/{campaign['id']}/pledges", headers=staff(service))
    return sorted(p["status"] for p in r.json())


async def test_pledge_in_flight_at_the_deadline_is_in_the_settlement(service, clock, monkeypatch):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    await pledge(service, campaign["id"], "ann", 60_00)
    provider = service.runtime.attached(Crowdfunding).provider
    paused = PausedAuthorisations(provider, monkeypatch)
    clock.advance(days=30, seconds=-1)
    last_minute = asyncio.create_task(pledge(service, campaign["id"], "bob", 40_00))
    await paused.started.wait()  # bob's pledge is committed; his card's answer is due
    clock.advance(seconds=2)
    assert await settle(service) == [], "the decision waits for bob's card"
    assert (await service.client.get(f"/campaigns/{campaign['id']}")).json()["state"] == "settling"
    late = await pledge(service, campaign["id"], "cat", 10_00)
    assert late.status_code == 409 and len(paused.calls) == 1, "refused before any card"
    paused.release.set()
    made = await last_minute
    assert made.status_code == 201 and made.json()["status"] == "active", made.text
    [result] = await settle(service)
    assert result["outcome"] == "succeeded" and result["raised_cents"] == 100_00
    assert await pledge_statuses(service, campaign) == ["captured", "captured"]
    assert await provider.open_holds() == []


async def test_pledge_unconfirmed_after_the_grace_is_voided_at_the_provider(service, clock):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    await pledge(service, campaign["id"], "ann", 150_00)
    waiting = await pledge(service, campaign["id"], "bob", 40_00, token="tok_requires_action")
    assert waiting.json()["status"] == "awaiting_action"
    provider = service.runtime.attached(Crowdfunding).provider
    assert {h.reference for h in await provider.open_holds()} == {waiting.json()["id"]} | {
        p["id"]
        for p in (
            await service.client.get(f"/campaigns/{campaign['id']}/pledges", headers=staff(service))
        ).json()
    }
    clock.advance(days=30, minutes=1)
    assert await settle(service) == [], "within the grace, bob may still authenticate"
    clock.advance(hours=1)
    [result] = await settle(service)
    assert result["outcome"] == "succeeded" and result["raised_cents"] == 150_00
    assert await pledge_statuses(service, campaign) == ["captured", "voided"]
    assert await provider.open_holds() == [], "bob's hold was cancelled at the provider"


async def test_card_answer_after_settlement_cancels_its_own_hold(service, clock, monkeypatch):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    await pledge(service, campaign["id"], "ann", 150_00)
    provider = service.runtime.attached(Crowdfunding).provider
    paused = PausedAuthorisations(provider, monkeypatch)
    clock.advance(days=30, seconds=-1)
    stuck = asyncio.create_task(pledge(service, campaign["id"], "bob", 40_00))
    await paused.started.wait()
    clock.advance(hours=2)  # past the grace: settlement goes on without bob
    [result] = await settle(service)
    assert result["outcome"] == "succeeded" and result["raised_cents"] == 150_00
    paused.release.set()
    answer = await stuck
    assert answer.status_code == 409, "bob is told his pledge was not taken"
    assert await pledge_statuses(service, campaign) == ["captured", "voided"]
    assert await provider.open_holds() == []


async def test_fifty_pledges_racing_the_deadline_leave_no_hold_open(service, clock, monkeypatch):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    provider = service.runtime.attached(Crowdfunding).provider
    real = provider.authorise
    calls = 0
    passed = asyncio.Event()

    async def authorise(**kw):
        nonlocal calls
        calls += 1
        if calls == 10:
            clock.advance(seconds=10)  # the deadline passes while cards are being asked
            passed.set()
        await asyncio.sleep(0)
        return await real(**kw)

    async def after_the_deadline(coro):
        await passed.wait()
        return await coro

    monkeypatch.setattr(provider, "authorise", authorise)
    clock.advance(days=30, seconds=-5)
    answers = await asyncio.gather(
        *(pledge(service, campaign["id"], f"early{i}", 10_00) for i in range(25)),
        *(
            after_the_deadline(pledge(service, campaign["id"], f"late{i}", 10_00))
            for i in range(25)
        ),
        *(after_the_deadline(settle(service)) for _ in range(5)),
    )
    for _ in range(5):  # a pass may have found the decision waiting for in-flight cards
        if (await service.client.get(f"/campaigns/{campaign['id']}")).json()["state"] in (
            "succeeded",
            "failed",
        ):
            break
        await settle(service)
    early, late = answers[:25], answers[25:50]
    assert [a.status_code for a in early] == [201] * 25
    assert all(a.json()["status"] == "active" for a in early), "no 201 for a voided pledge"
    assert [a.status_code for a in late] == [409] * 25
    assert calls == 25, "the late pledges were refused before any card was touched"
    assert await pledge_statuses(service, campaign) == ["captured"] * 25
    assert await provider.open_holds() == []
    view = (await service.client.get(f"/campaigns/{campaign['id']}")).json()
    assert view["state"] == "succeeded" and view["raised_cents"] == 25 * 10_00


async def test_a_token_that_is_no_card_is_declined_and_never_captured(service, clock):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    made = await pledge(service, campaign["id"], "ann", 4_994_00, token="not-a-card")
    assert made.status_code == 201
    assert (made.json()["status"], made.json()["failure"]) == ("declined", "not a card")
    clock.advance(days=31)
    [result] = await settle(service)
    assert result["outcome"] == "failed", "a declined pledge does not count toward the goal"
    assert await service.runtime.attached(Crowdfunding).provider.open_holds() == []


async def test_a_pledge_never_authorised_publishes_no_event(service, clock, nats_server):
    from services.crowdfunding.tests.test_crowdfunding_money import stream_types

    campaign = await launch(service, await live_campaign(service, goal=100_00))
    waiting = await pledge(service, campaign["id"], "ann", 40_00, token="tok_requires_action")
    assert waiting.json()["status"] == "awaiting_action"
    r = await service.client.post(
        f"/pledges/{waiting.json()['id']}/cancel", headers=service.auth("ann")
    )
    assert r.json()["status"] == "cancelled"
    await service.flush_outbox()
    types = await stream_types(nats_server.url)
    assert not [t for t in types if t.startswith("crowdfunding.pledge.")], types
