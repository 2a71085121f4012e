"""Casting ballots, online or at the desk, sealed and written apart from who voted.

Two records, written apart (see README.md, "Ballot secrecy"):
- WHO: a `participations` row (envelope, voter, channel), committed in the request's own
  transaction with the `budget.ballot.cast` event. Its primary key (envelope_id, voter_id)
  keeps one counted ballot per voter and envelope, across channels, whatever the
  concurrency.
- WHAT: the ballot sealed with the edition's public key (`sealing.py`), handed to the
  process's `BallotBox`, which writes ballots in batches, in shuffled order, in a
  transaction of their own (every BUDGET_BALLOT_BATCH ballots, every
  BUDGET_BALLOT_FLUSH_SECONDS, when voting closes and at shutdown). So no ballot row shares
  a transaction (PostgreSQL xmin), a page order (ctid) or a WAL frame order (SQLite) with
  its participation: within a batch, arrival order is gone. Ballot ids are random; there is
  no timestamp and no voter reference.

A voter who already took part is refused with 409, or, when the edition allows it, their
ballot is replaced: the old one is found by `replace_key` = HMAC(BUDGET_BALLOT_SECRET,
edition | envelope | voter), which nobody can compute from the database alone. A paper
ballot never replaces an online one: the desk is told the person voted online.

The voter's receipt is the ballot's tracker (SHA-256 of the sealed bytes): after the count
it is in the published list of counted trackers; the ballots are published shuffled,
without trackers, so a receipt proves that a ballot counted, not what it said.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import random
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.contracts.budget import BallotCast
from libs.common.db import Database, insert_ignoring_duplicates
from libs.common.events import Territory, make_event
from libs.common.logs import get_logger
from libs.common.outbox import record
from libs.common.problems import Conflict, Invalid, NotFound
from libs.common.runtime import ServiceRuntime
from services.budget import domain, sealing
from services.budget.db import (
    ballots,
    desk_voters,
    editions,
    envelopes,
    participations,
    proposals,
    sealed_ballots,
)
from services.budget.editions import (
    LATEST_EXTENSION,
    ballot_format,
    get_edition,
    get_envelope,
    local_today,
    now,
)

log = get_logger(__name__)
_shuffle = random.SystemRandom().shuffle


def replace_key(secret: bytes, *, edition_id: str, envelope_id: str, voter_id: str) -> str:
    message = f"{edition_id}|{envelope_id}|{voter_id}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def receipt_hash(receipt: str) -> str:
    return hashlib.sha256(receipt.encode()).hexdigest()


# The voting path's statements are built once (see editions.py).
_FEASIBLE = sa.select(proposals.c.id, proposals.c.cost_cents).where(
    proposals.c.envelope_id == sa.bindparam("envelope_id"),
    proposals.c.status.in_(("feasible", "selected", "not_selected")),
)
_PHASE = sa.select(
    editions.c.phase, editions.c.phase_dates, LATEST_EXTENSION.label("extended_until")
).where(editions.c.id == sa.bindparam("edition_id"))


async def feasible_costs(session: AsyncSession, *, envelope_id: str) -> dict[str, int]:
    """The ballot paper of an envelope: feasible proposals (by id) and their assessed cost."""
    rows = await session.execute(_FEASIBLE, {"envelope_id": envelope_id})
    return {pid: cost for pid, cost in rows.all()}


@dataclass(frozen=True)
class BallotPaper:
    """What a ballot is checked against: fixed once voting opens."""

    edition: dict[str, Any]
    envelope: dict[str, Any]
    costs: dict[str, int]


async def ballot_paper(
    session: AsyncSession, *, edition_id: str, envelope_id: str | None
) -> BallotPaper:
    """Read an envelope's ballot paper (a snapshot read: no write lock needed)."""
    edition = await get_edition(session, edition_id)
    domain.require_phase(edition["phase"], "voting", action="vote")
    envelope = await get_envelope(session, edition_id, envelope_id)
    costs = await feasible_costs(session, envelope_id=envelope["id"])
    return BallotPaper(edition=edition, envelope=envelope, costs=costs)


