"""Tallying per envelope, published results, delivery milestones, and pabulib interop."""

from __future__ import annotations

import random
import secrets
from collections import Counter
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.contracts.budget import (
    EnvelopeResult,
    ProjectMilestone,
    ResultProject,
    ResultsPublished,
    Turnout,
)
from libs.common.events import Territory, make_event
from libs.common.ids import new_id
from libs.common.outbox import record
from libs.common.problems import Conflict, Invalid, NotFound
from services.budget import domain, pabulib, sealing, shamir
from services.budget.config import TerritoryConfig
from services.budget.db import (
    ballots,
    edition_keys,
    editions,
    milestones,
    participations,
    proposals,
    sealed_ballots,
)
from services.budget.editions import (
    ballot_format,
    create_edition,
    edition_envelopes,
    get_edition,
    get_proposal,
    now,
)
from services.budget.schemas import BallotFormatIn, EditionIn, EnvelopeIn


async def envelope_ballots(session: AsyncSession, *, envelope_id: str) -> list[dict]:
    """An envelope's ballot contents, in the order of their random ids (not of arrival)."""
    rows = await session.execute(
        sa.select(ballots.c.contents)
        .where(ballots.c.envelope_id == envelope_id)
        .order_by(ballots.c.id)
    )
    return [c for (c,) in rows.all()]


async def _envelope_projects(session: AsyncSession, envelope_id: str) -> dict[str, dict]:
    rows = await session.execute(
        sa.select(proposals).where(
            proposals.c.envelope_id == envelope_id,
            proposals.c.status.in_(("feasible", "selected", "not_selected")),
        )
    )
    return {r["id"]: dict(r) for r in rows.mappings()}


def _result_project(row: dict) -> ResultProject:
    return ResultProject(
        proposal_id=row["id"],
        title=row["title"],
        cost_cents=row["cost_cents"],
        author_id=row["author_id"],
        neighbourhood=row["neighbourhood"],
    )


async def _gaps(session: AsyncSession, *, edition_id: str) -> dict[str, int]:
    """Per envelope: participations recorded without a stored ballot (lost in a crash, or
    still waiting in another replica's memory)."""
    took_part = dict(
        (
            await session.execute(
                sa.select(participations.c.envelope_id, sa.func.count())
                .where(participations.c.edition_id == edition_id)
                .group_by(participations.c.envelope_id)
            )
        ).all()
    )
    gaps = {}
    for envelope_id, voters in took_part.items():
        stored = await session.scalar(
            sa.select(sa.func.count())
            .select_from(sealed_ballots)
            .where(sealed_ballots.c.envelope_id == envelope_id)
        ) + await session.scalar(
            sa.select(sa.func.count())
            .select_from(ballots)
            .where(ballots.c.envelope_id == envelope_id)
        )
        if voters > stored:
            gaps[envelope_id] = voters - stored
    return gaps


async def open_ballots(session: AsyncSession, *, edition: dict, shares: list[str]) -> None:
    """Open the edition's sealed ballots in memory with the keyholders' shares and store
    them, shuffled and unlinked from their trackers, for the count and the export. The
    sealed bytes and replacement keys are erased; the trackers stay, as the published list
    of counted ballots."""
    try:
        key = sealing.open_key(shares, public_key=edition["public_key"])
    except shamir.BadShares as exc:
        raise Invalid(str(exc), field="body.shares", code="shares_refused") from exc
    envelope_ids = [e["id"] for e in await edition_envelopes(session, edition["id"])]
    rows = await session.execute(
        sa.select(sealed_ballots.c.envelope_id, sealed_ballots.c.sealed).where(
            sealed_ballots.c.envelope_id.in_(envelope_ids), sealed_ballots.c.sealed.is_not(None)
        )
    )
    try:
        opened = [
            {
                "id": secrets.token_hex(16),
                "envelope_id": envelope_id,
                "contents": sealing.unseal(sealed, key=key),
                "receipt_hash": secrets.token_hex(32),
                "replace_key": None,
            }
            for envelope_id, sealed in rows.all()
        ]
    except shamir.BadShares as exc:
        raise Invalid(str(exc), field="body.shares", code="shares_refused") from exc
    random.SystemRandom().shuffle(opened)
    for start in range(0, len(opened), 5000):
        await session.execute(sa.insert(ballots), opened[start : start + 5000])
    await session.execute(
        sa.update(sealed_ballots)
        .where(sealed_ballots.c.envelope_id.in_(envelope_ids))
        .values(sealed=None, replace_key=None)  # nothing left that points at a voter
    )
    await session.execute(
        sa.update(edition_keys)
        .where(edition_keys.c.edition_id == edition["id"])
        .values(opened_at=now())
    )


