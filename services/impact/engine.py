"""The report engine: SQL aggregates over the fact tables, then the pure indicator arithmetic.

`gather(...)` reads one window (optionally one neighbourhood) into a `WindowData` of plain
counts and sums; `indicator_values(...)` turns it into indicator values with a catalogue. The
facts do not depend on the catalogue, so the same events give a report under any version.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.impact import indicators as ind
from services.impact.catalogue import Catalogue, Range
from services.impact.handlers import LIVE, Projection
from services.impact.periods import Window

LOAN_TYPES_MET = (
    "exchange.loan.accepted",
    "exchange.loan.picked_up",
    "exchange.loan.returned",
    "exchange.loan.overdue",
    "exchange.loan.disputed",
)
LENT_TYPES = ("exchange.loan.picked_up", "exchange.loan.returned", "exchange.loan.overdue")
RETURNED = "exchange.loan.returned"
COMPLETED = "exchange.service.completed"

SUM_COLUMNS = (
    "quantity",
    "days",
    "minutes",
    "passenger_m",
    "cents",
    "matched_cents",
    "commission_cents",
)


@dataclass
class Sums:
    count: int = 0
    quantity: int = 0
    days: int = 0
    minutes: int = 0
    passenger_m: int = 0
    cents: int = 0
    matched_cents: int = 0
    commission_cents: int = 0

    def add(self, other: Sums) -> None:
        for name in ("count", *SUM_COLUMNS):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class EditionData:
    edition: str
    proposals: int = 0
    supports: int = 0
    ballots: int = 0
    envelope_cents: int = 0
    results_published: bool = False
    allocated_cents: int = 0
    leftover_cents: int = 0
    selected: int = 0
    delivered: int = 0
    delivered_cents: int = 0
    voters: int | None = None
    eligible: int | None = None


@dataclass
class WindowData:
    """Counts and sums of one window, straight from SQL, no factor applied."""

    window: Window
    neighbourhood: str | None
    # (type, neighbourhood, category, subcategory) -> sums over facts
    sums: dict[tuple[str, str | None, str | None, str | None], Sums] = field(default_factory=dict)
    active: int = 0
    active_by_neighbourhood: dict[str | None, int] = field(default_factory=dict)
    # distinct members by (role, type, neighbourhood) and by (role, type, category)
    people_by_neighbourhood: dict[tuple[str, str, str | None], int] = field(default_factory=dict)
    people_by_category: dict[tuple[str, str, str | None], int] = field(default_factory=dict)
    loans_requested: int = 0
    loans_met: int = 0
    match_seconds: list[int] = field(default_factory=list)
    idle_items: int = 0
    refunded_after_success_cents: int = 0
    members_by_profile: dict[str | None, int] = field(default_factory=dict)
    editions: list[EditionData] = field(default_factory=list)

    # --- views ---------------------------------------------------------------------------

    def total(self, event_type: str, **match: str | None) -> Sums:
        out = Sums()
        for (t, nbhd, cat, sub), sums in self.sums.items():
            if t != event_type:
                continue
            row = {"neighbourhood": nbhd, "category": cat, "subcategory": sub}
            if all(row[k] == v for k, v in match.items()):
                out.add(sums)
        return out

    def by(self, event_type: str, dimension: str, **match: str | None) -> dict[Any, Sums]:
        out: dict[Any, Sums] = defaultdict(Sums)
        index = {"neighbourhood": 1, "category": 2, "subcategory": 3}[dimension]
        for key, sums in self.sums.items():
            if key[0] != event_type:
                continue
            row = {"neighbourhood": key[1], "category": key[2], "subcategory": key[3]}
            if all(row[k] == v for k, v in match.items()):
                out[key[index]].add(sums)
        return dict(out)


async def gather(
    session: AsyncSession,
    window: Window,
    *,
    neighbourhood: str | None = None,
    projection: Projection = LIVE,
    with_editions: bool = True,
) -> WindowData:
    """Read the counts and sums of `window` (and `neighbourhood`, if given)."""
    f, a = projection.facts, projection.activity
    if window.kind == "edition":
        window = await resolve_edition(session, window, projection=projection)
    data = WindowData(window=window, neighbourhood=neighbourhood)
    in_window = [f.c.day >= window.start, f.c.day <= window.end]
    act_window = [a.c.day >= window.start, a.c.day <= window.end]
    if neighbourhood is not None:
        in_window.append(f.c.neighbourhood == neighbourhood)
        act_window.append(a.c.neighbourhood == neighbourhood)

    sums = [func.coalesce(func.sum(getattr(f.c, c)), 0) for c in SUM_COLUMNS]
    keys = (f.c.type, f.c.neighbourhood, f.c.category, f.c.subcategory)
    rows = await session.execute(
        select(*keys, func.count(), *sums).where(*in_window).group_by(*keys)
    )
    for t, nbhd, cat, sub, count, *values in rows:
        data.sums[(t, nbhd, cat, sub)] = Sums(count, *(int(v) for v in values))

    data.active = (
        await session.scalar(select(func.count(distinct(a.c.member_id))).where(*act_window))
    ) or 0
    rows = await session.execute(
        select(a.c.neighbourhood, func.count(distinct(a.c.member_id)))
        .where(*act_window)
        .group_by(a.c.neighbourhood)
    )
    data.active_by_neighbourhood = {n: c for n, c in rows}
    for column, target in (
        (a.c.neighbourhood, data.people_by_neighbourhood),
        (a.c.category, data.people_by_category),
    ):
        rows = await session.execute(
            select(a.c.role, a.c.type, column, func.count(distinct(a.c.member_id)))
            .where(*act_window)
            .group_by(a.c.role, a.c.type, column)
        )
        target.update({(r, t, k): c for r, t, k, c in rows})

    # Loan requests are a cohort by request day; every loan event carries its request time,
    # so a loan known only from its return still counts as requested (and met).
    cohort = [
        f.c.ref_day >= window.start,
        f.c.ref_day <= window.end,
        f.c.type.like("exchange.loan.%"),
    ]
    if neighbourhood is not None:
        cohort.append(f.c.neighbourhood == neighbourhood)
    data.loans_requested = (
        await session.scalar(select(func.count(distinct(f.c.entity))).where(*cohort)) or 0
    )
    data.loans_met = (
        await session.scalar(
            select(func.count(distinct(f.c.entity))).where(*cohort, f.c.type.in_(LOAN_TYPES_MET))
        )
        or 0
    )
    data.match_seconds = list(
        await session.scalars(
            select(f.c.seconds)
            .where(*in_window, f.c.type == "exchange.loan.accepted", f.c.seconds.is_not(None))
            .order_by(f.c.seconds)
        )
    )
    data.idle_items = await _idle_items(session, window, neighbourhood, projection)
    # Refunds reduce money raised only for campaigns that succeeded (a failed campaign's
    # pledges were never raised, so voiding or refunding them changes nothing).
    data.refunded_after_success_cents = int(
        await session.scalar(
            select(func.coalesce(func.sum(f.c.cents), 0)).where(
                *in_window,
                f.c.type == "crowdfunding.pledge.refunded",
                f.c.ref.in_(succeeded_campaigns(f)),
            )
        )
        or 0
    )
    profile_cond = [f.c.type == "exchange.member.joined", f.c.day <= window.end]
    if neighbourhood is not None:
        profile_cond.append(f.c.neighbourhood == neighbourhood)
    rows = await session.execute(
        select(f.c.category, func.count(distinct(f.c.entity)))
        .where(*profile_cond)
        .group_by(f.c.category)
    )
    data.members_by_profile = {k: c for k, c in rows}
    if with_editions:
        data.editions = await editions_of(
            session, window, neighbourhood=neighbourhood, projection=projection
        )
    return data


def succeeded_campaigns(f):
    """The ids of campaigns that succeeded (at any time): a subquery."""
    return select(f.c.entity).where(f.c.type == "crowdfunding.campaign.succeeded")


async def resolve_edition(
    session: AsyncSession, window: Window, *, projection: Projection = LIVE
) -> Window:
    """An edition period spans the days of its own events."""
    f = projection.facts
    first, last = (
        await session.execute(
            select(func.min(f.c.day), func.max(f.c.day)).where(f.c.edition == window.edition)
        )
    ).one()
    if first is None:
        return window
    return Window("edition", window.label, _as_date(first), _as_date(last), window.edition)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def _idle_items(
    session: AsyncSession, window: Window, neighbourhood: str | None, projection: Projection
) -> int:
    """Items listed on or before the first day, not withdrawn by the last, never lent in it."""
    f = projection.facts
    withdrawn = f.alias("withdrawn")
    lent = f.alias("lent")
    conditions = [
        f.c.type == "exchange.item.listed",
        f.c.day <= window.start,
        ~select(withdrawn.c.event_id)
        .where(
            withdrawn.c.type == "exchange.item.withdrawn",
            withdrawn.c.entity == f.c.entity,
            withdrawn.c.day <= window.end,
        )
        .exists(),
        ~select(lent.c.event_id)
        .where(
            lent.c.ref == f.c.entity,
            lent.c.type.in_(LENT_TYPES),
            lent.c.day >= window.start,
            lent.c.day <= window.end,
        )
        .exists(),
    ]
    if neighbourhood is not None:
        conditions.append(f.c.neighbourhood == neighbourhood)
    return await session.scalar(select(func.count(distinct(f.c.entity))).where(*conditions)) or 0


async def editions_of(
    session: AsyncSession,
    window: Window,
    *,
    neighbourhood: str | None = None,
    projection: Projection = LIVE,
) -> list[EditionData]:
    """PB figures of every edition with an event in the window (each over its whole life)."""
    f = projection.facts
    if window.edition:
        names = [window.edition]
    else:
        names = list(
            await session.scalars(
                select(f.c.edition)
                .distinct()
                .where(
                    f.c.edition.is_not(None),
                    f.c.type.like("budget.%"),
                    f.c.day >= window.start,
                    f.c.day <= window.end,
                )
                .order_by(f.c.edition)
            )
        )
    out = []
    for name in names:
        out.append(await _edition(session, name, neighbourhood, f))
    return out


async def _edition(session: AsyncSession, name: str, neighbourhood: str | None, f) -> EditionData:
    data = EditionData(edition=name)
    here = [f.c.edition == name]
    if neighbourhood is not None:
        here.append(f.c.neighbourhood == neighbourhood)
    rows = await session.execute(
        select(
            f.c.type,
            func.count(),
            func.coalesce(func.sum(f.c.quantity), 0),
            func.coalesce(func.sum(f.c.cents), 0),
        )
        .where(
            *here,
            f.c.type.in_(
                [
                    "budget.proposal.submitted",
                    "budget.proposal.supported",
                    "budget.ballot.cast",
                    "budget.edition.created",
                ]
            ),
        )
        .group_by(f.c.type)
    )
    for t, count, quantity, cents in rows:
        if t == "budget.proposal.submitted":
            data.proposals = count
        elif t == "budget.proposal.supported":
            data.supports = count
        elif t == "budget.ballot.cast":
            data.ballots = int(quantity)
        else:
            data.envelope_cents = int(cents)
    # A republished result supersedes the earlier one: the latest (occurred_at, event id) wins.
    latest = await session.scalar(
        select(f.c.event_id)
        .where(f.c.edition == name, f.c.type == "budget.results.published")
        .order_by(f.c.occurred_at.desc(), f.c.event_id.desc())
        .limit(1)
    )
    delivered_ids = set(
        await session.scalars(
            select(f.c.entity)
            .distinct()
            .where(
                f.c.edition == name,
                f.c.type == "budget.project.milestone",
                f.c.subcategory == "delivered",
            )
        )
    )
    if latest is None:
        return data
    data.results_published = True
    parts = (
        await session.execute(select(f).where(f.c.event_id == latest).order_by(f.c.part))
    ).mappings()
    turnout_city, turnout_districts = None, []
    for part in parts:
        nbhd_ok = neighbourhood is None or part["neighbourhood"] == neighbourhood
        if part["category"] == "envelope" and nbhd_ok:
            data.allocated_cents += part["cents"] or 0
            data.leftover_cents += part["matched_cents"] or 0
        elif part["category"] == "selected" and nbhd_ok:
            data.selected += 1
            if part["entity"] in delivered_ids:
                data.delivered += 1
                data.delivered_cents += part["cents"] or 0
        elif part["category"] == "turnout":
            line = (part["quantity"] or 0, part["total"] or 0)
            if part["neighbourhood"] is None:
                turnout_city = line
            elif nbhd_ok:
                turnout_districts.append(line)
    if neighbourhood is None and turnout_city is not None:
        data.voters, data.eligible = turnout_city
    elif turnout_districts:
        data.voters = sum(v for v, _ in turnout_districts)
        data.eligible = sum(e for _, e in turnout_districts)
    return data


# --- from counts to indicator values --------------------------------------------------------------


def loans_by_category(data: WindowData) -> dict[str, int]:
    return {cat or "other": s.count for cat, s in data.by(RETURNED, "category").items()}


def repairs_by_category(data: WindowData) -> dict[str, int]:
    repairs = data.by(COMPLETED, "subcategory", category="repair")
    return {cat or "other": s.count for cat, s in repairs.items()}


def passenger_km(data: WindowData) -> Decimal:
    return Decimal(data.total(COMPLETED, category="carpool").passenger_m) / 1000


def environment(data: WindowData, catalogue: Catalogue) -> dict[str, Range]:
    loans = loans_by_category(data)
    repairs = repairs_by_category(data)
    by_loans = ind.co2e_avoided_by_loans(loans, catalogue)
    by_carpool = ind.co2e_avoided_by_carpool(passenger_km(data), catalogue)
    by_repairs = ind.co2e_avoided_by_repairs(repairs, catalogue)
    return {
        "environment.co2e_avoided_by_loans": by_loans,
        "environment.co2e_avoided_by_carpool": by_carpool,
        "environment.co2e_avoided_by_repairs": by_repairs,
        "environment.co2e_avoided": ind.total([by_loans, by_carpool, by_repairs]),
        "environment.waste_avoided": ind.waste_avoided_by_loans(loans, catalogue)
        + ind.waste_avoided_by_repairs(repairs, catalogue),
    }