class BallotPapers:
    """Ballot papers of editions in their voting phase, read once per process.

    A paper cannot change while voting is open (phases only move forward; proposals are
    edited and assessed before), so each ballot need not read it again. Casting still
    re-reads the phase in its write transaction: a ballot that arrives as voting closes is
    refused. Ids are UUIDs, so one cache may serve several databases (as in tests).
    """

    LIMIT = 1024

    def __init__(self) -> None:
        self._papers: dict[tuple[str, str | None], BallotPaper] = {}

    async def get(self, db: Database, *, edition_id: str, envelope_id: str | None) -> BallotPaper:
        key = (edition_id, envelope_id)
        paper = self._papers.get(key)
        if paper is None:
            async with db.read() as session:  # raises 409 unless voting is open
                paper = await ballot_paper(session, edition_id=edition_id, envelope_id=envelope_id)
            if len(self._papers) >= self.LIMIT:
                self._papers.clear()
            self._papers[key] = paper
        return paper


def check_ballot(
    paper: BallotPaper,
    *,
    voter: domain.Voter,
    projects: list[str],
    points: dict[str, int] | None,
    today: date,
    neighbourhoods: tuple[str, ...],
) -> None:
    """Refuse an ineligible voter (403) or an invalid ballot (422, with the reason)."""
    edition, envelope = paper.edition, paper.envelope
    refusal = domain.eligibility_problem(
        voter,
        min_age=edition["min_age"],
        district=envelope["district"],
        today=today,
        neighbourhoods=neighbourhoods,
    )
    if refusal:
        raise domain.refuse(refusal)
    fmt = ballot_format(edition)
    ballot = domain.BallotInput(projects=tuple(projects), points=points)
    invalid = domain.ballot_problem(
        fmt, ballot, costs=paper.costs, amount_cents=envelope["amount_cents"]
    )
    if invalid:
        raise Invalid(
            invalid.message,
            field="body.points" if fmt.kind == "cumulative" else "body.projects",
            code=invalid.code,
            params=invalid.params,
        )


def ballot_contents(fmt: domain.BallotFormat, projects: list[str], points: dict | None) -> dict:
    if fmt.kind == "cumulative":
        return {"points": {p: n for p, n in sorted((points or {}).items()) if n}}
    return {"projects": list(projects)}


@dataclass
class PendingBallot:
    """A ballot on its way to the database: sealed (or, for editions created before
    sealing, plain), with its tracker and, where replacement is allowed, its replace key."""

    envelope_id: str
    tracker: str
    replace_key: str | None
    receipt: str  # what the voter keeps: the tracker (or, unsealed, a random token)
    sealed: bytes | None = None
    contents: dict | None = None  # only for unsealed (older) editions


def prepare(paper: BallotPaper, *, projects, points, voter_id: str, secret: bytes) -> PendingBallot:
    """Seal the ballot (outside any transaction: sealing needs no database)."""
    edition, envelope = paper.edition, paper.envelope
    contents = ballot_contents(ballot_format(edition), projects, points)
    key = (
        replace_key(secret, edition_id=edition["id"], envelope_id=envelope["id"], voter_id=voter_id)
        if edition["allow_replacement"]
        else None
    )
    if edition.get("public_key"):
        sealed = sealing.seal(contents, public_key=edition["public_key"])
        tracker = sealing.tracker(sealed)
        return PendingBallot(envelope["id"], tracker, key, tracker, sealed=sealed)
    receipt = secrets.token_urlsafe(24)
    return PendingBallot(envelope["id"], receipt_hash(receipt), key, receipt, contents=contents)


