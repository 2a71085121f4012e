"""HTTP tests of the budget service: the whole edition lifecycle, voting rules, secrecy."""

from __future__ import annotations

import asyncio

import nats
import pytest
import sqlalchemy as sa
from nats.js.api import ConsumerConfig, DeliverPolicy

from libs.common.events import STREAM, Envelope
from services.budget.app import create_app
from services.budget.db import ballots, edition_keys, participations, sealed_ballots
from services.budget.tests.support import Desk

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
    # Staff correct paper proposals only (recorded), never a resident's online words.
    r = await client.patch(
        f"/editions/{eid}/proposals/{park}",
        json={"proposed_cost_cents": 999_999_00},
        headers=desk.staff,
    )
    assert r.status_code == 403
    r = await client.patch(
        f"/editions/{eid}/proposals/{fountain}",
        json={"title": "Paper: a fountain (typo)"},
        headers=desk.staff,
    )
    assert r.status_code == 200 and r.json()["version"] == 2
    history = (await client.get(f"/editions/{eid}/proposals/{fountain}/history")).json()
    assert history[-1]["edited_by"] == "mayor-office" and history[-1]["edited_at"]
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
    v5 = await desk.register("Dora Martin, ID 123456", nbhd="gare")
    r = await desk.paper(v5, [park])
    assert r.status_code == 201, r.text
    # Results only in the results phase.
    r = await client.post(f"/editions/{eid}/results", headers=desk.staff)
    assert r.status_code == 409
    r = await client.post("/receipts/lookup", json={"receipt": receipts["v2"]})
    assert r.json()["status"] in ("received", "sealed")
    await desk.phase("results")
    r = await desk.vote("v6", [park])
    assert r.status_code == 409  # voting is closed (its cached paper does not let it in)
    r = await client.post(f"/editions/{eid}/results", json={"shares": []}, headers=desk.staff)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.shares"
    result = await desk.publish()
    city = result["envelopes"][0]
    assert city["selected"] == [park, bike]  # 3 and 3 votes; fountain no longer fits
    by_id = {p["proposal_id"]: p for p in city["projects"]}
    assert by_id[fountain]["reason"].startswith("lost: not enough budget")
    assert city["leftover_cents"] == 10_000_00
    turnout = {t["district"]: t for t in result["turnout"]}
    assert turnout[None]["voters"] == 5 and turnout[None]["eligible"] == 1500
    assert turnout["gare"]["voters"] == 1

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
    # The voter finds their receipt among the counted trackers; it says nothing of content.
    r = await client.post("/receipts/lookup", json={"receipt": receipts["v2"]})
    assert r.status_code == 200 and r.json()["status"] == "counted"
    assert "projects" not in r.json() and "ballot" not in r.json()
    trackers = (await client.get(f"/editions/{eid}/trackers")).json()["envelopes"][0]["trackers"]
    assert set(receipts.values()) <= set(trackers) and trackers == sorted(trackers)
    assert len(trackers) == 5

    # Export is a valid .pb with anonymous ballots and the result.
    r = await client.get(f"/editions/{eid}/export.pb")
    assert r.status_code == 200
    from services.budget import pabulib

    exported = pabulib.parse(r.text)
    assert len(exported.votes) == 5
    assert set(exported.recorded_selected()) == {park, bike}
    assert not any(v in r.text for v in ("v1", "v2", v5))

    await service.flush_outbox()
    events = await stream_events(nats_server.url)
    types = [e.type for e in events]
    assert types.count("budget.ballot.cast") == 5
    assert "budget.results.published" in types and "budget.project.milestone" in types
    for e in events:
        if e.type == "budget.ballot.cast":
            assert e.actor is None
            assert not any(v in e.model_dump_json() for v in ("v1", "v2", "v3", "v4", v5))
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
    await desk.service.app.state.budget.box.flush()
    assert await count(desk.service, sealed_ballots) == 1
    assert await count(desk.service, participations) == 1


async def test_concurrent_replacements_leave_one_ballot(desk):
    await desk.edition(allow_replacement=True)
    ids = await desk.to_voting({"a": 10_00, "b": 20_00})
    responses = await asyncio.gather(*(desk.vote("same-voter", [ids[i % 2]]) for i in range(20)))
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    assert sum(not r.json()["replaced_previous"] for r in responses) == 1
    await desk.service.app.state.budget.box.flush()
    assert await count(desk.service, sealed_ballots) == 1
    assert await count(desk.service, participations) == 1