async def published_results(session: AsyncSession, *, edition_id: str) -> dict[str, Any]:
    edition = await get_edition(session, edition_id)
    if edition["results"] is None:
        raise NotFound(
            "The results of this edition are not published yet.", code="results_unpublished"
        )
    return {"edition_id": edition_id, **edition["results"]}


async def counted_trackers(session: AsyncSession, *, edition_id: str) -> dict[str, Any]:
    """The published list of counted trackers (sorted), per envelope: every voter finds
    their receipt in it; it says nothing of what any ballot said."""
    edition = await get_edition(session, edition_id)
    if edition["results"] is None:
        raise NotFound("The trackers are published with the results.", code="results_unpublished")
    out = []
    for envelope in await edition_envelopes(session, edition_id):
        rows = await session.execute(
            sa.select(sealed_ballots.c.tracker)
            .where(sealed_ballots.c.envelope_id == envelope["id"])
            .order_by(sealed_ballots.c.tracker)
        )
        out.append({"envelope_id": envelope["id"], "trackers": [t for (t,) in rows.all()]})
    return {"edition_id": edition_id, "envelopes": out}


async def publish_results(
    session: AsyncSession,
    *,
    edition_id: str,
    actor: Principal,
    territory: Territory,
    shares: list[str] = (),
    accept_missing: bool = False,
) -> dict[str, Any]:
    edition = await get_edition(session, edition_id, lock=True)
    domain.require_phase(edition["phase"], "results", action="publish the results")
    if edition["results"] is not None:
        raise Conflict(
            "The results of this edition are already published.", code="results_published"
        )
    gaps = await _gaps(session, edition_id=edition_id)
    if gaps and not accept_missing:
        raise Conflict(
            f"{sum(gaps.values())} participation(s) have no stored ballot yet: another "
            "replica may still hold them (retry after BUDGET_BALLOT_FLUSH_SECONDS), or they "
            "were lost in a crash (then count with accept_missing=true; the results say so).",
            code="ballots_missing",
            params={"count": sum(gaps.values())},
            missing=gaps,
        )
    if edition["public_key"] is not None:
        await open_ballots(session, edition=edition, shares=list(shares))
    fmt = ballot_format(edition)
    envelope_results: list[EnvelopeResult] = []
    explained: list[dict[str, Any]] = []
    for envelope in await edition_envelopes(session, edition_id):
        projects = await _envelope_projects(session, envelope["id"])
        outcome = domain.tally_envelope(
            rule=edition["rule"],
            fmt=fmt,
            costs={pid: p["cost_cents"] for pid, p in projects.items()},
            amount_cents=envelope["amount_cents"],
            ballots=await envelope_ballots(session, envelope_id=envelope["id"]),
            labels={pid: p["external_id"] for pid, p in projects.items() if p["external_id"]},
        )
        for pid in projects:
            await session.execute(
                sa.update(proposals)
                .where(proposals.c.id == pid)
                .values(status="selected" if pid in outcome.selected else "not_selected")
            )
        envelope_results.append(
            EnvelopeResult(
                envelope_id=envelope["id"],
                district=envelope["district"],
                amount_cents=envelope["amount_cents"],
                allocated_cents=outcome.allocated_cents,
                leftover_cents=outcome.leftover_cents,
                selected=[_result_project(projects[p]) for p in outcome.selected],
                feasible_unselected=[
                    _result_project(projects[p.project_id])
                    for p in outcome.projects
                    if not p.selected
                ],
            )
        )
        explained.append(
            {
                "envelope_id": envelope["id"],
                "name": envelope["name"],
                "district": envelope["district"],
                "amount_cents": envelope["amount_cents"],
                "allocated_cents": outcome.allocated_cents,
                "leftover_cents": outcome.leftover_cents,
                "ballots": outcome.voters,
                "ballots_missing": gaps.get(envelope["id"], 0),
                "selected": outcome.selected,
                "projects": [
                    {
                        "proposal_id": p.project_id,
                        "external_id": projects[p.project_id]["external_id"],
                        "title": projects[p.project_id]["title"],
                        "cost_cents": projects[p.project_id]["cost_cents"],
                        "selected": p.selected,
                        "status": p.status,
                        "reason": p.reason,
                        "score": p.score,
                        "votes": p.votes,
                        "step": p.step,
                    }
                    for p in outcome.projects
                ],
                "explanation": outcome.explanation,
            }
        )
    turnout = await _turnout(session, edition=edition, envelope_results=explained)
    results = {
        "rule": edition["rule"],
        "rule_description": domain.RULE_DESCRIPTIONS[edition["rule"]],
        "pabulib_rule": domain.PABULIB_RULES[edition["rule"]],
        "recompute": {
            "export": f"/editions/{edition_id}/export.pb",
            "command": f"sharitories budget tally {edition_id}.pb --rule {edition['rule']}",
        },
        "envelopes": explained,
        "turnout": [t.model_dump() for t in turnout],
    }
    await session.execute(
        sa.update(editions).where(editions.c.id == edition_id).values(results=results)
    )
    await record(
        session,
        make_event(
            ResultsPublished(
                edition_id=edition_id,
                rule=edition["rule"],
                envelopes=envelope_results,
                turnout=turnout,
                kind=edition.get("kind") or "pb",
            ),
            aggregate_id=edition_id,
            territory=territory,
            actor=actor.sub,
        ),
    )
    return {"edition_id": edition_id, **results}