async def record_participation(
    session: AsyncSession,
    *,
    paper: BallotPaper,
    voter_id: str,
    voter: domain.Voter,
    channel: str,
    checked_in_by: str | None,
    territory: Territory,
) -> bool:
    """Record that the voter took part (in the request's transaction); True if this
    replaces their earlier ballot. Voting may have closed since the paper was read."""
    edition, envelope = paper.edition, paper.envelope
    edition_id = edition["id"]
    row = (await session.execute(_PHASE, {"edition_id": edition_id})).one()
    phase = domain.effective_phase(
        row.phase, row.phase_dates, extended_until=row.extended_until, today=local_today()
    )
    domain.require_phase(phase, "voting", action="vote")
    joined = await session.execute(
        insert_ignoring_duplicates(session, participations),
        {
            "envelope_id": envelope["id"],
            "voter_id": voter_id,
            "edition_id": edition_id,
            "neighbourhood": voter.neighbourhood,
            "channel": channel,
            "checked_in_by": checked_in_by,
        },
    )
    replaced = joined.rowcount != 1
    if replaced:
        where = (participations.c.envelope_id == envelope["id"]) & (
            participations.c.voter_id == voter_id
        )
        # Lock the voter's participation: concurrent replacements go one after the other.
        lock = sa.select(participations.c.channel).where(where)
        if session.bind.dialect.name == "postgresql":
            lock = lock.with_for_update()
        before = await session.scalar(lock)
        if channel == "paper" and before == "online":
            raise Conflict(
                "This resident already voted online in this envelope; a paper ballot cannot "
                "replace it. They can change their vote online if the edition allows it.",
                code="voted_online",
            )
        if not edition["allow_replacement"]:
            raise Conflict("This voter has already voted in this envelope.", code="already_voted")
        await session.execute(sa.update(participations).where(where).values(channel=channel))
    # The event says that a ballot was counted, where and how; never who (actor is null).
    await record(
        session,
        make_event(
            BallotCast(
                edition_id=edition_id,
                envelope_id=envelope["id"],
                district=envelope["district"],
                channel=channel,
                replaces_previous=replaced,
            ),
            aggregate_id=edition_id,
            territory=territory.model_copy(update={"neighbourhood": envelope["district"]}),
            actor=None,
        ),
    )
    return replaced


PAPERS = BallotPapers()


async def cast(
    *,
    runtime: ServiceRuntime,
    box: BallotBox,
    secret: bytes,
    neighbourhoods: tuple[str, ...],
    edition_id: str,
    envelope_id: str,
    projects: list[str],
    points: dict[str, int] | None,
    voter_id: str,
    voter: domain.Voter,
    channel: str,
    checked_in_by: str | None,
) -> dict[str, Any]:
    """Cast (or replace) a ballot: checked and sealed against its paper, the participation
    recorded in its own transaction, then the sealed ballot handed to the box (written
    apart, shuffled). The answer carries the receipt, the ballot's tracker."""
    paper = await PAPERS.get(runtime.db, edition_id=edition_id, envelope_id=envelope_id)
    check_ballot(
        paper,
        voter=voter,
        projects=projects,
        points=points,
        today=local_today(),
        neighbourhoods=neighbourhoods,
    )
    pending = prepare(paper, projects=projects, points=points, voter_id=voter_id, secret=secret)
    async with runtime.unit_of_work() as session:
        replaced = await record_participation(
            session,
            paper=paper,
            voter_id=voter_id,
            voter=voter,
            channel=channel,
            checked_in_by=checked_in_by,
            territory=runtime.territory(None),
        )
    await box.put(pending)
    return {
        "edition_id": edition_id,
        "envelope_id": paper.envelope["id"],
        "counted": True,
        "replaced_previous": replaced,
        "receipt": pending.receipt,
        "sealed": pending.sealed is not None,
    }