async def test_paper_and_online_ballots_of_one_voter(desk):
    await desk.edition(allow_replacement=True)
    ids = await desk.to_voting({"a": 10_00})
    r = await desk.vote("eve", [ids[0]])
    assert r.status_code == 201
    # Eve has an account: the desk registers her under her member id, and is told why her
    # paper ballot is refused instead of silently replacing her online one.
    r = await desk.client.post(
        f"/editions/{desk.ed['id']}/desk/voters",
        json={"member_id": "eve", "neighbourhood": "centre"},
        headers=desk.staff,
    )
    assert r.status_code == 201 and r.json()["envelopes"] == [
        {"envelope_id": desk.city, "channel": "online"}
    ]
    eve = r.json()["voter_id"]
    r = await desk.paper(eve, [ids[0]])
    assert r.status_code == 409 and r.json()["code"] == "voted_online"
    assert "voted online" in r.json()["detail"]
    # The desk sees where she voted, not what.
    r = await desk.client.get(f"/editions/{desk.ed['id']}/desk/voters/eve", headers=desk.staff)
    assert r.json()["envelopes"] == [{"envelope_id": desk.city, "channel": "online"}]
    # Paper first, then online: the online ballot replaces it (the edition allows it).
    fred = await desk.register("Fred, passport 99")
    assert fred == await desk.register("  FRED,  passport 99 ")  # same person, same id
    assert (await desk.paper(fred, [ids[0]])).status_code == 201
    assert (await desk.paper(fred, [ids[0]])).json()["replaced_previous"] is True
    await desk.service.app.state.budget.box.flush()
    assert await count(desk.service, sealed_ballots) == 2


