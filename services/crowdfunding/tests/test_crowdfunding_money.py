# ruff: noqa: F811  (pytest fixtures imported from the lifecycle tests)
"""Webhooks, concurrency, matchfunding, PB leftovers, resumable settlement, JetStream."""

import asyncio

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from libs.common.contracts.budget import EnvelopeResult, ResultProject, ResultsPublished
from libs.common.events import STREAM, Envelope, Territory, make_event
from services.crowdfunding.payments import sign
from services.crowdfunding.pledges import Crowdfunding
from services.crowdfunding.tests.test_crowdfunding_lifecycle import (  # noqa: F401
    clock,
    launch,
    live_campaign,
    pledge,
    service,
    staff,
)

PROBLEM = "application/problem+json"


async def stream_types(url: str) -> list[str]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        total = (await js.stream_info(STREAM)).state.messages
        sub = await js.pull_subscribe(
            "sharitories.>", stream=STREAM, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        )
        types: list[str] = []
        while len(types) < total:
            for msg in await sub.fetch(total - len(types), timeout=5):
                types.append(Envelope.model_validate_json(msg.data).type)
                await msg.ack()
        return types
    finally:
        await nc.close()


async def hooks(service, **params) -> list[dict]:
    r = await service.client.get("/sandbox/webhooks", params=params, headers=staff(service))
    return r.json()


async def post_hook(service, hook, body=None):
    return await service.client.post(
        "/payments/webhooks/sandbox",
        content=(body or hook["body"]).encode(),
        headers=hook["headers"],
    )


async def test_authorisation_confirmed_by_webhook_and_duplicates_change_nothing(service, clock):
    campaign = await launch(service, await live_campaign(service))
    made = await pledge(service, campaign["id"], "ann", 50_00, token="tok_3ds")
    assert made.json()["status"] == "pending"
    [hook] = await hooks(service)
    forged = dict(hook, headers={"sharitories-signature": sign(b"x", "wrong-secret")})
    r = await post_hook(service, forged)
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM
    assert (await post_hook(service, hook)).json()["status"] == "applied"
    assert (await post_hook(service, hook)).json()["status"] == "duplicate"
    view = await service.client.get(f"/pledges/{made.json()['id']}", headers=service.auth("ann"))
    assert view.json()["status"] == "active"


async def test_out_of_order_webhooks_change_nothing(service, clock):
    campaign = await launch(service, await live_campaign(service))
    made = (await pledge(service, campaign["id"], "ann", 50_00, token="tok_3ds")).json()
    # The backer cancels before the provider's "authorised" news has arrived.
    r = await service.client.post(f"/pledges/{made['id']}/cancel", headers=service.auth("ann"))
    assert r.json()["status"] == "cancelled"
    authorised, voided = await hooks(service)
    assert '"payment.voided"' in voided["body"]
    assert (await post_hook(service, voided)).status_code == 200
    assert (await post_hook(service, authorised)).json()["status"] == "no-change"
    view = await service.client.get(f"/pledges/{made['id']}", headers=service.auth("ann"))
    assert view.json()["status"] == "cancelled"
    # A declined card: the stale "failed" after a newer state is ignored too.
    declined = (await pledge(service, campaign["id"], "bob", 50_00, token="tok_decline")).json()
    assert declined["status"] == "pending"
    dispatched = await service.client.post("/sandbox/webhooks/dispatch", headers=staff(service))
    assert dispatched.json()["delivered"] >= 1
    view = await service.client.get(f"/pledges/{declined['id']}", headers=service.auth("bob"))
    assert view.json()["status"] == "declined"


async def test_provider_outage_takes_nothing(service, clock):
    campaign = await launch(service, await live_campaign(service))
    r = await pledge(service, campaign["id"], "ann", 50_00, token="tok_unavailable")
    assert r.status_code == 503 and r.headers["content-type"] == PROBLEM


async def test_last_reward_unit_is_sold_once_under_50_concurrent_pledges(service, clock):
    campaign = await launch(
        service,
        await live_campaign(service),
        rewards=[{"title": "Last seat", "min_cents": 10_00, "stock": 1}],
    )
    [reward] = campaign["rewards"]
    results = await asyncio.gather(
        *(pledge(service, campaign["id"], f"b{i}", 10_00, reward_id=reward) for i in range(50))
    )
    codes = sorted(r.status_code for r in results)
    assert codes.count(201) == 1 and codes.count(409) == 49, codes
    view = (await service.client.get(f"/campaigns/{campaign['id']}")).json()
    assert view["rewards"][0]["remaining"] == 0


