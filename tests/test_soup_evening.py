"""End to end: a Soup evening through the budget and crowdfunding services, events carried
by a real nats-server (SQLite or PostgreSQL).

Three shortlisted projects; diners pay a 10 EUR entry fee (three in cash at the desk, one
by card: 40 EUR) and vote once each (two online, one registered at the desk on paper).
The count publishes `budget.results.published` (kind "soup"); crowdfunding assigns the
pot to the winner, closes it, settles it with the usual commission (5 % of 40 EUR = 2 EUR)
and pays the 38 EUR net to the winner. The shortlisted projects that lost do not become
campaign drafts (as unselected PB proposals do).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from libs.common.clock import clock as platform_clock
from services.budget.app import create_app as budget_app
from services.crowdfunding.app import create_app as crowdfunding_app
from services.crowdfunding.db import campaigns


class Clock:
    def __init__(self) -> None:
        self.at = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
async def evening(service_factory, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(platform_clock, "now", clock)
    cf = await service_factory("crowdfunding", crowdfunding_app)
    pb = await service_factory("budget", budget_app)
    return cf, pb, clock


async def ok(response, status: int = 200):
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json()


async def open_evening(cf, pb) -> tuple[dict, dict]:
    staff_pb = pb.auth("sam", "staff")
    vote = await ok(
        await pb.client.post(
            "/soup-votes",
            json={
                "name": "Soup of the Gare, March",
                "projects": [
                    {"title": "Seed library", "author_id": "cook-a", "neighbourhood": "gare"},
                    {"title": "Street piano", "author_id": "cook-b", "neighbourhood": "gare"},
                    {"title": "Repair corner", "author_id": "cook-c"},
                ],
            },
            headers=staff_pb,
        ),
        201,
    )
    assert vote["kind"] == "soup" and vote["phase"] == "voting"
    pot = await ok(
        await cf.client.post(
            "/soup-evenings",
            json={
                "edition_id": vote["edition_id"],
                "title": "Soup of the Gare, March",
                "neighbourhood": "gare",
                "entry_fee_cents": 10_00,
                "hours": 4,
            },
            headers=cf.auth("sam", "staff"),
        ),
        201,
    )
    assert pot["state"] == "open" and pot["pot_state"] == "live"
    again = await cf.client.post(
        "/soup-evenings",
        json={
            **{k: pot[k] for k in ("edition_id", "title", "neighbourhood")},
            "entry_fee_cents": 10_00,
        },
        headers=cf.auth("sam", "staff"),
    )
    assert again.status_code == 409 and again.json()["code"] == "soup.edition_taken"
    return vote, pot


async def dinner(cf, pb, vote: dict, pot: dict) -> str:
    """Four entry fees, three votes; returns the winner's proposal id."""
    staff_cf, staff_pb = cf.auth("sam", "staff"), pb.auth("sam", "staff")
    for diner in ("d1", "d2", "d3"):
        await ok(
            await cf.client.post(
                f"/campaigns/{pot['campaign_id']}/desk-pledges",
                json={"backer_id": diner, "amount_cents": 10_00, "method": "cash"},
                headers=staff_cf,
            ),
            201,
        )
    card = await ok(
        await cf.client.post(
            f"/campaigns/{pot['campaign_id']}/pledges",
            json={"amount_cents": 10_00, "card_token": "tok_instant"},
            headers=cf.auth("ana", "resident", neighbourhood="gare"),
        ),
        201,
    )
    assert card["status"] == "active"

    seeds, piano, _repair = (p["proposal_id"] for p in vote["projects"])
    eid, envelope = vote["edition_id"], vote["envelope_id"]
    for who in ("ana", "ben"):
        await ok(
            await pb.client.post(
                f"/editions/{eid}/ballots",
                json={"envelope_id": envelope, "projects": [piano]},
                headers=pb.auth(who, neighbourhood="gare"),
            ),
            201,
        )
    twice = await pb.client.post(
        f"/editions/{eid}/ballots",
        json={"envelope_id": envelope, "projects": [seeds]},
        headers=pb.auth("ana", neighbourhood="gare"),
    )
    assert twice.status_code == 409 and twice.json()["code"] == "already_voted"
    two = await pb.client.post(
        f"/editions/{eid}/ballots",
        json={"envelope_id": envelope, "projects": [seeds, piano]},
        headers=pb.auth("cat", neighbourhood="gare"),
    )
    assert two.status_code == 422, "one choice each"
    desk_voter = await ok(
        await pb.client.post(
            f"/editions/{eid}/desk/voters",
            json={"identity": "ticket-7", "neighbourhood": "gare"},
            headers=staff_pb,
        ),
        201,
    )
    await ok(
        await pb.client.post(
            f"/editions/{eid}/desk/ballots",
            json={"voter_id": desk_voter["voter_id"], "envelope_id": envelope, "projects": [seeds]},
            headers=staff_pb,
        ),
        201,
    )
    return piano


