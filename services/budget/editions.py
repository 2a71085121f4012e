"""Editions, phases, proposals, supports and assessments: the civic workflow before the vote."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.clock import clock
from libs.common.contracts.budget import (
    EditionCreated,
    EnvelopeFacts,
    PhaseChanged,
    ProposalAssessed,
    ProposalSubmitted,
    ProposalSupported,
)
from libs.common.db import insert_ignoring_duplicates
from libs.common.events import Territory, make_event
from libs.common.ids import new_id
from libs.common.outbox import record
from libs.common.problems import Conflict, Forbidden, Invalid, NotFound, VerificationRequired
from services.budget import domain, sealing
from services.budget.db import (
    edition_keys,
    editions,
    envelopes,
    proposal_revisions,
    proposals,
    supports,
    voting_extensions,
)
from services.budget.schemas import (
    AssessmentIn,
    DeskProposalIn,
    EditionIn,
    ProposalEditIn,
    ProposalIn,
)


def now() -> datetime:
    return clock.now()


# An edition's dates are days of the territory's calendar. One territory per process: the
# app sets its time zone at start (BUDGET_TERRITORY_FILE).
_ZONE: ZoneInfo = ZoneInfo("Europe/Paris")


def set_timezone(name: str) -> None:
    global _ZONE
    _ZONE = ZoneInfo(name)


def _now_local() -> datetime:
    return clock.now().astimezone(_ZONE)


def local_today() -> date:
    return _now_local().date()


# Statements on the voting path are built once, with bound parameters: building and
# keying a statement per request costs more than SQLite takes to run it.
LATEST_EXTENSION = (
    sa.select(sa.func.max(voting_extensions.c.until))
    .where(voting_extensions.c.edition_id == editions.c.id)
    .scalar_subquery()
)
_EDITION = (
    sa.select(
        editions,
        LATEST_EXTENSION.label("extended_until"),
        edition_keys.c.public_key,
        edition_keys.c.threshold,
        edition_keys.c.keyholders,
        edition_keys.c.opened_at,
    )
    .select_from(editions.outerjoin(edition_keys, edition_keys.c.edition_id == editions.c.id))
    .where(editions.c.id == sa.bindparam("edition_id"))
)
_ENVELOPES = (
    sa.select(envelopes)
    .where(envelopes.c.edition_id == sa.bindparam("edition_id"))
    .order_by(envelopes.c.district.is_not(None), envelopes.c.district)
)


async def get_edition(session: AsyncSession, edition_id: str, *, lock: bool = False) -> dict:
    query = _EDITION
    if lock and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(of=editions)
    row = (await session.execute(query, {"edition_id": edition_id})).mappings().first()
    if row is None:
        raise NotFound(f"No edition '{edition_id}'.", code="edition_not_found")
    return with_calendar(dict(row))


def with_calendar(edition: dict) -> dict:
    """`phase` becomes the phase by the calendar; `stored_phase` is the one staff set."""
    edition["stored_phase"] = edition["phase"]
    edition["phase"] = domain.effective_phase(
        edition["phase"],
        edition["phase_dates"],
        extended_until=edition.get("extended_until"),
        today=local_today(),
    )
    return edition


async def edition_envelopes(session: AsyncSession, edition_id: str) -> list[dict]:
    rows = await session.execute(_ENVELOPES, {"edition_id": edition_id})
    return [dict(r) for r in rows.mappings()]


async def get_envelope(session: AsyncSession, edition_id: str, envelope_id: str | None) -> dict:
    for envelope in await edition_envelopes(session, edition_id):
        if envelope["id"] == envelope_id or (envelope_id is None and envelope["district"] is None):
            return envelope
    raise Invalid(
        f"No envelope '{envelope_id}' in this edition.",
        field="body.envelope_id",
        code="envelope_not_found",
    )


def edition_view(edition: dict, envelope_rows: list[dict]) -> dict[str, Any]:
    return {
        "id": edition["id"],
        "name": edition["name"],
        "city": edition["city"],
        "phase": edition["phase"],
        "kind": edition.get("kind") or "pb",
        "rule": edition["rule"],
        "ballot_format": edition["ballot_format"],
        "allow_replacement": edition["allow_replacement"],
        "min_age": edition["min_age"],
        "preselection": edition["preselection"],
        "eligible_population": edition["eligible_population"],
        "phase_dates": edition["phase_dates"],
        "voting_window": _window(edition),
        "sealed": edition.get("public_key") is not None,
        "keyholders": edition.get("keyholders"),
        "threshold": edition.get("threshold"),
        "envelopes": [
            {
                "id": e["id"],
                "name": e["name"],
                "district": e["district"],
                "amount_cents": e["amount_cents"],
            }
            for e in envelope_rows
        ],
        "results_published": edition["results"] is not None,
    }


async def list_editions(session: AsyncSession) -> list[dict[str, Any]]:
    """Every edition, newest first."""
    rows = await session.execute(sa.select(editions.c.id).order_by(editions.c.created_at.desc()))
    return [
        edition_view(await get_edition(session, eid), await edition_envelopes(session, eid))
        for (eid,) in rows.all()
    ]


def _window(edition: dict) -> dict[str, str | None]:
    start, end = domain.voting_window(edition["phase_dates"], edition.get("extended_until"))
    return {
        "first_day": start.isoformat() if start else None,
        "last_day": end.isoformat() if end else None,
        "extended": edition.get("extended_until") is not None,
    }


def ballot_format(edition: dict) -> domain.BallotFormat:
    return domain.BallotFormat(**edition["ballot_format"])


async def create_edition(
    session: AsyncSession,
    *,
    body: EditionIn,
    actor: Principal,
    territory: Territory,
    phase: str = "information",
    source_meta: dict | None = None,
    sealed: bool = True,
) -> dict[str, Any]:
    """A new edition; a sealed one (all but imported files) gets its key pair, and the
    answer carries the keyholders' shares of its private key: the only copy there is."""
    edition_id = new_id()
    await session.execute(
        sa.insert(editions).values(
            id=edition_id,
            name=body.name,
            city=territory.city,
            phase=phase,
            rule=body.rule,
            ballot_format=body.ballot_format.model_dump(),
            allow_replacement=body.allow_replacement,
            min_age=body.min_age,
            preselection=body.preselection.model_dump(),
            eligible_population=body.eligible_population,
            phase_dates=body.model_dump(mode="json")["phase_dates"],
            results=None,
            source_meta=source_meta,
            created_at=now(),
            created_by=actor.sub,
        )
    )
    rows = [
        {
            "id": new_id(),
            "edition_id": edition_id,
            "name": e.name,
            "district": e.district,
            "amount_cents": e.amount_cents,
        }
        for e in body.envelopes
    ]
    await session.execute(sa.insert(envelopes), rows)
    facts = [
        EnvelopeFacts(
            envelope_id=r["id"],
            name=r["name"],
            district=r["district"],
            amount_cents=r["amount_cents"],
        )
        for r in rows
    ]
    await record(
        session,
        make_event(
            EditionCreated(edition_id=edition_id, name=body.name, envelopes=facts),
            aggregate_id=edition_id,
            territory=territory,
            actor=actor.sub,
        ),
    )
    shares = None
    if sealed:
        holders = body.keyholders or [actor.sub]
        threshold = body.threshold or len(holders) // 2 + 1
        if threshold > len(holders):
            raise Invalid(
                f"The threshold ({threshold}) exceeds the {len(holders)} keyholder(s).",
                field="body.threshold",
            )
        key = sealing.new_edition_key(threshold=threshold, keyholders=len(holders))
        await session.execute(
            sa.insert(edition_keys).values(
                edition_id=edition_id,
                public_key=key.public_key,
                threshold=threshold,
                keyholders=holders,
            )
        )
        shares = [
            {"keyholder": holder, "share": share}
            for holder, share in zip(holders, key.shares, strict=True)
        ]
    edition = await get_edition(session, edition_id)
    view = edition_view(edition, await edition_envelopes(session, edition_id))
    if shares is not None:
        view["keyholder_shares"] = shares
    return view


