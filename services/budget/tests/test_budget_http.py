"""HTTP tests of the budget service: the whole edition lifecycle, voting rules, secrecy."""

from __future__ import annotations

import asyncio

import nats
import pytest
import sqlalchemy as sa
from nats.js.api import ConsumerConfig, DeliverPolicy

from libs.common.events import STREAM, Envelope
from services.budget.app import create_app
from services.budget.db import ballots, participations

PROBLEM = "application/problem+json"


async def stream_events(url: str) -> list[Envelope]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        total = (await js.stream_info(STREAM)).state.messages
        if not total:
            return []
        sub = await js.pull_subscribe(
            "sharitories.>", stream=STREAM, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        )
        events: list[Envelope] = []
        while len(events) < total:
            for msg in await sub.fetch(total - len(events), timeout=5):
                events.append(Envelope.model_validate_json(msg.data))
                await msg.ack()
        return events
    finally:
        await nc.close()


class Desk:
    """A small driver for one edition, to keep tests readable."""

    def __init__(self, service) -> None:
        self.service = service
        self.client = service.client
        self.staff = service.auth("mayor-office", "staff")
        self.reviewer = service.auth("rev", "reviewer")

    async def edition(self, **overrides) -> dict:
        body = {
            "name": "Valmont 2025",
            "envelopes": [
                {"name": "City", "amount_cents": 100_000_00},
                {"name": "Port", "district": "port", "amount_cents": 20_000_00},
            ],
            "rule": "greedy",
            "ballot_format": {"kind": "approval", "min_projects": 1, "max_projects": 3},
            "eligible_population": {"centre": 1000, "port": 500},
            **overrides,
        }
        r = await self.client.post("/editions", json=body, headers=self.staff)
        assert r.status_code == 201, r.text
        self.ed = r.json()
        self.city = self.ed["envelopes"][0]["id"]
        self.port = self.ed["envelopes"][1]["id"]
        return self.ed

    async def phase(self, phase: str, expect: int = 200):
        r = await self.client.post(
            f"/editions/{self.ed['id']}/phase", json={"phase": phase}, headers=self.staff
        )
        assert r.status_code == expect, r.text
        return r

    async def propose(self, title: str, who: str = "alice", envelope=None, nbhd="centre"):
        r = await self.client.post(
            f"/editions/{self.ed['id']}/proposals",
            json={"title": title, "description": "d", "envelope_id": envelope},
            headers=self.service.auth(who, neighbourhood=nbhd),
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    async def assess(self, pid: str, cost: int | None, feasible: bool = True):
        r = await self.client.post(
            f"/editions/{self.ed['id']}/proposals/{pid}/assessment",
            json={
                "feasible": feasible,
                "reason": "checked by the roads department",
                "cost_cents": cost,
            },
            headers=self.reviewer,
        )
        assert r.status_code == 200, r.text

    async def to_voting(self, costs: dict[str, int], envelope=None) -> list[str]:
        """From a fresh edition to voting with one proposal per cost (all feasible)."""
        await self.phase("proposals")
        ids = [await self.propose(t, envelope=envelope) for t in costs]
        await self.phase("pre_selection")
        await self.phase("assessment")
        for pid, cost in zip(ids, costs.values(), strict=True):
            await self.assess(pid, cost)
        await self.phase("voting")
        return ids

    async def vote(self, who: str, projects, envelope=None, nbhd="centre", **claims):
        return await self.client.post(
            f"/editions/{self.ed['id']}/ballots",
            json={"envelope_id": envelope or self.city, "projects": projects},
            headers=self.service.auth(who, neighbourhood=nbhd, **claims),
        )


@pytest.fixture
async def desk(service_factory):
    service = await service_factory("budget", create_app)
    return Desk(service)


async def count(service, table) -> int:
    async with service.runtime.db.transaction() as session:
        return await session.scalar(sa.select(sa.func.count()).select_from(table))


async def test_whole_edition_lifecycle(desk, nats_server):
    service, client = desk.service, desk.client
    ed = await desk.edition(preselection={"threshold": 2})
    eid = ed["id"]
    await desk.phase("proposals")
    park = await desk.propose("Park benches", who="alice")
    bike = await desk.propose("Bike racks", who="bob")
    lamp = await desk.propose("Street lamps", who="carol")
    r = await client.post(
        f"/editions/{eid}/desk/proposals",
        json={"title": "Paper: a fountain", "author_id": "dora", "neighbourhood": "centre"},
        headers=desk.staff,
    )
    assert r.status_code == 201 and r.json()["channel"] == "desk"
    fountain = r.json()["id"]
    # The author edits; history is kept. Someone else may not.
    r = await client.patch(
        f"/editions/{eid}/proposals/{park}",
        json={"title": "Park benches and tables"},
        headers=service.auth("alice"),
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    r = await client.patch(
        f"/editions/{eid}/proposals/{park}", json={"title": "x"}, headers=service.auth("bob")
    )
    assert r.status_code == 403
    history = (await client.get(f"/editions/{eid}/proposals/{park}/history")).json()
    assert [h["title"] for h in history] == ["Park benches", "Park benches and tables"]

    await desk.phase("pre_selection")
    for pid, supporters in ((park, 3), (bike, 2), (lamp, 1), (fountain, 2)):
        for i in range(supporters):
            r = await client.post(
                f"/editions/{eid}/proposals/{pid}/supports", headers=service.auth(f"s{i}")
            )
            assert r.status_code == 200
    r = await client.post(f"/editions/{eid}/proposals/{park}/supports", headers=service.auth("s0"))
    assert r.json()["new"] is False  # a second support by the same resident counts once
    await desk.phase("assessment")
    statuses = {
        p["id"]: p["status"] for p in (await client.get(f"/editions/{eid}/proposals")).json()
    }
    assert statuses[lamp] == "not_promoted" and statuses[park] == "promoted"
    # Editing is over once assessment starts.
    r = await client.patch(
        f"/editions/{eid}/proposals/{park}", json={"title": "late"}, headers=service.auth("alice")
    )
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM
    await desk.assess(park, 60_000_00)
    await desk.assess(bike, 30_000_00)
    await desk.assess(fountain, 50_000_00)
    r = await client.post(
        f"/editions/{eid}/proposals/{bike}/assessment",
        json={"feasible": True, "reason": " ", "cost_cents": 1},
        headers=desk.reviewer,
    )
    assert r.status_code == 422
    await desk.phase("voting")

    receipts = {}
    for who, choice in (
        ("v1", [park]),
        ("v2", [park, bike]),
        ("v3", [fountain, bike]),
        ("v4", [bike]),
    ):
        r = await desk.vote(who, choice)
        assert r.status_code == 201, r.text
        receipts[who] = r.json()["receipt"]
    r = await client.post(
        f"/editions/{eid}/desk/ballots",
        json={
            "envelope_id": desk.city,
            "projects": [park],
            "voter": {"voter_id": "v5", "neighbourhood": "port"},
        },
        headers=desk.staff,
    )
    assert r.status_code == 201, r.text
    # Results only in the results phase.
    r = await client.post(f"/editions/{eid}/results", headers=desk.staff)
    assert r.status_code == 409
    await desk.phase("results")
    r = await desk.vote("v6", [park])
    assert r.status_code == 409  # voting is closed (its cached paper does not let it in)
    r = await client.post(f"/editions/{eid}/results", headers=desk.staff)
    assert r.status_code == 201, r.text
    result = r.json()
    city = result["envelopes"][0]
    assert city["selected"] == [park, bike]  # 3 and 3 votes; fountain no longer fits
    by_id = {p["proposal_id"]: p for p in city["projects"]}
    assert by_id[fountain]["reason"].startswith("lost: not enough budget")
    assert city["leftover_cents"] == 10_000_00
    turnout = {t["district"]: t for t in result["turnout"]}
    assert turnout[None]["voters"] == 5 and turnout[None]["eligible"] == 1500
    assert turnout["port"]["voters"] == 1

    await desk.phase("delivery")
    r = await client.post(
        f"/editions/{eid}/proposals/{park}/milestones",
        json={"status": "in_progress", "on": "2025-09-01", "note": "works started"},
        headers=desk.staff,
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"/editions/{eid}/proposals/{park}/milestones",
        json={"status": "planned", "on": "2025-09-02"},
        headers=desk.staff,
    )
    assert r.status_code == 409
    r = await client.post(
        f"/editions/{eid}/proposals/{fountain}/milestones",
        json={"status": "planned", "on": "2025-09-02"},
        headers=desk.staff,
    )
    assert r.status_code == 409  # not a winner
    # The voter follows what they voted for with their receipt.
    r = await client.post("/receipts/lookup", json={"receipt": receipts["v2"]})
    assert r.status_code == 200
    seen = {p["proposal_id"]: p for p in r.json()["projects"]}
    assert seen[park]["milestones"][0]["status"] == "in_progress"
    assert seen[bike]["status"] == "selected"

    # Export is a valid .pb with anonymous ballots and the result.
    r = await client.get(f"/editions/{eid}/export.pb")
    assert r.status_code == 200
    from services.budget import pabulib

    exported = pabulib.parse(r.text)
    assert len(exported.votes) == 5
    assert set(exported.recorded_selected()) == {park, bike}
    assert not any(v in r.text for v in ("v1", "v2", "v5"))

    await service.flush_outbox()
    events = await stream_events(nats_server.url)
    types = [e.type for e in events]
    assert types.count("budget.ballot.cast") == 5
    assert "budget.results.published" in types and "budget.project.milestone" in types
    for e in events:
        if e.type == "budget.ballot.cast":
            assert e.actor is None
            assert not any(v in e.model_dump_json() for v in ("v1", "v2", "v3", "v4", "v5"))
    published = next(e for e in events if e.type == "budget.results.published").payload()
    unselected = published.envelopes[0].feasible_unselected
    assert [p.proposal_id for p in unselected] == [fountain] and unselected[0].author_id == "dora"


async def test_actions_outside_their_phase_are_refused(desk):
    await desk.edition()
    eid = desk.ed["id"]
    r = await desk.client.post(
        f"/editions/{eid}/proposals", json={"title": "too early"}, headers=desk.service.auth()
    )
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM
    assert "phase 'information'" in r.json()["detail"]
    await desk.phase("voting", expect=409)  # no skipping
    r = await desk.vote("v1", [])
    assert r.status_code == 409
    await desk.phase("proposals")
    pid = await desk.propose("p")
    r = await desk.client.post(
        f"/editions/{eid}/proposals/{pid}/supports", headers=desk.service.auth("x")
    )
    assert r.status_code == 409
    await desk.phase("information", expect=409)  # no going back
    r = await desk.client.post(
        f"/editions/{eid}/phase", json={"phase": "proposals"}, headers=desk.service.auth("x")
    )
    assert r.status_code == 403


async def test_concurrent_double_votes_count_once(desk):
    await desk.edition()
    ids = await desk.to_voting({"a": 10_00, "b": 20_00})
    responses = await asyncio.gather(*(desk.vote("same-voter", [ids[0]]) for _ in range(20)))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 1 and codes.count(409) == 19, codes
    assert await count(desk.service, ballots) == 1
    assert await count(desk.service, participations) == 1


async def test_concurrent_replacements_leave_one_ballot(desk):
    await desk.edition(allow_replacement=True)
    ids = await desk.to_voting({"a": 10_00, "b": 20_00})
    responses = await asyncio.gather(*(desk.vote("same-voter", [ids[i % 2]]) for i in range(20)))
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    assert sum(not r.json()["replaced_previous"] for r in responses) == 1
    assert await count(desk.service, ballots) == 1
    assert await count(desk.service, participations) == 1


async def test_paper_and_online_ballots_of_one_voter(desk):
    await desk.edition()
    ids = await desk.to_voting({"a": 10_00})
    r = await desk.vote("eve", [ids[0]])
    assert r.status_code == 201
    paper = {
        "envelope_id": desk.city,
        "projects": [ids[0]],
        "voter": {"voter_id": "eve", "neighbourhood": "centre"},
    }
    r = await desk.client.post(
        f"/editions/{desk.ed['id']}/desk/ballots", json=paper, headers=desk.staff
    )
    assert r.status_code == 409 and "already voted" in r.json()["detail"]
    # The desk sees where she voted, not what.
    r = await desk.client.get(f"/editions/{desk.ed['id']}/desk/voters/eve", headers=desk.staff)
    assert r.json()["envelopes"] == [{"envelope_id": desk.city, "channel": "online"}]
    # Paper first, then online: also refused.
    paper["voter"]["voter_id"] = "fred"
    r = await desk.client.post(
        f"/editions/{desk.ed['id']}/desk/ballots", json=paper, headers=desk.staff
    )
    assert r.status_code == 201
    assert (await desk.vote("fred", [ids[0]])).status_code == 409
    assert await count(desk.service, ballots) == 2


async def test_replacement_across_channels_when_allowed(desk):
    await desk.edition(allow_replacement=True)
    ids = await desk.to_voting({"a": 10_00, "b": 10_00})
    first = (await desk.vote("eve", [ids[0]])).json()
    paper = {
        "envelope_id": desk.city,
        "projects": [ids[1]],
        "voter": {"voter_id": "eve", "neighbourhood": "centre"},
    }
    r = await desk.client.post(
        f"/editions/{desk.ed['id']}/desk/ballots", json=paper, headers=desk.staff
    )
    assert r.status_code == 201 and r.json()["replaced_previous"] is True
    assert await count(desk.service, ballots) == 1
    r = await desk.client.post("/receipts/lookup", json={"receipt": first["receipt"]})
    assert r.status_code == 404  # the replaced ballot is gone


async def test_eligibility(desk):
    await desk.edition(min_age=16)
    ids = await desk.to_voting({"a": 10_00})
    r = await desk.vote("kid", [ids[0]], birthdate="2015-01-01")
    assert r.status_code == 403 and "16" in r.json()["detail"]
    r = await desk.vote("nobirth", [ids[0]])
    assert r.status_code == 403
    r = await desk.client.post(
        f"/editions/{desk.ed['id']}/ballots",
        json={"envelope_id": desk.city, "projects": [ids[0]]},
        headers=desk.service.auth("unverified", verified=False, birthdate="1990-01-01"),
    )
    assert r.status_code == 403 and "verified" in r.json()["detail"]
    # District envelope: only its residents.
    r = await desk.vote("c1", [], envelope=desk.port, birthdate="1990-01-01")
    assert r.status_code == 403 and "port" in r.json()["detail"]
    assert (await desk.vote("adult", [ids[0]], birthdate="1990-01-01")).status_code == 201


INVALID = [
    ({"kind": "approval", "min_projects": 2, "max_projects": 3}, {"projects": ["A"]}, "at least 2"),
    (
        {"kind": "approval", "min_projects": 1, "max_projects": 2},
        {"projects": ["A", "B", "C"]},
        "at most 2",
    ),
    ({"kind": "approval"}, {"projects": ["A", "A"]}, "more than once"),
    ({"kind": "approval"}, {"projects": ["nope"]}, "Not on this ballot"),
    ({"kind": "approval"}, {"points": {"A": 1}}, "does not give points"),
    ({"kind": "knapsack"}, {"projects": ["A", "B", "C"]}, "more than the envelope"),
    ({"kind": "cumulative", "total_points": 5}, {"points": {"A": 4, "B": 2}}, "6 points given"),
    (
        {"kind": "cumulative", "total_points": 9, "max_points_per_project": 3},
        {"points": {"A": 4}},
        "At most 3 points",
    ),
    ({"kind": "cumulative", "total_points": 5}, {"points": {"A": -1, "B": 2}}, "negative"),
    ({"kind": "cumulative", "total_points": 5}, {"projects": ["A"]}, "send 'points'"),
    (
        {"kind": "cumulative", "total_points": 5, "min_projects": 2},
        {"points": {"A": 5}},
        "at least 2",
    ),
    ({"kind": "ranking", "max_projects": 2}, {"projects": ["A", "B", "C"]}, "at most 2"),
    ({"kind": "ranking"}, {"projects": ["A", "B", "A"]}, "more than once"),
]


@pytest.mark.parametrize("fmt,ballot,reason", INVALID)
async def test_invalid_ballots_are_refused_with_the_reason(desk, fmt, ballot, reason):
    await desk.edition(ballot_format=fmt)
    ids = dict(
        zip(
            "ABC",
            await desk.to_voting({"A": 40_000_00, "B": 40_000_00, "C": 30_000_00}),
            strict=True,
        )
    )
    body = {"envelope_id": desk.city}
    if "projects" in ballot:
        body["projects"] = [ids.get(p, p) for p in ballot["projects"]]
    if "points" in ballot:
        body["points"] = {ids.get(p, p): n for p, n in ballot["points"].items()}
    r = await desk.client.post(
        f"/editions/{desk.ed['id']}/ballots", json=body, headers=desk.service.auth("v")
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    assert reason in r.json()["detail"]
    assert r.json()["errors"][0]["field"].startswith("body.")
    assert await count(desk.service, participations) == 0
