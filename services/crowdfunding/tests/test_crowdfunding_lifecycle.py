"""The whole campaign lifecycle over HTTP, on SQLite and PostgreSQL, with real NATS."""

from datetime import UTC, datetime, timedelta

import pytest

from libs.common.clock import clock as platform_clock
from libs.common.tests.test_outbox import stream_event_ids  # noqa: F401  (reused helper)
from services.crowdfunding.app import create_app

PROBLEM = "application/problem+json"


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(platform_clock, "now", clock)
    return clock


@pytest.fixture
async def service(service_factory):
    return await service_factory("crowdfunding", create_app)


async def live_campaign(service, *, goal=1_000_00, holder="holly", **extra) -> dict:
    client = service.client
    holder_auth = service.auth(holder, "resident")
    body = {
        "title": "Repair café",
        "category": "solidarity",
        "goal_cents": goal,
        "duration_days": 30,
        **extra,
    }
    created = await client.post("/campaigns", json=body, headers=holder_auth)
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    return {"id": cid, "auth": holder_auth}


async def launch(service, campaign: dict, rewards: list[dict] = ()) -> dict:
    client = service.client
    for reward in rewards:
        r = await client.post(
            f"/campaigns/{campaign['id']}/rewards", json=reward, headers=campaign["auth"]
        )
        assert r.status_code == 201, r.text
        campaign.setdefault("rewards", []).append(r.json()["id"])
    r = await client.post(f"/campaigns/{campaign['id']}/submit", headers=campaign["auth"])
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/campaigns/{campaign['id']}/review", json={}, headers=service.auth("rita", "reviewer")
    )
    assert r.status_code == 200 and r.json()["approved"], r.text
    r = await client.post(f"/campaigns/{campaign['id']}/launch", headers=campaign["auth"])
    assert r.status_code == 200, r.text
    campaign.update(r.json())
    return campaign


async def pledge(service, campaign_id, backer, amount, token="tok_instant", **extra):
    return await service.client.post(
        f"/campaigns/{campaign_id}/pledges",
        json={"amount_cents": amount, "card_token": token, **extra},
        headers=service.auth(backer, "resident"),
    )


def staff(service):
    return service.auth("sam", "staff")


async def test_campaign_that_reaches_its_goal_is_captured_and_paid_out(service, clock):
    client = service.client
    campaign = await launch(service, await live_campaign(service, goal=1_000_00))
    assert campaign["state"] == "live" and campaign["commission_rate"] == "0.05"
    for backer, amount in [("ann", 400_00), ("bob", 333_33), ("cat", 300_01)]:
        r = await pledge(service, campaign["id"], backer, amount)
        assert r.status_code == 201 and r.json()["status"] == "active", r.text
    desk = await client.post(
        f"/campaigns/{campaign['id']}/desk-pledges",
        json={"backer_id": "dan", "amount_cents": 50_00, "method": "cheque"},
        headers=staff(service),
    )
    assert desk.status_code == 201 and desk.json()["status"] == "active", desk.text

    # Locked once live: no edits, and nothing settles before the deadline.
    r = await client.patch(
        f"/campaigns/{campaign['id']}", json={"goal_cents": 10_00}, headers=campaign["auth"]
    )
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM
    assert (await client.post("/settlement/run", headers=staff(service))).json()["settled"] == []

    clock.advance(days=30, seconds=1)
    late = await pledge(service, campaign["id"], "eve", 10_00)
    assert late.status_code == 409 and late.headers["content-type"] == PROBLEM
    run = await client.post("/settlement/run", headers=staff(service))
    [result] = run.json()["settled"]
    assert result["outcome"] == "succeeded"
    assert result["raised_cents"] == 400_00 + 333_33 + 300_01 + 50_00
    assert result["commission_cents"] == 54_17  # 5 % of 1 083.34 € = 54.167 €, half up
    assert result["commission_cents"] + result["net_cents"] == result["total_cents"]
    again = await client.post("/settlement/run", headers=staff(service))
    assert again.json()["settled"] == [], "settlement happens once"

    pledges = (
        await client.get(f"/campaigns/{campaign['id']}/pledges", headers=campaign["auth"])
    ).json()
    assert {p["status"] for p in pledges} == {"captured"}
    r = await client.post(
        f"/campaigns/{campaign['id']}/payout", json={"reference": "VIR-1"}, headers=campaign["auth"]
    )
    assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    r = await client.post(
        f"/campaigns/{campaign['id']}/payout", json={"reference": "VIR-1"}, headers=staff(service)
    )
    assert r.status_code == 200 and r.json()["state"] == "paid_out"
    r = await client.post(
        f"/campaigns/{campaign['id']}/payout", json={"reference": "VIR-2"}, headers=staff(service)
    )
    assert r.status_code == 409