async def change_phase(
    session: AsyncSession, *, edition_id: str, target: str, actor: Principal, territory: Territory
) -> dict[str, Any]:
    edition = await get_edition(session, edition_id, lock=True)
    domain.next_phase(edition["phase"], target)
    if target == "assessment":
        await _close_preselection(session, edition=edition)
    if target == "voting":
        pending = await session.scalar(
            sa.select(sa.func.count())
            .select_from(proposals)
            .where(proposals.c.edition_id == edition_id, proposals.c.status == "promoted")
        )
        if pending:
            raise Conflict(
                f"{pending} proposal(s) still await their assessment.",
                code="assessments_pending",
                params={"count": pending},
            )
    if target == "delivery" and edition["results"] is None:
        raise Conflict("Publish the results before moving to delivery.", code="results_first")
    # Conditional update: two staff members clicking at once move the edition once.
    moved = await session.execute(
        sa.update(editions)
        .where(editions.c.id == edition_id, editions.c.phase == edition["stored_phase"])
        .values(phase=target)
    )
    if moved.rowcount != 1:
        raise Conflict(
            "The edition changed phase meanwhile; reload and retry.", code="edition_changed"
        )
    await record(
        session,
        make_event(
            PhaseChanged(edition_id=edition_id, phase=target),
            aggregate_id=edition_id,
            territory=territory,
            actor=actor.sub,
        ),
    )
    edition["phase"] = target
    return edition_view(edition, await edition_envelopes(session, edition_id))