async def _turnout(
    session: AsyncSession, *, edition: dict, envelope_results: list[dict]
) -> list[Turnout]:
    """Voters (distinct people, any envelope) per neighbourhood over the configured eligible
    population; the city-wide line (district None) sums every neighbourhood. An imported
    edition has no participation records: its voters are its ballots."""
    rows = await session.execute(
        sa.select(participations.c.neighbourhood, participations.c.voter_id)
        .where(participations.c.edition_id == edition["id"])
        .distinct()
    )
    per_district = Counter(n for n, _ in rows.all())
    eligible: dict[str, int] = edition["eligible_population"] or {}
    total_voters = sum(per_district.values())
    if not total_voters and envelope_results:
        total_voters = max(e["ballots"] for e in envelope_results)
    lines = [
        Turnout(district=d, voters=per_district.get(d, 0), eligible=eligible.get(d, 0))
        for d in sorted(set(eligible) | {d for d in per_district if d})
    ]
    lines.insert(0, Turnout(district=None, voters=total_voters, eligible=sum(eligible.values())))
    return lines


async def add_milestone(
    session: AsyncSession,
    *,
    edition_id: str,
    proposal_id: str,
    status: str,
    on,
    note: str,
    actor: Principal,
    territory_for,
) -> dict[str, Any]:
    edition = await get_edition(session, edition_id)
    domain.require_phase(edition["phase"], "delivery", action="record a delivery milestone")
    proposal = await get_proposal(session, edition_id, proposal_id)
    if proposal["status"] != "selected":
        raise Conflict("Only winning projects have delivery milestones.", code="not_a_winner")
    previous = await session.scalar(
        sa.select(milestones.c.status)
        .where(milestones.c.proposal_id == proposal_id)
        .order_by(milestones.c.recorded_at.desc(), milestones.c.id.desc())
        .limit(1)
    )
    if not domain.milestone_allowed(previous, status):
        raise Conflict(
            f"A project already '{previous}' cannot go back to '{status}'.",
            code="milestone_backwards",
            params={"previous": previous, "status": status},
        )
    await session.execute(
        sa.insert(milestones).values(
            id=new_id(),
            proposal_id=proposal_id,
            status=status,
            on=on,
            note=note,
            recorded_by=actor.sub,
            recorded_at=now(),
        )
    )
    await record(
        session,
        make_event(
            ProjectMilestone(
                edition_id=edition_id,
                proposal_id=proposal_id,
                status=status,
                on=on,
                cost_cents=proposal["cost_cents"],
                neighbourhood=proposal["neighbourhood"],
                note=note,
            ),
            aggregate_id=proposal_id,
            territory=territory_for(proposal["neighbourhood"]),
            actor=actor.sub,
        ),
    )
    return await project_delivery(session, edition_id=edition_id, proposal_id=proposal_id)


