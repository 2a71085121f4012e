"""The attacker's view: with the database (and on SQLite its raw file and WAL), who voted
what cannot be paired better than chance while voting is open, nor after the count.

Forty residents cast forty different ballots, one after the other (the easiest case for the
attacker: arrival order is exactly known from the participation rows). The test then opens
the sealed ballots with the keyholders' shares to know the truth, and scores the attacker's
pairings by id, physical order, transaction id (PostgreSQL xmin) and file offset (SQLite).
By chance a pairing of 40 gets about 1 right; we fail above 8 (odds about 1 in 100,000).
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
import sqlalchemy as sa

from services.budget import sealing
from services.budget.app import create_app
from services.budget.config import BudgetSettings
from services.budget.db import ballots, participations, sealed_ballots
from services.budget.tests.support import Desk

VOTERS = 40
CHANCE_LIMIT = 8


@pytest.fixture
async def voted(service_factory):
    """An edition with forty sealed ballots, written at close (one batch)."""
    service = await service_factory(
        "budget", lambda s: create_app(s, BudgetSettings(BUDGET_BALLOT_BATCH=1000))
    )
    desk = Desk(service)
    await desk.edition(
        ballot_format={"kind": "approval", "min_projects": 1, "max_projects": 6},
        keyholders=["a", "b", "c"],
        threshold=2,
        allow_replacement=True,  # ballots carry a replacement key until the count
    )
    ids = await desk.to_voting({f"p{i}": 1_000_00 for i in range(6)})
    subsets = [c for k in (1, 2, 3) for c in itertools.combinations(ids, k)][:VOTERS]
    truth = {}
    for n, subset in enumerate(subsets):
        voter = f"voter-{n:04d}-x"
        r = await desk.vote(voter, list(subset))
        assert r.status_code == 201, r.text
        truth[frozenset(subset)] = voter
    await desk.phase("results")  # voting closes: the box writes its batch
    return service, desk, truth


def opened_voters(desk, truth, rows) -> list[str]:
    """The truth, for scoring only: which voter each sealed row belongs to."""
    key = sealing.open_key(desk.shares[desk.ed["id"]][:2], public_key=desk.ed_key)
    return [truth[frozenset(sealing.unseal(s, key=key)["projects"])] for s in rows]


def read_file_and_wal(path: str) -> bytes:
    wal = Path(f"{path}-wal")
    return Path(path).read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def score(arrival: list[str], guessed: list[str]) -> int:
    """How many ballots a pairing of the i-th voter with the i-th ballot gets right."""
    return sum(a == g for a, g in zip(arrival, guessed, strict=True))


async def test_database_rows_do_not_pair_voters_with_ballots(voted, db_backend):
    service, desk, truth = voted
    async with service.runtime.db.transaction() as session:
        key = await session.scalar(sa.text("SELECT public_key FROM edition_keys"))
        desk.ed_key = key
        arrival = sorted(truth.values())  # voters arrived in name order
        if db_backend == "postgresql":
            voters = (
                await session.execute(
                    sa.text("SELECT voter_id, xmin::text FROM participations ORDER BY ctid")
                )
            ).all()
            sealed = (
                await session.execute(
                    sa.text("SELECT sealed, xmin::text, id FROM sealed_ballots ORDER BY ctid")
                )
            ).all()
            # Each participation committed alone; all ballots in one other transaction.
            assert len({x for _, x in voters}) == VOTERS
            assert len({x for _, x, _ in sealed}) == 1
            assert not {x for _, x, _ in sealed} & {x for _, x in voters}
            assert [v for v, _ in voters] == arrival  # the attacker knows arrival order…
            by_ctid = opened_voters(desk, truth, [s for s, _, _ in sealed])
            assert score(arrival, by_ctid) <= CHANCE_LIMIT  # …yet pairs no better than chance
            by_id = opened_voters(
                desk, truth, [s for s, _, _ in sorted(sealed, key=lambda r: r[2])]
            )
            assert score(arrival, by_id) <= CHANCE_LIMIT
        else:
            rows = (await session.execute(sa.select(sealed_ballots.c.sealed))).all()
            # WITHOUT ROWID: stored and read in random-id order; there is no rowid to sort by.
            by_key = opened_voters(desk, truth, [s for (s,) in rows])
            assert score(arrival, by_key) <= CHANCE_LIMIT
            with pytest.raises(sa.exc.OperationalError, match="rowid"):
                await session.execute(sa.text("SELECT rowid FROM sealed_ballots"))


async def test_sqlite_file_and_wal_bytes_do_not_pair_voters_with_ballots(voted, db_backend):
    if db_backend != "sqlite":
        pytest.skip("the raw-file attack is SQLite's (PostgreSQL's is the xmin/ctid test)")
    service, desk, truth = voted
    async with service.runtime.db.transaction() as session:
        desk.ed_key = await session.scalar(sa.text("SELECT public_key FROM edition_keys"))
        sealed = [s for (s,) in (await session.execute(sa.select(sealed_ballots.c.sealed))).all()]
    raw = read_file_and_wal(service.settings.database_url_for("budget").split("///", 1)[1])
    # The attacker orders voters and ballots by where they first appear in the bytes
    # (WAL frames are appended commit by commit).
    voters = sorted(truth.values(), key=lambda v: raw.find(v.encode()))
    assert all(raw.find(v.encode()) >= 0 for v in voters)
    ballots_seen = sorted(sealed, key=lambda s: raw.find(s[:48]))
    assert all(raw.find(s[:48]) >= 0 for s in sealed)
    assert score(voters, opened_voters(desk, truth, ballots_seen)) <= CHANCE_LIMIT


async def test_the_count_opens_in_memory_and_publishes_shuffled_without_trackers(voted):
    service, desk, truth = voted
    async with service.runtime.db.transaction() as session:
        keys = (await session.execute(sa.select(sealed_ballots.c.replace_key))).all()
        assert all(k is not None for (k,) in keys)
    result = await desk.publish()
    assert result["envelopes"][0]["ballots"] == VOTERS
    async with service.runtime.db.transaction() as session:
        left = (
            await session.execute(sa.select(sealed_ballots.c.sealed, sealed_ballots.c.replace_key))
        ).all()
        assert all(s is None and k is None for s, k in left)  # erased once counted
        opened = (await session.execute(sa.select(ballots.c.contents, ballots.c.replace_key))).all()
        assert len(opened) == VOTERS and all(k is None for _, k in opened)
        assert await session.scalar(sa.select(sa.func.count()).select_from(participations)) == (
            VOTERS
        )
    export = (await desk.client.get(f"/editions/{desk.ed['id']}/export.pb")).text
    trackers = (await desk.client.get(f"/editions/{desk.ed['id']}/trackers")).json()
    assert not any(t in export for t in trackers["envelopes"][0]["trackers"])
    assert not any(v in export for v in truth.values())


async def test_wrong_or_too_few_shares_open_nothing(voted):
    service, desk, _ = voted
    eid = desk.ed["id"]
    shares = desk.shares[eid]
    for bad in ([shares[0]], ["s1-2-1-abc", "s1-2-2-def"], ["nonsense"]):
        r = await desk.client.post(
            f"/editions/{eid}/results", json={"shares": bad}, headers=desk.staff
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "body.shares"
    other = Desk(service)
    await other.edition(keyholders=["x", "y"], threshold=2)
    r = await desk.client.post(
        f"/editions/{eid}/results",
        json={"shares": other.shares[other.ed["id"]]},
        headers=desk.staff,
    )
    assert r.status_code == 422
    r = await desk.client.post(
        f"/editions/{eid}/results", json={"shares": shares[1:]}, headers=desk.staff
    )
    assert r.status_code == 201


async def test_ballots_are_written_by_the_batch_and_wait_in_memory_until_then(service_factory):
    service = await service_factory(
        "budget", lambda s: create_app(s, BudgetSettings(BUDGET_BALLOT_BATCH=3))
    )
    desk = Desk(service)
    await desk.edition()
    (pid,) = await desk.to_voting({"a": 10_00})

    async def stored() -> int:
        async with service.runtime.db.transaction() as session:
            return await session.scalar(sa.select(sa.func.count()).select_from(sealed_ballots))

    receipts = [(await desk.vote(f"v{n}", [pid])).json()["receipt"] for n in range(4)]
    assert await stored() == 3  # the third ballot completed a batch; the fourth waits
    r = await desk.client.post("/receipts/lookup", json={"receipt": receipts[3]})
    assert r.json()["status"] == "received"
    r = await desk.client.post("/receipts/lookup", json={"receipt": receipts[0]})
    assert r.json()["status"] == "sealed"
    result = await desk.publish()  # closing voting writes what waits
    assert result["envelopes"][0]["ballots"] == 4 and await stored() == 4


async def test_voters_do_not_queue_behind_a_flush_in_progress(service_factory):
    """While one batch is being written, later ballots join the next batch: no voter's
    answer waits for a flush it did not start (they queued up one flush each, for seconds)."""
    service = await service_factory(
        "budget", lambda s: create_app(s, BudgetSettings(BUDGET_BALLOT_BATCH=2))
    )
    desk = Desk(service)
    await desk.edition()
    (pid,) = await desk.to_voting({"a": 10_00})
    box = service.app.state.budget.box
    async with box._writing:  # a flush is writing (held here, so it lasts as long as we like)
        # Generous: it only catches a vote that waits for the lock (it would wait forever).
        answers = await asyncio.wait_for(
            asyncio.gather(*(desk.vote(f"v{n}", [pid]) for n in range(5))), timeout=60
        )
        assert [a.status_code for a in answers] == [201] * 5
        assert len(box.waiting) == 5
    assert await box.flush() == 5
    assert (await desk.vote("v5", [pid])).status_code == 201  # alone: waits, no flush
    assert (await desk.vote("v6", [pid])).status_code == 201  # completes a batch: written
    assert box.waiting == []


async def test_ballots_lost_in_a_crash_stop_the_count_until_staff_accept_the_gap(service_factory):
    service = await service_factory("budget", create_app)
    desk = Desk(service)
    await desk.edition()
    (pid,) = await desk.to_voting({"a": 10_00})
    for n in range(3):
        assert (await desk.vote(f"v{n}", [pid])).status_code == 201
    await service.app.state.budget.box.flush()
    assert (await desk.vote("unlucky", [pid])).status_code == 201
    service.app.state.budget.box.waiting.clear()  # the process died before writing it
    await desk.phase("results")
    eid = desk.ed["id"]
    shares = desk.shares[eid]
    r = await desk.client.post(
        f"/editions/{eid}/results", json={"shares": shares}, headers=desk.staff
    )
    assert r.status_code == 409 and r.json()["code"] == "ballots_missing"
    assert r.json()["missing"] == {desk.city: 1}
    r = await desk.client.post(
        f"/editions/{eid}/results",
        json={"shares": shares, "accept_missing": True},
        headers=desk.staff,
    )
    assert r.status_code == 201
    city = r.json()["envelopes"][0]
    assert (city["ballots"], city["ballots_missing"]) == (3, 1)