async def _close_preselection(session: AsyncSession, *, edition: dict) -> None:
    rows = await session.execute(
        sa.select(proposals.c.id, proposals.c.supports).where(
            proposals.c.edition_id == edition["id"], proposals.c.status == "submitted"
        )
    )
    counts = {pid: n for pid, n in rows.all()}
    rules = edition["preselection"] or {}
    going_on = domain.promoted(counts, threshold=rules.get("threshold"), top_n=rules.get("top_n"))
    for pid in counts:
        await session.execute(
            sa.update(proposals)
            .where(proposals.c.id == pid)
            .values(status="promoted" if pid in going_on else "not_promoted")
        )


# --- proposals --------------------------------------------------------------------------


def proposal_view(row: dict, *, public: bool = True) -> dict[str, Any]:
    view = {
        "id": row["id"],
        "edition_id": row["edition_id"],
        "envelope_id": row["envelope_id"],
        "external_id": row["external_id"],
        "author_id": row["author_id"],
        "channel": row["channel"],
        "title": row["title"],
        "description": row["description"],
        "neighbourhood": row["neighbourhood"],
        "proposed_cost_cents": row["proposed_cost_cents"],
        "version": row["version"],
        "status": row["status"],
        "supports": row["supports"],
        "assessment": None
        if row["feasible"] is None
        else {
            "feasible": row["feasible"],
            "reason": row["assessment_reason"],
            "cost_cents": row["cost_cents"],
        },
    }
    if not public:
        view["entered_by"] = row["entered_by"]
        view["assessed_by"] = row["assessed_by"]
    return view