async def project_delivery(
    session: AsyncSession, *, edition_id: str, proposal_id: str
) -> dict[str, Any]:
    proposal = await get_proposal(session, edition_id, proposal_id)
    rows = await session.execute(
        sa.select(milestones)
        .where(milestones.c.proposal_id == proposal_id)
        .order_by(milestones.c.recorded_at, milestones.c.id)
    )
    steps = [
        {"status": m["status"], "on": m["on"].isoformat(), "note": m["note"]}
        for m in rows.mappings()
    ]
    return {
        "proposal_id": proposal_id,
        "title": proposal["title"],
        "status": steps[-1]["status"] if steps else None,
        "milestones": steps,
    }


# --- pabulib ----------------------------------------------------------------------------

PB_KINDS = {"approval": "approval", "choose-1": "approval", "cumulative": "cumulative"}


def _cents(value: Fraction, what: str) -> int:
    cents = value * 100
    if cents.denominator != 1:
        raise Invalid(f"{what} is not a whole number of cents: {value}.", field="body")
    return int(cents)


async def import_pb(
    session: AsyncSession,
    *,
    text: str,
    rule: str,
    actor: Principal,
    territory: Territory,
) -> dict[str, Any]:
    """A .pb file becomes a closed edition (phase `results`): one city-wide envelope, its
    projects as feasible proposals, its votes as anonymous ballots. Then publish results."""
    try:
        election = pabulib.parse(text)
        budget = election.budget
    except Exception as exc:
        raise Invalid(f"Not a readable .pb file: {exc}", field="body") from exc
    kind = election.vote_type
    if kind == "ordinal":
        fmt = BallotFormatIn(kind="ranking", min_projects=0)
    elif kind in PB_KINDS:
        total = None
        if kind == "cumulative":  # without max_sum_points: no limit worth checking
            total = int(Fraction(election.meta.get("max_sum_points") or "0")) or 10**9
        fmt = BallotFormatIn(kind=PB_KINDS[kind], min_projects=0, total_points=total)
    else:
        raise Invalid(f"vote_type '{kind}' cannot be imported.", field="body")
    name = election.meta.get("description") or election.meta.get("instance") or "Imported"
    body = EditionIn(
        name=name[:200],
        envelopes=[EnvelopeIn(name=name[:200], amount_cents=_cents(budget, "The budget"))],
        rule=rule,
        ballot_format=fmt,
    )
    view = await create_edition(
        session,
        body=body,
        actor=actor,
        territory=territory,
        phase="results",
        source_meta=dict(election.meta),
        sealed=False,  # a published file's ballots are public already
    )
    envelope_id = view["envelopes"][0]["id"]
    at = now()
    ids: dict[str, str] = {}
    rows = []
    for project in election.projects.values():
        ids[project.project_id] = new_id()
        rows.append(
            {
                "id": ids[project.project_id],
                "edition_id": view["id"],
                "envelope_id": envelope_id,
                "external_id": project.project_id,
                "author_id": None,
                "channel": "desk",
                "entered_by": actor.sub,
                "title": (project.fields.get("name") or project.project_id)[:300],
                "description": project.fields.get("description", ""),
                "neighbourhood": None,
                "proposed_cost_cents": _cents(project.cost, f"Project {project.project_id}"),
                "version": 1,
                "status": "feasible",
                "supports": 0,
                "feasible": True,
                "assessment_reason": "Imported from a pabulib file.",
                "cost_cents": _cents(project.cost, f"Project {project.project_id}"),
                "assessed_by": actor.sub,
                "created_at": at,
                "updated_at": at,
            }
        )
    if rows:
        await session.execute(sa.insert(proposals), rows)
    ballot_rows = []
    for vote in election.votes:
        unknown = [p for p in vote.projects if p not in ids]
        if unknown:
            raise Invalid(f"Voter {vote.voter_id} votes for unknown projects {unknown}.")
        if fmt.kind == "cumulative":
            points = pabulib.ballot_points(election, vote)
            contents = {"points": {ids[p]: int(n) for p, n in points.items() if n}}
        elif fmt.kind == "ranking" and vote.points is not None:
            points = pabulib.ballot_points(election, vote)
            contents = {
                "projects": [ids[p] for p in vote.projects],
                "points": {ids[p]: int(n) for p, n in points.items() if n},
            }
        else:
            contents = {"projects": [ids[p] for p in vote.projects]}
        ballot_rows.append(
            {
                "id": secrets.token_hex(16),
                "envelope_id": envelope_id,
                "contents": contents,
                "receipt_hash": secrets.token_hex(32),
                "replace_key": None,
            }
        )
    for start in range(0, len(ballot_rows), 5000):
        await session.execute(sa.insert(ballots), ballot_rows[start : start + 5000])
    return {**view, "projects": len(rows), "ballots": len(ballot_rows)}