async def test_campaign_that_misses_its_goal_voids_every_pledge_once(service, clock):
    client = service.client
    campaign = await launch(service, await live_campaign(service, goal=5_000_00))
    ids = []
    for backer in ("ann", "bob"):
        r = await pledge(service, campaign["id"], backer, 100_00)
        ids.append(r.json()["id"])
    r = await client.post(
        f"/campaigns/{campaign['id']}/desk-pledges",
        json={"backer_id": "dan", "amount_cents": 20_00, "method": "cash"},
        headers=staff(service),
    )
    clock.advance(days=31)
    [result] = (await client.post("/settlement/run", headers=staff(service))).json()["settled"]
    assert result["outcome"] == "failed" and result["pledged_cents"] == 220_00
    view = (await client.get(f"/campaigns/{campaign['id']}")).json()
    assert view["state"] == "failed" and view["commission_cents"] == 0
    pledges = (
        await client.get(f"/campaigns/{campaign['id']}/pledges", headers=staff(service))
    ).json()
    assert sorted(p["status"] for p in pledges) == ["refunded", "voided", "voided"]
    await service.flush_outbox()
    # The sandbox voided each hold exactly once.
    hooks = (await client.get("/sandbox/webhooks?undelivered=false", headers=staff(service))).json()
    voids = [h for h in hooks if '"payment.voided"' in h["body"]]
    assert len(voids) == 2
    r = await client.post(
        f"/campaigns/{campaign['id']}/payout", json={"reference": "X"}, headers=staff(service)
    )
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM


async def test_review_rejects_with_recorded_reasons_and_forbids_the_wrong_people(service):
    client = service.client
    campaign = await live_campaign(service, goal=50_00, duration_days=10)
    other = service.auth("mallory", "resident")
    r = await client.post(f"/campaigns/{campaign['id']}/submit", headers=other)
    assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    await client.post(f"/campaigns/{campaign['id']}/submit", headers=campaign["auth"])
    r = await client.post(f"/campaigns/{campaign['id']}/review", json={}, headers=other)
    assert r.status_code == 403
    r = await client.post(
        f"/campaigns/{campaign['id']}/review", json={}, headers=service.auth("rita", "reviewer")
    )
    assert r.status_code == 200 and not r.json()["approved"]
    assert r.json()["checks"] == {"eligibility": True, "coherent_amount": False, "duration": False}
    r = await client.post(f"/campaigns/{campaign['id']}/launch", headers=campaign["auth"])
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM
    reviews = await client.get(f"/campaigns/{campaign['id']}/reviews", headers=campaign["auth"])
    assert len(reviews.json()[0]["reasons"]) == 2
    r = await client.post(
        "/campaigns", json={"title": "x", "category": "c", "goal_cents": -1}, headers=other
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} >= {"body.title", "body.goal_cents"}


async def test_rate_is_frozen_at_launch(service, clock):
    client = service.client
    r = await client.put("/platform/commission-rate", json={"rate": "0.2"}, headers=staff(service))
    assert r.status_code == 422
    r = await client.put(
        "/platform/commission-rate", json={"rate": "0.03"}, headers=service.auth("x")
    )
    assert r.status_code == 403
    first = await launch(service, await live_campaign(service))
    r = await client.put("/platform/commission-rate", json={"rate": "0.08"}, headers=staff(service))
    assert r.status_code == 200
    second = await launch(service, await live_campaign(service))
    assert (first["commission_rate"], second["commission_rate"]) == ("0.05", "0.08")


async def test_cancel_until_24h_before_the_deadline(service, clock):
    client = service.client
    campaign = await launch(
        service,
        await live_campaign(service),
        rewards=[{"title": "Mug", "min_cents": 20_00, "stock": 1}],
    )
    [reward] = campaign["rewards"]
    first = (await pledge(service, campaign["id"], "ann", 25_00, reward_id=reward)).json()
    sold_out = await pledge(service, campaign["id"], "bob", 25_00, reward_id=reward)
    assert sold_out.status_code == 409 and sold_out.headers["content-type"] == PROBLEM
    r = await client.post(f"/pledges/{first['id']}/cancel", headers=service.auth("bob"))
    assert r.status_code == 403
    r = await client.post(f"/pledges/{first['id']}/cancel", headers=service.auth("ann"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = await client.post(f"/pledges/{first['id']}/cancel", headers=service.auth("ann"))
    assert r.status_code == 409
    second = await pledge(service, campaign["id"], "bob", 25_00, reward_id=reward)
    assert second.status_code == 201, "the cancelled pledge gave its reward back"
    clock.advance(days=29, hours=1)
    r = await client.post(f"/pledges/{second.json()['id']}/cancel", headers=service.auth("bob"))
    assert r.status_code == 409
    r = await pledge(service, campaign["id"], "holly", 25_00)
    assert r.status_code == 403, "a holder does not back their own campaign"


async def test_drafts_are_private_and_live_campaigns_show_their_running_total(service, clock):
    campaign = await live_campaign(service, goal=500_00)
    draft = await service.client.get(f"/campaigns/{campaign['id']}")
    assert draft.status_code == 404  # a draft is its holder's, reviewers' and staff's
    assert (
        await service.client.get(f"/campaigns/{campaign['id']}", headers=campaign["auth"])
    ).status_code == 200
    assert (await service.client.get("/campaigns")).json() == []
    await launch(service, campaign)
    listed = (await service.client.get("/campaigns")).json()
    assert [c["id"] for c in listed] == [campaign["id"]]
    r = await pledge(service, campaign["id"], "bea", 120_00)
    assert r.status_code == 201, r.text
    await service.client.post("/sandbox/webhooks/dispatch", headers=staff(service))
    shown = (await service.client.get(f"/campaigns/{campaign['id']}")).json()
    assert shown["pledged_cents"] == 120_00 and shown["backers_so_far"] == 1
