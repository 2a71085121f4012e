"""Casting ballots, online or on paper at the desk, and looking them up with a receipt.

One counted ballot per voter and envelope, across channels: the primary key of
`participations` (envelope_id, voter_id). The participation row and the ballot row are
written in one transaction but share nothing (see db.py). A voter who already took part is
refused with 409, or, when the edition allows it, their ballot is replaced: the old one is
found by `replace_key` = HMAC(secret, edition | envelope | voter), which nobody can compute
from the database alone.

Concurrency: on PostgreSQL `INSERT … ON CONFLICT DO NOTHING` makes a second, concurrent
transaction for the same voter wait for the first and then insert nothing; it is then a
replacement (serialised by a row lock on the participation) or a 409. On SQLite every
transaction takes the write lock at BEGIN. Either way exactly one ballot counts.

The receipt is a random token returned once to the voter; the server keeps only its
SHA-256. It lets the voter see their ballot and what became of the projects they voted for,
and it cannot be linked to them server-side.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.contracts.budget import BallotCast
from libs.common.db import Database, insert_ignoring_duplicates
from libs.common.events import Territory, make_event
from libs.common.outbox import record
from libs.common.problems import Conflict, Forbidden, Invalid, NotFound
from libs.common.settings import Settings
from services.budget import domain
from services.budget.db import ballots, editions, milestones, participations, proposals
from services.budget.editions import ballot_format, get_edition, get_envelope

SECRET_ENV = "BUDGET_BALLOT_SECRET"


def ballot_secret(settings: Settings) -> bytes:
    """The key of replacement HMACs: BUDGET_BALLOT_SECRET, or one derived from the JWT secret
    (domain-separated) when unset. Keep it out of the database and its backups."""
    explicit = os.environ.get(SECRET_ENV)
    if explicit:
        return explicit.encode()
    return hmac.new(
        settings.jwt_secret.encode(), b"sharitories-budget-ballot-replacement", hashlib.sha256
    ).digest()


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
_PHASE = sa.select(editions.c.phase).where(editions.c.id == sa.bindparam("edition_id"))
_INSERT_BALLOT = sa.insert(ballots)


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
    edited and assessed before), so each ballot need not read it again. Counting still
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
) -> None:
    """Refuse an ineligible voter (403) or an invalid ballot (422, with the reason)."""
    edition, envelope = paper.edition, paper.envelope
    refusal = domain.eligibility_problem(
        voter, min_age=edition["min_age"], district=envelope["district"], today=today
    )
    if refusal:
        raise Forbidden(refusal)
    fmt = ballot_format(edition)
    ballot = domain.BallotInput(projects=tuple(projects), points=points)
    invalid = domain.ballot_problem(
        fmt, ballot, costs=paper.costs, amount_cents=envelope["amount_cents"]
    )
    if invalid:
        raise Invalid(invalid, field="body.points" if fmt.kind == "cumulative" else "body.projects")


async def cast_ballot(
    session: AsyncSession,
    *,
    paper: BallotPaper,
    projects: list[str],
    points: dict[str, int] | None,
    voter_id: str,
    voter: domain.Voter,
    channel: str,
    checked_in_by: str | None,
    secret: bytes,
    territory: Territory,
) -> dict[str, Any]:
    """Count a checked ballot, in the write transaction; voting may have closed meanwhile."""
    edition, envelope = paper.edition, paper.envelope
    edition_id = edition["id"]
    phase = await session.scalar(_PHASE, {"edition_id": edition_id})
    domain.require_phase(phase, "voting", action="vote")
    fmt = ballot_format(edition)

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
    key = (
        replace_key(secret, edition_id=edition_id, envelope_id=envelope["id"], voter_id=voter_id)
        if edition["allow_replacement"]
        else None
    )
    replaced = joined.rowcount != 1
    if replaced:
        if not edition["allow_replacement"]:
            raise Conflict("This voter has already voted in this envelope.")
        # Lock the voter's participation: concurrent replacements go one after the other.
        where = (participations.c.envelope_id == envelope["id"]) & (
            participations.c.voter_id == voter_id
        )
        lock = sa.select(participations.c.voter_id).where(where)
        if session.bind.dialect.name == "postgresql":
            lock = lock.with_for_update()
        await session.execute(lock)
        await session.execute(sa.update(participations).where(where).values(channel=channel))
        await session.execute(sa.delete(ballots).where(ballots.c.replace_key == key))

    receipt = secrets.token_urlsafe(24)
    contents = (
        {"points": {p: n for p, n in sorted((points or {}).items()) if n}}
        if fmt.kind == "cumulative"
        else {"projects": list(projects)}
    )
    await session.execute(
        _INSERT_BALLOT,
        {
            "id": secrets.token_hex(16),
            "envelope_id": envelope["id"],
            "contents": contents,
            "receipt_hash": receipt_hash(receipt),
            "replace_key": key,
        },
    )
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
    return {
        "edition_id": edition_id,
        "envelope_id": envelope["id"],
        "counted": True,
        "replaced_previous": replaced,
        "receipt": receipt,
    }


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


async def lookup_receipt(session: AsyncSession, *, receipt: str) -> dict[str, Any]:
    """The ballot behind a receipt and what became of each project on it."""
    row = (
        (
            await session.execute(
                sa.select(ballots).where(ballots.c.receipt_hash == receipt_hash(receipt))
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound("No ballot has this receipt (it may have been replaced).")
    contents = row["contents"]
    ids = list(contents.get("projects") or contents.get("points") or [])
    projects = {
        r["id"]: dict(r)
        for r in (
            await session.execute(sa.select(proposals).where(proposals.c.id.in_(ids)))
        ).mappings()
    }
    steps = await session.execute(
        sa.select(milestones)
        .where(milestones.c.proposal_id.in_(ids))
        .order_by(milestones.c.on, milestones.c.recorded_at)
    )
    by_project: dict[str, list[dict]] = {}
    for m in steps.mappings():
        by_project.setdefault(m["proposal_id"], []).append(
            {"status": m["status"], "on": m["on"].isoformat(), "note": m["note"]}
        )
    return {
        "envelope_id": row["envelope_id"],
        "ballot": contents,
        "projects": [
            {
                "proposal_id": pid,
                "title": projects[pid]["title"] if pid in projects else None,
                "status": projects[pid]["status"] if pid in projects else None,
                "milestones": by_project.get(pid, []),
            }
            for pid in ids
        ],
    }