async def test_desk_ballots_need_a_registered_voter(desk):
    await desk.edition()
    ids = await desk.to_voting({"a": 10_00})
    r = await desk.paper("someone-typed-in", [ids[0]])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.voter_id"
    r = await desk.client.post(
        f"/editions/{desk.ed['id']}/desk/voters",
        json={"identity": "Zoe, ID 1", "neighbourhood": "paris"},
        headers=desk.staff,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.neighbourhood"
    r = await desk.client.post(
        f"/editions/{desk.ed['id']}/desk/voters",
        json={"identity": "Zoe, ID 1", "neighbourhood": "centre"},
        headers=desk.service.auth("zoe"),
    )
    assert r.status_code == 403
    zoe = await desk.register("Zoe, ID 1")
    assert (await desk.paper(zoe, [ids[0]])).status_code == 201
    assert (await desk.paper(zoe, [ids[0]])).status_code == 409


async def test_eligibility(desk):
    await desk.edition(min_age=16)
    ids = await desk.to_voting({"a": 10_00})
    r = await desk.vote("kid", [ids[0]], birthdate="2015-01-01")
    assert r.status_code == 403 and "16" in r.json()["detail"]
    r = await desk.vote("nobirth", [ids[0]])
    assert r.status_code == 403 and r.json()["code"] == "birthdate_missing"
    r = await desk.client.post(
        f"/editions/{desk.ed['id']}/ballots",
        json={"envelope_id": desk.city, "projects": [ids[0]]},
        headers=desk.service.auth("unverified", verified=False, birthdate="1990-01-01"),
    )
    assert r.status_code == 403 and "verified" in r.json()["detail"]
    assert r.json()["code"] == "unverified"
    assert r.json()["type"].endswith("/verification-required")
    # District envelope: only its residents.
    r = await desk.vote("c1", [], envelope=desk.port, birthdate="1990-01-01")
    assert r.status_code == 403 and "gare" in r.json()["detail"]
    # Desk registration of a min-age edition needs the birthdate.
    r = await desk.client.post(
        f"/editions/{desk.ed['id']}/desk/voters",
        json={"identity": "Kim, ID 7", "neighbourhood": "centre"},
        headers=desk.staff,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.birthdate"
    kid = await desk.register("Kim, ID 7", birthdate="2015-01-01")
    assert (await desk.paper(kid, [ids[0]])).status_code == 403
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


@pytest.mark.parametrize(
    "roles,claims,code",
    [
        (("organisation",), {}, "not_resident"),
        (("staff",), {}, "not_resident"),
        (("reviewer",), {}, "not_resident"),
        (("resident",), {"neighbourhood": None}, "outside_territory"),
        (("resident",), {"neighbourhood": "paris"}, "outside_territory"),
        (("resident", "organisation"), {"verified": False}, "unverified"),
    ],
)
async def test_only_verified_residents_of_the_territory_vote_in_any_envelope(
    desk, roles, claims, code
):
    await desk.edition()
    ids = await desk.to_voting({"a": 10_00})
    claims = {"neighbourhood": "centre", **claims}
    r = await desk.client.post(
        f"/editions/{desk.ed['id']}/ballots",
        json={"envelope_id": desk.city, "projects": [ids[0]]},
        headers=desk.service.auth("x", *roles, **claims),
    )
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == PROBLEM and r.json()["code"] == code
    assert await count(desk.service, participations) == 0


async def test_unverified_accounts_cannot_submit_or_support(desk):
    await desk.edition()
    await desk.phase("proposals")
    r = await desk.client.post(
        f"/editions/{desk.ed['id']}/proposals",
        json={"title": "t"},
        headers=desk.service.auth("new", verified=False),
    )
    assert r.status_code == 403 and r.json()["type"].endswith("/verification-required")


async def test_nobody_assesses_their_own_proposal(desk):
    await desk.edition()
    await desk.phase("proposals")
    pid = await desk.propose("Mine", who="rev")
    await desk.phase("pre_selection")
    await desk.phase("assessment")
    body = {"feasible": True, "reason": "fine", "cost_cents": 100}
    r = await desk.client.post(
        f"/editions/{desk.ed['id']}/proposals/{pid}/assessment", json=body, headers=desk.reviewer
    )
    assert r.status_code == 403 and "own proposal" in r.json()["detail"]
    other = desk.service.auth("rev2", "reviewer")
    r = await desk.client.post(
        f"/editions/{desk.ed['id']}/proposals/{pid}/assessment", json=body, headers=other
    )
    assert r.status_code == 200


async def test_a_replaced_ballot_is_gone_and_its_receipt_with_it(desk):
    await desk.edition(allow_replacement=True)
    ids = await desk.to_voting({"a": 10_00, "b": 10_00})
    first = (await desk.vote("eve", [ids[0]])).json()
    await desk.service.app.state.budget.box.flush()
    second = (await desk.vote("eve", [ids[1]])).json()
    assert second["replaced_previous"] is True and second["receipt"] != first["receipt"]
    await desk.service.app.state.budget.box.flush()
    assert await count(desk.service, sealed_ballots) == 1
    r = await desk.client.post("/receipts/lookup", json={"receipt": first["receipt"]})
    assert r.status_code == 404
    result = await desk.publish()
    scores = {p["proposal_id"]: p["score"] for p in result["envelopes"][0]["projects"]}
    assert scores == {ids[0]: "0", ids[1]: "1"}


async def test_an_edition_from_before_sealing_still_votes_and_counts(desk):
    """Editions created before migration 0003 have no key: their ballots are stored plain
    (still batched and shuffled) and counted without shares; their receipts still answer."""
    await desk.edition()
    ids = await desk.to_voting({"a": 10_00, "b": 20_00})
    async with desk.service.runtime.db.transaction() as session:
        await session.execute(sa.delete(edition_keys))
    receipts = []
    for n, choice in enumerate(([ids[0]], [ids[0], ids[1]], [ids[1]])):
        r = await desk.cast(f"old{n}", projects=choice, envelope=None)
        assert r.status_code == 201 and r.json()["sealed"] is False, r.text
        receipts.append(r.json()["receipt"])
    await desk.service.app.state.budget.box.flush()
    assert (
        await count(desk.service, sealed_ballots) == 0 and await count(desk.service, ballots) == 3
    )
    r = await desk.client.post("/receipts/lookup", json={"receipt": receipts[0]})
    assert r.status_code == 200 and r.json()["status"] == "stored"
    del desk.shares[desk.ed["id"]]
    result = await desk.publish()
    assert result["envelopes"][0]["ballots"] == 3


async def test_contact_details_never_reach_the_events(desk):
    await desk.edition()
    await desk.phase("proposals")
    r = await desk.client.post(
        f"/editions/{desk.ed['id']}/desk/proposals",
        json={"title": "Fountain", "author_id": "dora.martin@example.org"},
        headers=desk.staff,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.author_id"
    r = await desk.client.post(
        f"/editions/{desk.ed['id']}/proposals",
        json={"title": "Call 06 12 34 56 78 for benches"},
        headers=desk.service.auth("alice"),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.title"