async def make_pool(service, **body) -> dict:
    r = await service.client.post(
        "/match-pools",
        json={"name": "City match", "budget_cents": 1_000_00, "match_factor": "1", **body},
        headers=staff(service),
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_nearly_empty_pool_is_never_overdrawn_by_50_concurrent_pledges(service, clock):
    pool = await make_pool(service, budget_cents=25_00, cap_per_backer_cents=20_00)
    campaign = await live_campaign(service)
    r = await service.client.post(
        f"/campaigns/{campaign['id']}/match-pool",
        json={"pool_id": pool["id"]},
        headers=staff(service),
    )
    assert r.status_code == 200, r.text
    await launch(service, campaign)
    results = await asyncio.gather(
        *(pledge(service, campaign["id"], f"b{i}", 3_00) for i in range(50))
    )
    assert all(r.status_code == 201 for r in results), [r.text for r in results][:3]
    matched = sum(r.json()["matched_cents"] for r in results)
    assert matched == 25_00
    view = (await service.client.get(f"/match-pools/{pool['id']}")).json()
    assert view["reserved_cents"] == 25_00 and view["available_cents"] == 0


async def test_match_caps_and_release_only_on_success(service, clock):
    pool = await make_pool(
        service, cap_per_pledge_cents=30_00, cap_per_backer_cents=40_00, cap_per_project_cents=60_00
    )
    funded = await live_campaign(service, goal=200_00)
    missed = await live_campaign(service, goal=5_000_00, holder="hank")
    for c in (funded, missed):
        await service.client.post(
            f"/campaigns/{c['id']}/match-pool", json={"pool_id": pool["id"]}, headers=staff(service)
        )
        await launch(service, c)
    a1 = (await pledge(service, funded["id"], "ann", 50_00)).json()
    a2 = (await pledge(service, funded["id"], "ann", 50_00)).json()
    b1 = (await pledge(service, funded["id"], "bob", 50_00)).json()
    assert [a1["matched_cents"], a2["matched_cents"], b1["matched_cents"]] == [30_00, 10_00, 20_00]
    m1 = (await pledge(service, missed["id"], "cat", 10_00)).json()
    assert m1["matched_cents"] == 10_00
    assert (await service.client.get(f"/match-pools/{pool['id']}")).json()[
        "reserved_cents"
    ] == 70_00
    clock.advance(days=31)
    settled = (await service.client.post("/settlement/run", headers=staff(service))).json()
    by_outcome = {s["outcome"]: s for s in settled["settled"]}
    assert by_outcome["succeeded"]["matched_cents"] == 60_00
    assert by_outcome["succeeded"]["total_cents"] == 210_00
    view = (await service.client.get(f"/match-pools/{pool['id']}")).json()
    assert view["reserved_cents"] == 60_00 and view["released_cents"] == 60_00


async def test_settlement_resumes_after_a_crash_and_captures_each_pledge_once(
    service, clock, monkeypatch
):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    for backer in ("ann", "bob", "cat"):
        await pledge(service, campaign["id"], backer, 40_00)
    provider = service.runtime.attached(Crowdfunding).provider
    real_capture = provider.capture
    calls = []

    async def flaky_capture(**kw):
        calls.append(kw["idempotency_key"])
        result = await real_capture(**kw)
        if len(calls) == 2:
            raise ConnectionError("the worker died after the provider captured")
        return result

    monkeypatch.setattr(provider, "capture", flaky_capture)
    clock.advance(days=31)
    first = await service.client.post("/settlement/run", headers=staff(service))
    assert first.json()["settled"] == []
    view = (await service.client.get(f"/campaigns/{campaign['id']}")).json()
    assert view["state"] == "settling"
    second = (await service.client.post("/settlement/run", headers=staff(service))).json()
    [result] = second["settled"]
    assert result["raised_cents"] == 120_00 and result["backers"] == 3
    captured = [
        h for h in await hooks(service, undelivered=False) if "payment.captured" in h["body"]
    ]
    assert len(captured) == 3, "the retried capture was answered from the idempotency key"


async def test_settlement_by_concurrent_workers_happens_once(service, clock):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    await pledge(service, campaign["id"], "ann", 150_00)
    clock.advance(days=31)
    runs = await asyncio.gather(
        *(service.client.post("/settlement/run", headers=staff(service)) for _ in range(5))
    )
    settled = [s for r in runs for s in r.json()["settled"]]
    assert len(settled) == 1 and settled[0]["outcome"] == "succeeded"


async def test_budget_results_give_leftovers_and_drafts_once(service, nats_server, clock):
    results = ResultsPublished(
        edition_id="pb-2025",
        rule="greedy",
        turnout=[],
        envelopes=[
            EnvelopeResult(
                envelope_id="env-nord",
                district="nord",
                amount_cents=100_000_00,
                allocated_cents=92_000_00,
                leftover_cents=8_000_00,
                selected=[],
                feasible_unselected=[
                    ResultProject(
                        proposal_id="p-7",
                        title="Jardin partagé",
                        cost_cents=12_000_00,
                        author_id="zoe",
                        neighbourhood="nord",
                    )
                ],
            )
        ],
    )
    event = make_event(
        results, aggregate_id="pb-2025", territory=Territory(city="valmont", neighbourhood=None)
    )
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    for _ in range(2):  # a redelivery (JetStream dedup bypassed with a new msg id)
        await js.publish(event.subject, event.model_dump_json().encode())
    await nc.close()
    async with asyncio.timeout(15):
        while True:
            drafts = (
                await service.client.get("/campaigns?state=draft", headers=staff(service))
            ).json()
            if drafts:
                break
            await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    assert (await service.client.get("/campaigns?state=draft")).json() == []  # not public
    drafts = (await service.client.get("/campaigns?state=draft", headers=staff(service))).json()
    assert len(drafts) == 1 and drafts[0]["holder_id"] == "zoe"
    assert drafts[0]["origin_proposal_id"] == "p-7"
    [leftover] = (await service.client.get("/budget-leftovers", headers=staff(service))).json()
    assert leftover["leftover_cents"] == 8_000_00
    url = "/budget-leftovers/pb-2025/env-nord/match-pool"
    r = await service.client.post(url, json={"name": "Reste du BP nord"}, headers=staff(service))
    assert r.status_code == 201 and r.json()["budget_cents"] == 8_000_00
    assert r.json()["neighbourhoods"] == ["nord"]
    r = await service.client.post(url, json={"name": "Encore"}, headers=staff(service))
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM


async def test_events_reach_jetstream_through_the_outbox(service, nats_server, clock):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    await pledge(service, campaign["id"], "ann", 150_00)
    clock.advance(days=31)
    await service.client.post("/settlement/run", headers=staff(service))
    await service.flush_outbox()
    types = await stream_types(nats_server.url)
    assert types == [
        "crowdfunding.campaign.drafted",
        "crowdfunding.campaign.submitted",
        "crowdfunding.campaign.approved",
        "crowdfunding.campaign.launched",
        "crowdfunding.pledge.made",
        "crowdfunding.pledge.captured",
        "crowdfunding.campaign.succeeded",
    ]


async def test_background_loop_confirms_authorisations_and_settles(
    service_factory, monkeypatch, clock
):
    monkeypatch.setenv("CROWDFUNDING_SANDBOX_DELIVERY_INTERVAL", "0.2")
    monkeypatch.setenv("CROWDFUNDING_SETTLEMENT_INTERVAL", "0.2")
    from services.crowdfunding.app import create_app

    running = await service_factory("crowdfunding", create_app, env="dev")
    campaign = await launch(running, await live_campaign(running, goal=100_00))
    made = (await pledge(running, campaign["id"], "ann", 150_00, token="tok_3ds")).json()
    assert made["status"] == "pending"
    async with asyncio.timeout(10):
        while True:
            view = await running.client.get(f"/pledges/{made['id']}", headers=running.auth("ann"))
            if view.json()["status"] == "active":
                break
            await asyncio.sleep(0.1)
    clock.advance(days=31)
    async with asyncio.timeout(10):
        while (await running.client.get(f"/campaigns/{campaign['id']}")).json()["state"] != (
            "succeeded"
        ):
            await asyncio.sleep(0.1)