class BallotBox:
    """Ballots waiting to be written, in this process's memory, never on disk with order.

    `put` keeps a ballot (dropping a waiting one it replaces); `flush` writes everything
    waiting in one transaction, in shuffled order, after deleting the ballots it replaces.
    A failed flush keeps the ballots for the next one. A crash loses what waits here (at
    most a batch, or BUDGET_BALLOT_FLUSH_SECONDS of ballots): their participations stay, so
    the count sees and reports the gap rather than counting anything twice.
    """

    def __init__(self, db: Database, *, batch: int, flush_seconds: float) -> None:
        self.db = db
        self.batch = batch
        self.flush_seconds = flush_seconds
        self.waiting: list[PendingBallot] = []
        self._writing = asyncio.Lock()

    def holds(self, tracker: str) -> PendingBallot | None:
        return next((b for b in self.waiting if b.tracker == tracker), None)

    async def put(self, ballot: PendingBallot) -> None:
        if ballot.replace_key is not None:
            self.waiting = [b for b in self.waiting if b.replace_key != ballot.replace_key]
        self.waiting.append(ballot)
        # One flush at a time: the ballots cast while it waits for the writer join the next
        # batch. Queuing a flush per ballot behind it made each of those voters wait for
        # every flush ahead (seconds at 100 concurrent voters, bench_budget's p99).
        if len(self.waiting) >= self.batch and not self._writing.locked():
            await self.flush_quietly()  # the voter's answer does not depend on it

    async def flush(self) -> int:
        async with self._writing:
            batch, self.waiting = self.waiting, []
            if not batch:
                return 0
            _shuffle(batch)
            try:
                async with self.db.transaction() as session:
                    await write_batch(session, batch)
            except Exception:
                log.exception("ballot batch not written; kept for the next flush")
                self.waiting = batch + self.waiting
                raise
            return len(batch)

    async def flush_quietly(self) -> None:
        """Flush; on failure the ballots keep waiting (flush logged why) for the next try."""
        with contextlib.suppress(Exception):
            await self.flush()

    async def run(self) -> None:
        """Background: write whatever waits every BUDGET_BALLOT_FLUSH_SECONDS."""
        while True:
            await asyncio.sleep(self.flush_seconds)
            await self.flush_quietly()


async def write_batch(session: AsyncSession, batch: list[PendingBallot]) -> None:
    keys = [b.replace_key for b in batch if b.replace_key]
    if keys:  # the ballots these replace, whichever table and batch they are in
        await session.execute(
            sa.delete(sealed_ballots).where(sealed_ballots.c.replace_key.in_(keys))
        )
        await session.execute(sa.delete(ballots).where(ballots.c.replace_key.in_(keys)))
    sealed = [
        {
            "id": secrets.token_hex(16),
            "envelope_id": b.envelope_id,
            "sealed": b.sealed,
            "tracker": b.tracker,
            "replace_key": b.replace_key,
        }
        for b in batch
        if b.sealed is not None
    ]
    plain = [
        {
            "id": secrets.token_hex(16),
            "envelope_id": b.envelope_id,
            "contents": b.contents,
            "receipt_hash": b.tracker,
            "replace_key": b.replace_key,
        }
        for b in batch
        if b.sealed is None
    ]
    if sealed:
        await session.execute(sa.insert(sealed_ballots), sealed)
    if plain:
        await session.execute(sa.insert(ballots), plain)


# --- the desk ---------------------------------------------------------------------------


def desk_voter_id(secret: bytes, *, edition_id: str, identity: str) -> str:
    """The same person registered twice gets the same id; the identity is not stored."""
    normal = " ".join(identity.casefold().split())
    digest = hmac.new(secret, f"desk|{edition_id}|{normal}".encode(), hashlib.sha256)
    return "desk-" + digest.hexdigest()[:24]