async def export_pb(
    session: AsyncSession, *, edition_id: str, envelope_id: str | None, territory: TerritoryConfig
) -> str:
    """A closed edition's envelope as .pb: projects (by their file id when imported),
    anonymous ballots numbered in random-id order, and the published result."""
    edition = await get_edition(session, edition_id)
    domain.require_phase(edition["phase"], *domain.CLOSED_PHASES, action="export the edition")
    envelope_rows = await edition_envelopes(session, edition_id)
    envelope = next(
        (
            e
            for e in envelope_rows
            if e["id"] == envelope_id or (envelope_id is None and e["district"] is None)
        ),
        None,
    )
    if envelope is None:
        raise Invalid(f"No envelope '{envelope_id}' in this edition.", field="query.envelope_id")
    projects = await _envelope_projects(session, envelope["id"])
    label = {pid: (p["external_id"] or pid) for pid, p in projects.items()}
    fmt = ballot_format(edition)
    pb_kind = domain.PABULIB_VOTE_TYPES[fmt.kind]
    votes = []
    for n, contents in enumerate(await envelope_ballots(session, envelope_id=envelope["id"]), 1):
        given = [
            (label[p], Fraction(k))
            for p, k in domain.ballot_points(fmt, contents).items()
            if p in label
        ]
        if fmt.kind == "cumulative" or fmt.kind == "ranking":
            # Ordinal ballots carry their points too (first of k = k … last = 1), so that
            # the file says exactly which utilities MES used.
            if fmt.kind == "ranking":
                given.sort(key=lambda item: -item[1])
            votes.append(
                pabulib.Vote(str(n), tuple(p for p, _ in given), tuple(k for _, k in given))
            )
        else:
            votes.append(pabulib.Vote(str(n), tuple(p for p, _ in given)))
    meta = {
        "description": f"{edition['name']} — {envelope['name']}",
        "country": territory.country,
        "unit": territory.name,
        "instance": edition_id,
        "num_projects": str(len(projects)),
        "num_votes": str(len(votes)),
        "budget": pabulib.format_number(domain.to_units(envelope["amount_cents"])),
        "vote_type": pb_kind,
        "rule": domain.PABULIB_RULES[edition["rule"]],
        "comment": domain.RULE_DESCRIPTIONS[edition["rule"]],
        "currency": territory.currency,
    }
    if envelope["district"]:
        name = territory.neighbourhoods.get(envelope["district"], envelope["district"])
        meta["district"] = meta["subunit"] = name
    else:
        meta["subunit"] = territory.name
    if fmt.kind == "cumulative" and fmt.total_points:
        meta["max_sum_points"] = str(fmt.total_points)
    if fmt.max_projects:
        meta["max_length"] = str(fmt.max_projects)
    if fmt.min_projects:
        meta["min_length"] = str(fmt.min_projects)
    election = pabulib.Election(
        meta=meta,
        projects={
            label[pid]: pabulib.Project(
                label[pid], domain.to_units(p["cost_cents"]), {"name": p["title"]}
            )
            for pid, p in sorted(projects.items(), key=lambda kv: label[kv[0]])
        },
        votes=votes,
        project_columns=["project_id", "cost", "name"],
        vote_columns=["voter_id", "vote"],
    )
    selected = None
    if edition["results"]:
        for env in edition["results"]["envelopes"]:
            if env["envelope_id"] == envelope["id"]:
                selected = [label[p] for p in env["selected"] if p in label]
    return pabulib.dumps(election, selected)