async def get_proposal(session: AsyncSession, edition_id: str, proposal_id: str) -> dict:
    row = (
        (
            await session.execute(
                sa.select(proposals).where(
                    proposals.c.id == proposal_id, proposals.c.edition_id == edition_id
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"No proposal '{proposal_id}' in this edition.", code="proposal_not_found")
    return dict(row)


async def submit_proposal(
    session: AsyncSession,
    *,
    edition_id: str,
    body: ProposalIn,
    actor: Principal,
    runtime_territory,
    desk: bool = False,
) -> dict[str, Any]:
    edition = await get_edition(session, edition_id)
    domain.require_phase(edition["phase"], "proposals", action="submit a proposal")
    envelope = await get_envelope(session, edition_id, body.envelope_id)
    if desk:
        assert isinstance(body, DeskProposalIn)
        author, neighbourhood, channel, entered_by = (
            body.author_id,
            body.neighbourhood,
            "desk",
            actor.sub,
        )
    else:
        if not actor.verified:
            raise VerificationRequired(
                "Only verified residents can submit proposals: staff verify your account first.",
                code="unverified",
            )
        author, neighbourhood, channel, entered_by = actor.sub, actor.neighbourhood, "online", None
    if envelope["district"] is not None and neighbourhood != envelope["district"]:
        raise Forbidden(
            f"The '{envelope['district']}' envelope takes proposals from its residents.",
            code="other_district",
            params={"district": envelope["district"]},
        )
    proposal_id = new_id()
    at = now()
    values = {
        "id": proposal_id,
        "edition_id": edition_id,
        "envelope_id": envelope["id"],
        "external_id": None,
        "author_id": author,
        "channel": channel,
        "entered_by": entered_by,
        "title": body.title,
        "description": body.description,
        "neighbourhood": neighbourhood,
        "proposed_cost_cents": body.proposed_cost_cents,
        "version": 1,
        "status": "submitted",
        "supports": 0,
        "created_at": at,
        "updated_at": at,
    }
    await session.execute(sa.insert(proposals).values(**values))
    await _revision(session, values, edited_by=entered_by or author or actor.sub, at=at)
    await record(
        session,
        make_event(
            ProposalSubmitted(
                proposal_id=proposal_id,
                edition_id=edition_id,
                author_id=author or f"desk:{proposal_id}",
                neighbourhood=neighbourhood,
                channel=channel,
                estimated_cost_cents=body.proposed_cost_cents,
            ),
            aggregate_id=proposal_id,
            territory=runtime_territory(neighbourhood),
            actor=author,
        ),
    )
    return proposal_view(await get_proposal(session, edition_id, proposal_id))


async def _revision(session: AsyncSession, values: dict, *, edited_by: str, at: datetime) -> None:
    await session.execute(
        sa.insert(proposal_revisions).values(
            proposal_id=values["id"],
            version=values["version"],
            title=values["title"],
            description=values["description"],
            proposed_cost_cents=values["proposed_cost_cents"],
            edited_by=edited_by,
            edited_at=at,
        )
    )


async def edit_proposal(
    session: AsyncSession,
    *,
    edition_id: str,
    proposal_id: str,
    body: ProposalEditIn,
    actor: Principal,
) -> dict[str, Any]:
    edition = await get_edition(session, edition_id)
    domain.require_phase(edition["phase"], "proposals", "pre_selection", action="edit a proposal")
    proposal = await get_proposal(session, edition_id, proposal_id)
    is_author = (
        proposal["channel"] == "online"
        and proposal["author_id"] is not None
        and proposal["author_id"] == actor.sub
    )
    # Staff type in paper proposals, so they correct them; an online proposal is its
    # author's words. Every version records who edited it and when (proposal_revisions).
    staff_on_paper = actor.is_staff and proposal["channel"] == "desk"
    if not (is_author or staff_on_paper):
        raise Forbidden(
            "Only the author edits an online proposal; staff edit only paper proposals.",
            code="proposal_not_author",
        )
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise Invalid("Nothing to change.", field="body", code="nothing_to_change")
    values = {**proposal, **changes, "version": proposal["version"] + 1}
    at = now()
    # Optimistic concurrency: the version we read must still be the current one.
    updated = await session.execute(
        sa.update(proposals)
        .where(proposals.c.id == proposal_id, proposals.c.version == proposal["version"])
        .values(**changes, version=values["version"], updated_at=at)
    )
    if updated.rowcount != 1:
        raise Conflict(
            "The proposal was edited meanwhile; reload and retry.", code="proposal_changed"
        )
    await _revision(session, values, edited_by=actor.sub, at=at)
    return proposal_view(await get_proposal(session, edition_id, proposal_id))


async def proposal_history(
    session: AsyncSession, *, edition_id: str, proposal_id: str
) -> list[dict[str, Any]]:
    await get_proposal(session, edition_id, proposal_id)
    rows = await session.execute(
        sa.select(proposal_revisions)
        .where(proposal_revisions.c.proposal_id == proposal_id)
        .order_by(proposal_revisions.c.version)
    )
    return [
        {
            "version": r["version"],
            "title": r["title"],
            "description": r["description"],
            "proposed_cost_cents": r["proposed_cost_cents"],
            "edited_by": r["edited_by"],
            "edited_at": r["edited_at"].isoformat() if r["edited_at"] else None,
        }
        for r in rows.mappings()
    ]


async def list_proposals(session: AsyncSession, *, edition_id: str) -> list[dict[str, Any]]:
    await get_edition(session, edition_id)
    rows = await session.execute(
        sa.select(proposals)
        .where(proposals.c.edition_id == edition_id)
        .order_by(proposals.c.created_at, proposals.c.id)
    )
    return [proposal_view(dict(r)) for r in rows.mappings()]


async def support_proposal(
    session: AsyncSession,
    *,
    edition_id: str,
    proposal_id: str,
    actor: Principal,
    territory: Territory,
) -> dict[str, Any]:
    edition = await get_edition(session, edition_id)
    domain.require_phase(edition["phase"], "pre_selection", action="support a proposal")
    if not actor.verified:
        raise VerificationRequired(
            "Only verified residents can support proposals.", code="unverified"
        )
    proposal = await get_proposal(session, edition_id, proposal_id)
    envelope = await get_envelope(session, edition_id, proposal["envelope_id"])
    if envelope["district"] is not None and actor.neighbourhood != envelope["district"]:
        raise Forbidden(
            f"Only residents of '{envelope['district']}' can support this proposal.",
            code="other_district",
            params={"district": envelope["district"]},
        )
    added = await session.execute(
        insert_ignoring_duplicates(session, supports).values(
            proposal_id=proposal_id, supporter_id=actor.sub
        )
    )
    if added.rowcount == 1:
        await session.execute(
            sa.update(proposals)
            .where(proposals.c.id == proposal_id)
            .values(supports=proposals.c.supports + 1)
        )
        await record(
            session,
            make_event(
                ProposalSupported(
                    proposal_id=proposal_id,
                    edition_id=edition_id,
                    neighbourhood=actor.neighbourhood,
                ),
                aggregate_id=proposal_id,
                territory=territory,
                actor=actor.sub,
            ),
        )
    return {"proposal_id": proposal_id, "supported": True, "new": added.rowcount == 1}


async def supports_of(session: AsyncSession, *, edition_id: str, supporter_id: str) -> dict:
    """The proposals someone supports in an edition (which must exist)."""
    await get_edition(session, edition_id)
    ids = await supported_by(session, edition_id=edition_id, supporter_id=supporter_id)
    return {"proposal_ids": ids}


async def supported_by(session: AsyncSession, *, edition_id: str, supporter_id: str) -> list[str]:
    """The proposals of an edition this resident supports (shown as "supported" to them)."""
    rows = await session.execute(
        sa.select(supports.c.proposal_id)
        .join(proposals, proposals.c.id == supports.c.proposal_id)
        .where(proposals.c.edition_id == edition_id, supports.c.supporter_id == supporter_id)
    )
    return sorted(rows.scalars())


async def assess_proposal(
    session: AsyncSession,
    *,
    edition_id: str,
    proposal_id: str,
    body: AssessmentIn,
    actor: Principal,
    territory: Territory,
) -> dict[str, Any]:
    edition = await get_edition(session, edition_id)
    domain.require_phase(edition["phase"], "assessment", action="assess a proposal")
    problem = domain.assessment_problem(
        feasible=body.feasible, reason=body.reason, cost_cents=body.cost_cents
    )
    if problem:
        raise Invalid(problem, field="body.cost_cents" if body.reason.strip() else "body.reason")
    proposal = await get_proposal(session, edition_id, proposal_id)
    if proposal["author_id"] is not None and proposal["author_id"] == actor.sub:
        raise Forbidden(
            "Nobody assesses their own proposal: another reviewer must.", code="own_assessment"
        )
    if proposal["status"] not in ("promoted", "feasible", "unfeasible"):
        raise Conflict(
            f"A proposal in status '{proposal['status']}' is not assessed.",
            code="not_assessable",
            params={"status": proposal["status"]},
        )
    await session.execute(
        sa.update(proposals)
        .where(proposals.c.id == proposal_id)
        .values(
            status="feasible" if body.feasible else "unfeasible",
            feasible=body.feasible,
            assessment_reason=body.reason,
            cost_cents=body.cost_cents,
            assessed_by=actor.sub,
            updated_at=now(),
        )
    )
    await record(
        session,
        make_event(
            ProposalAssessed(
                proposal_id=proposal_id,
                edition_id=edition_id,
                feasible=body.feasible,
                cost_cents=body.cost_cents,
            ),
            aggregate_id=proposal_id,
            territory=territory,
            actor=actor.sub,
        ),
    )
    return proposal_view(await get_proposal(session, edition_id, proposal_id))


async def extend_voting(
    session: AsyncSession, *, edition_id: str, until: date, reason: str, actor: Principal
) -> dict[str, Any]:
    """Staff push voting's last day back (recorded: who, when, why). Only while voting
    runs by the calendar or has just closed by it, before anything is counted."""
    edition = await get_edition(session, edition_id, lock=True)
    if edition["results"] is not None or edition["stored_phase"] not in ("assessment", "voting"):
        raise domain.PhaseViolation(
            "Voting can be extended only before it is closed by hand or counted.",
            phase=edition["phase"],
            code="extension_too_late",
        )
    domain.require_phase(edition["phase"], "voting", "results", action="extend voting")
    _, last = domain.voting_window(edition["phase_dates"], edition.get("extended_until"))
    if until < local_today() or (last is not None and until <= last):
        raise Invalid(
            "The new last day must be today or later, and after the current last day "
            f"({last.isoformat() if last else 'none'}).",
            field="body.until",
            code="extension_day",
            params={"last_day": last.isoformat() if last else None},
        )
    await session.execute(
        sa.insert(voting_extensions).values(
            id=new_id(),
            edition_id=edition_id,
            until=until,
            reason=reason,
            extended_by=actor.sub,
            extended_at=now(),
        )
    )
    edition = await get_edition(session, edition_id)
    return edition_view(edition, await edition_envelopes(session, edition_id))