async def register_desk_voter(
    session: AsyncSession,
    *,
    edition_id: str,
    identity: str | None,
    member_id: str | None,
    neighbourhood: str,
    birthdate: date | None,
    neighbourhoods: tuple[str, ...],
    staff_id: str,
    secret: bytes,
) -> dict[str, Any]:
    edition = await get_edition(session, edition_id)
    domain.require_phase(edition["phase"], "voting", action="register a voter at the desk")
    if neighbourhood not in neighbourhoods:
        raise Invalid(
            f"'{neighbourhood}' is not a neighbourhood of the territory.",
            field="body.neighbourhood",
            code="unknown_neighbourhood",
        )
    if edition["min_age"] and birthdate is None:
        raise Invalid(
            f"This edition is open from age {edition['min_age']}: enter the date of birth "
            "from the identity document.",
            field="body.birthdate",
            code="birthdate_missing",
            params={"min_age": edition["min_age"]},
        )
    voter_id = member_id or desk_voter_id(secret, edition_id=edition_id, identity=identity or "")
    added = await session.execute(
        insert_ignoring_duplicates(session, desk_voters),
        {
            "edition_id": edition_id,
            "voter_id": voter_id,
            "neighbourhood": neighbourhood,
            "birthdate": birthdate,
            "registered_by": staff_id,
            "registered_at": now(),
        },
    )
    row = await desk_voter(session, edition_id=edition_id, voter_id=voter_id)
    return {
        "voter_id": voter_id,
        "neighbourhood": row["neighbourhood"],
        "new": added.rowcount == 1,
        "envelopes": await participation_of(session, edition_id=edition_id, voter_id=voter_id),
    }


async def desk_voter(session: AsyncSession, *, edition_id: str, voter_id: str) -> dict[str, Any]:
    row = (
        (
            await session.execute(
                sa.select(desk_voters).where(
                    desk_voters.c.edition_id == edition_id, desk_voters.c.voter_id == voter_id
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise Invalid(
            f"'{voter_id}' is not registered at the desk for this edition: register the "
            "resident first (POST /editions/{id}/desk/voters).",
            field="body.voter_id",
            code="voter_not_registered",
        )
    return dict(row)


async def voter_participation(
    session: AsyncSession, *, edition_id: str, voter_id: str
) -> list[dict[str, Any]]:
    """Where a voter has voted in an edition (which must exist); never what."""
    await get_edition(session, edition_id)
    return await participation_of(session, edition_id=edition_id, voter_id=voter_id)


async def participation_of(
    session: AsyncSession, *, edition_id: str, voter_id: str
) -> list[dict[str, Any]]:
    """Where a voter has voted (not what): for them, and for staff at the desk."""
    rows = await session.execute(
        sa.select(participations.c.envelope_id, participations.c.channel).where(
            participations.c.edition_id == edition_id, participations.c.voter_id == voter_id
        )
    )
    return [{"envelope_id": e, "channel": c} for e, c in rows.all()]


# --- receipts ---------------------------------------------------------------------------


async def lookup_receipt(
    session: AsyncSession, *, receipt: str, box: BallotBox | None
) -> dict[str, Any]:
    """Was the ballot behind this receipt (its tracker) counted? Never what it says."""
    tracker = receipt.strip().lower()
    if box is not None and (waiting := box.holds(tracker) or box.holds(receipt_hash(receipt))):
        return {"envelope_id": waiting.envelope_id, "status": "received", "tracker": tracker}
    row = (
        await session.execute(
            sa.select(sealed_ballots.c.envelope_id, sealed_ballots.c.sealed).where(
                sealed_ballots.c.tracker == tracker
            )
        )
    ).first()
    if row is not None:
        edition_id = await session.scalar(
            sa.select(envelopes.c.edition_id).where(envelopes.c.id == row.envelope_id)
        )
        edition = await get_edition(session, edition_id)
        counted = edition["results"] is not None and row.sealed is None
        return {
            "edition_id": edition_id,
            "envelope_id": row.envelope_id,
            "status": "counted" if counted else "sealed",
            "tracker": tracker,
        }
    legacy = await session.scalar(
        sa.select(ballots.c.envelope_id).where(ballots.c.receipt_hash == receipt_hash(receipt))
    )
    if legacy is not None:
        return {"envelope_id": legacy, "status": "stored", "tracker": None}
    raise NotFound(
        "No ballot has this receipt (it may have been replaced).", code="receipt_not_found"
    )