async def count(pb, vote: dict) -> dict:
    staff_pb = pb.auth("sam", "staff")
    eid = vote["edition_id"]
    await ok(
        await pb.client.post(f"/editions/{eid}/phase", json={"phase": "results"}, headers=staff_pb)
    )
    shares = [k["share"] for k in vote["keyholder_shares"]]
    results = await ok(
        await pb.client.post(f"/editions/{eid}/results", json={"shares": shares}, headers=staff_pb),
        201,
    )
    await pb.flush_outbox()
    return results


async def evening_when(cf, pot: dict, state: str, timeout: float = 20.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            shown = await ok(await cf.client.get(f"/soup-evenings/{pot['id']}"))
            if shown["state"] == state:
                return shown
            await asyncio.sleep(0.05)


async def campaign_count(cf) -> int:
    async with cf.runtime.db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(campaigns))


async def test_soup_evening_pot_goes_to_the_diners_choice(evening):
    cf, pb, clock = evening
    vote, pot = await open_evening(cf, pb)
    piano = await dinner(cf, pb, vote, pot)
    shown = await ok(await cf.client.get(f"/soup-evenings/{pot['id']}"))
    assert shown["pledged_cents"] == 40_00 and shown["diners"] == 4

    results = await count(pb, vote)
    assert results["envelopes"][0]["selected"] == [piano]
    assigned = await evening_when(cf, pot, "assigned")
    assert assigned["winner"]["proposal_id"] == piano
    assert assigned["winner"]["title"] == "Street piano"
    assert assigned["pot_state"] == "live"
    late = await cf.client.post(
        f"/campaigns/{pot['campaign_id']}/desk-pledges",
        json={"backer_id": "d9", "amount_cents": 10_00, "method": "cash"},
        headers=cf.auth("sam", "staff"),
    )
    assert late.status_code == 409, "the vote is over: the pot takes no more fees"

    clock.at += timedelta(seconds=1)
    [settled] = (
        await ok(await cf.client.post("/settlement/run", headers=cf.auth("sam", "staff")))
    )["settled"]
    assert settled["outcome"] == "succeeded" and settled["raised_cents"] == 40_00
    paid = await ok(await cf.client.get(f"/soup-evenings/{pot['id']}"))
    assert paid["state"] == "paid_out" and paid["pot_state"] == "paid_out"
    assert (paid["commission_cents"], paid["net_cents"]) == (2_00, 38_00)
    assert paid["payout_reference"] == f"soup:{pot['id']}:{piano}"
    assert await campaign_count(cf) == 1, "the losing projects became no campaign drafts"


async def test_results_after_the_pot_settled_pay_the_winner_at_once(evening):
    cf, pb, clock = evening
    vote, pot = await open_evening(cf, pb)
    piano = await dinner(cf, pb, vote, pot)
    clock.at += timedelta(hours=5)  # the evening ran late: the pot settles before the count
    [settled] = (
        await ok(await cf.client.post("/settlement/run", headers=cf.auth("sam", "staff")))
    )["settled"]
    assert settled["outcome"] == "succeeded"
    waiting = await ok(await cf.client.get(f"/soup-evenings/{pot['id']}"))
    assert waiting["state"] == "open" and waiting["pot_state"] == "succeeded"

    await count(pb, vote)
    paid = await evening_when(cf, pot, "paid_out")
    assert paid["winner"]["proposal_id"] == piano and paid["net_cents"] == 38_00
