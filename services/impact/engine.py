"""The report engine: SQL over the projection's tables, into plain counts and sums.

`gather(...)` reads one window (optionally one neighbourhood) into a `WindowData` of plain
counts and sums; `city_counts(...)` reads the distinct contributors the suppression pass
needs; the month-by-month series reads its sums, refunds and people per month here too. No
factor is applied here and nothing is suppressed: `report.py` calls this module, then
`publication.py` and `entries.py` turn the counts into published indicator values with a
catalogue, so the same events give a report under any catalogue version. This module
imports neither of them (only `periods.py` and the tables): it never calls back.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.impact import db
from services.impact.aggregates import ACTIVE, LOAN_PREFIX, LOAN_TYPES_MET, PEOPLE, people_scope
from services.impact.db import LIVE, NONE, SUM_COLUMNS
from services.impact.db import Tables as Projection
from services.impact.facts_debate_energy import COMMENTER, ENERGY, HIDDEN, POSTED, RESTORED
from services.impact.periods import EARLIEST_DAY, LATEST_DAY, Window

LENT_TYPES = ("exchange.loan.picked_up", "exchange.loan.returned", "exchange.loan.overdue")
RETURNED = "exchange.loan.returned"
ACCEPTED = "exchange.loan.accepted"
COMPLETED = "exchange.service.completed"
SUCCEEDED = "crowdfunding.campaign.succeeded"
FAILED = "crowdfunding.campaign.failed"
REFUNDED = "crowdfunding.pledge.refunded"


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
    matched: int = 0  # accepted requests with a known wait
    match_middle: list[int] = field(default_factory=list)  # the middle one or two waits
    idle_items: int = 0
    refunded_after_success_cents: int = 0
    members_by_profile: dict[str | None, int] = field(default_factory=dict)
    editions: list[EditionData] = field(default_factory=list)
    # neighbourhood -> (visible comments, their distinct authors); and authors city-wide
    contributions: dict[str | None, tuple[int, int]] = field(default_factory=dict)
    contributors: int = 0
    energy_wh: dict[str | None, int] = field(default_factory=dict)  # neighbourhood -> Wh

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


PARTS = frozenset(
    (
        "sums",
        "members",
        "people",
        "loans",
        "waits",
        "idle",
        "refunds",
        "profiles",
        "editions",
        "contributions",
        "energy",
    )
)
"""What `gather` can read; an indicator series reads only the parts its indicator uses."""


async def gather(
    session: AsyncSession,
    window: Window,
    *,
    neighbourhood: str | None = None,
    projection: Projection = LIVE,
    with_editions: bool = True,
    parts: frozenset[str] | set[str] = PARTS,
    sums: dict | None = None,
) -> WindowData:
    """Read the counts and sums of `window` (and `neighbourhood`, if given).

    Sums come from the pre-aggregated `impact_sums` (whole months from monthly rows, the days
    around them from daily rows); distinct members from the member sets (whole years, whole
    months) united with the activity rows of the remaining days; the loan cohort from
    `impact_loans`. Only a few narrow, indexed queries read per-event facts.

    `parts` (a subset of PARTS) says what to read; the rest keeps its empty default. `sums`,
    if given, are the window's sums already read (a series reads them for every bucket at once).
    """
    f = projection.facts
    if window.kind == "edition":
        window = await resolve_edition(session, window, projection=projection)
    data = WindowData(window=window, neighbourhood=neighbourhood)
    in_window = [f.c.day >= window.start, f.c.day <= window.end]
    if neighbourhood is not None:
        in_window.append(f.c.neighbourhood == neighbourhood)

    if sums is not None:
        data.sums = sums
    elif "sums" in parts or "waits" in parts:
        data.sums = await window_sums(
            session, window, neighbourhood=neighbourhood, projection=projection
        )
    if "members" in parts or "people" in parts:
        await _members(session, data, projection, people="people" in parts)
    if "loans" in parts:
        data.loans_requested, data.loans_met = await loan_cohort(
            session, window, neighbourhood=neighbourhood, projection=projection
        )
    if "waits" in parts:
        # Every accepted loan carries its wait: their count is in the sums. The median needs
        # only the middle one or two waits (index on type, seconds).
        data.matched = data.total(ACCEPTED).count
        if data.matched:
            waits = [*in_window, f.c.type == ACCEPTED, f.c.seconds.is_not(None)]
            data.match_middle = list(
                await session.scalars(
                    select(f.c.seconds)
                    .where(*waits)
                    .order_by(f.c.seconds)
                    .limit(1 if data.matched % 2 else 2)
                    .offset((data.matched - 1) // 2)
                )
            )
    if "idle" in parts:
        data.idle_items = await _idle_items(session, window, neighbourhood, projection)
    if "refunds" in parts:
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
    if "profiles" in parts:
        profile_cond = [f.c.type == "exchange.member.joined", f.c.day <= window.end]
        if neighbourhood is not None:
            profile_cond.append(f.c.neighbourhood == neighbourhood)
        rows = await session.execute(
            select(f.c.category, func.count(distinct(f.c.entity)))
            .where(*profile_cond)
            .group_by(f.c.category)
        )
        data.members_by_profile = {k: c for k, c in rows}
    if with_editions and "editions" in parts:
        data.editions = await editions_of(
            session, window, neighbourhood=neighbourhood, projection=projection
        )
    if "contributions" in parts:
        data.contributions, data.contributors = await contributions(
            session, window, neighbourhood=neighbourhood, projection=projection
        )
    if "energy" in parts:
        data.energy_wh = await energy_produced(
            session, window, neighbourhood=neighbourhood, projection=projection
        )
    return data


# --- debate and citizen energy ------------------------------------------------------------------


def _visible_comments(f, window: Window, neighbourhood: str | None) -> list:
    """Comments posted in the window whose latest moderation event is not a hiding: hidden
    when some hiding has no restoring after it (envelope time, then event id)."""
    hidden, restored = f.alias("hidden"), f.alias("restored")
    restored_later = (
        select(restored.c.event_id)
        .where(
            restored.c.entity == hidden.c.entity,
            restored.c.type == RESTORED,
            or_(
                restored.c.occurred_at > hidden.c.occurred_at,
                and_(
                    restored.c.occurred_at == hidden.c.occurred_at,
                    restored.c.event_id > hidden.c.event_id,
                ),
            ),
        )
        .exists()
    )
    still_hidden = (
        select(hidden.c.event_id)
        .where(hidden.c.entity == f.c.entity, hidden.c.type == HIDDEN, ~restored_later)
        .exists()
    )
    where = [f.c.type == POSTED, f.c.day >= window.start, f.c.day <= window.end, ~still_hidden]
    if neighbourhood is not None:
        where.append(f.c.neighbourhood == neighbourhood)
    return where


async def contributions(
    session: AsyncSession,
    window: Window,
    *,
    neighbourhood: str | None = None,
    projection: Projection = LIVE,
) -> tuple[dict[str | None, tuple[int, int]], int]:
    """Visible comments per neighbourhood with their distinct authors, and the distinct
    authors of all of them (the suppression pass needs people, not comments)."""
    f, a = projection.facts, projection.activity
    where = [
        *_visible_comments(f, window, neighbourhood),
        a.c.event_id == f.c.event_id,
        a.c.role == COMMENTER,
    ]
    rows = await session.execute(
        select(
            f.c.neighbourhood, func.count(distinct(f.c.entity)), func.count(distinct(a.c.member_id))
        )
        .where(*where)
        .group_by(f.c.neighbourhood)
    )
    per_nbhd = {n: (int(c), int(p)) for n, c, p in rows}
    if not per_nbhd:
        return {}, 0
    authors = await session.scalar(select(func.count(distinct(a.c.member_id))).where(*where))
    return per_nbhd, int(authors or 0)


def whole_months(window: Window) -> tuple[date, date] | None:
    """The first days of the first and last months lying wholly inside the window."""
    first = window.start if window.start.day == 1 else _next_month(window.start)
    last = window.end.replace(day=1)
    if window.end != _month_end(window.end):
        last = (last - timedelta(days=1)).replace(day=1)
    return (first, last) if first <= last else None


async def energy_produced(
    session: AsyncSession,
    window: Window,
    *,
    neighbourhood: str | None = None,
    projection: Projection = LIVE,
) -> dict[str | None, int]:
    """Watt-hours produced per neighbourhood in the months wholly inside the window; the
    latest record (envelope time, then event id) of each (campaign, month) replaces earlier
    ones. A day or week holds no whole month: production is recorded per month."""
    months = whole_months(window)
    if months is None:
        return {}
    f = projection.facts
    later = f.alias("later")
    superseded = (
        select(later.c.event_id)
        .where(
            later.c.type == ENERGY,
            later.c.entity == f.c.entity,
            later.c.ref_day == f.c.ref_day,
            or_(
                later.c.occurred_at > f.c.occurred_at,
                and_(later.c.occurred_at == f.c.occurred_at, later.c.event_id > f.c.event_id),
            ),
        )
        .exists()
    )
    where = [f.c.type == ENERGY, f.c.ref_day.between(*months), ~superseded]
    if neighbourhood is not None:
        where.append(f.c.neighbourhood == neighbourhood)
    rows = await session.execute(
        select(f.c.neighbourhood, func.coalesce(func.sum(f.c.quantity), 0))
        .where(*where)
        .group_by(f.c.neighbourhood)
    )
    return {n: int(wh) for n, wh in rows}


async def edition_ids(session: AsyncSession, *, projection: Projection = LIVE) -> list[str]:
    """Every participatory-budget edition with an event, by its first day."""
    f = projection.facts
    return list(
        await session.scalars(
            select(f.c.edition)
            .where(f.c.edition.is_not(None), f.c.type.like("budget.%"))
            .group_by(f.c.edition)
            .order_by(func.min(f.c.day))
        )
    )


# --- reading the aggregates ---------------------------------------------------------------------


async def loan_cohort(
    session: AsyncSession,
    window: Window,
    *,
    neighbourhood: str | None = None,
    projection: Projection = LIVE,
) -> tuple[int, int]:
    """Loans requested in the window (a cohort by request day) and how many of them were met.

    Every loan event carries its request time, so a loan known only from its return still
    counts as requested (and met). One row per loan: the count is a range of an index, no
    DISTINCT. A loan whose events disagree on its request day or neighbourhood (`multi`) is
    counted from its fact rows, as the definition says: once per window, in each
    neighbourhood where it has a row.
    """
    lo, f = projection.loans, projection.facts
    cohort = [lo.c.multi == 0, lo.c.ref_day >= window.start, lo.c.ref_day <= window.end]
    if neighbourhood is not None:
        cohort.append(lo.c.neighbourhood == neighbourhood)
    requested, met = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(lo.c.met), 0)).where(*cohort)
        )
    ).one()
    rows = [
        f.c.entity.in_(select(lo.c.entity).where(lo.c.multi == 1)),
        f.c.type.startswith(LOAN_PREFIX, autoescape=True),
        f.c.ref_day >= window.start,
        f.c.ref_day <= window.end,
    ]
    if neighbourhood is not None:
        rows.append(f.c.neighbourhood == neighbourhood)
    multi_requested, multi_met = (
        await session.execute(
            select(
                func.count(distinct(f.c.entity)),
                func.count(distinct(case((f.c.type.in_(LOAN_TYPES_MET), f.c.entity)))),
            ).where(*rows)
        )
    ).one()
    return int(requested) + int(multi_requested or 0), int(met) + int(multi_met or 0)


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _month_end(day: date) -> date:
    if day.month == 12:
        return day.replace(day=31)
    return _next_month(day) - timedelta(days=1)


@dataclass(frozen=True)
class Split:
    """A window as whole years, whole months (by their first days) and loose day ranges."""

    days: list[tuple[date, date]]
    months: list[tuple[date, date]]  # ranges of month starts
    years: tuple[date, date] | None  # range of year starts


def split(start: date, end: date, *, years: bool) -> Split:
    """Cover start..end with whole months (and whole years if asked) plus loose days."""
    first = start if start.day == 1 else _next_month(start)
    last_end = end if end == _month_end(end) else end.replace(day=1) - timedelta(days=1)
    if first > last_end:
        return Split([(start, end)], [], None)
    days = []
    if start < first:
        days.append((start, first - timedelta(days=1)))
    if last_end < end:
        days.append((last_end + timedelta(days=1), end))
    last = last_end.replace(day=1)
    if not years:
        return Split(days, [(first, last)], None)
    y_first = first.year if first.month == 1 else first.year + 1
    y_last = last.year if last.month == 12 else last.year - 1
    if y_first > y_last:
        return Split(days, [(first, last)], None)
    months = []
    if first < date(y_first, 1, 1):
        months.append((first, date(y_first - 1, 12, 1)))
    if last > date(y_last, 12, 1):
        months.append((date(y_last + 1, 1, 1), last))
    return Split(days, months, (date(y_first, 1, 1), date(y_last, 1, 1)))


def _grain_ranges(table, parts: Split) -> list:
    conditions = [and_(table.c.grain == "d", table.c.day.between(a, b)) for a, b in parts.days] + [
        and_(table.c.grain == "m", table.c.day.between(a, b)) for a, b in parts.months
    ]
    if parts.years:
        conditions.append(and_(table.c.grain == "y", table.c.day.between(*parts.years)))
    return conditions


def _key(value: str | None) -> str | None:
    return None if value == NONE else value


async def window_sums(
    session: AsyncSession,
    window: Window,
    *,
    neighbourhood: str | None = None,
    projection: Projection = LIVE,
    by_day: bool = False,
    types: list[str] | None = None,
) -> dict:
    """(type, neighbourhood, category, subcategory) -> Sums over the window, from impact_sums.

    With by_day, keys start with the (grain, day) of the aggregate row instead.
    """
    s = projection.sums
    ranges = _grain_ranges(s, split(window.start, window.end, years=False))
    conditions = [or_(*ranges)]
    if neighbourhood is not None:
        conditions.append(s.c.neighbourhood == neighbourhood)
    if types is not None:
        conditions.append(s.c.type.in_(types))
    keys = [s.c.type, s.c.neighbourhood, s.c.category, s.c.subcategory]
    if by_day:
        keys = [s.c.grain, s.c.day, *keys]
    measures = [func.sum(s.c["count"]), *(func.sum(s.c[c]) for c in SUM_COLUMNS)]
    rows = await session.execute(select(*keys, *measures).where(*conditions).group_by(*keys))
    out: dict = {}
    n = len(keys)
    for row in rows:
        key = (*row[: n - 3], *(_key(v) for v in row[n - 3 : n]))
        out[key] = Sums(*(int(v or 0) for v in row[n:]))
    return out


async def series_sums(
    session: AsyncSession,
    windows: list[Window],
    *,
    neighbourhood: str | None = None,
    projection: Projection = LIVE,
) -> list[dict] | None:
    """The sums of consecutive whole-month windows (months, years) in ONE grouped query of
    the monthly rows; None for other windows (weeks, days, editions: read each on its own)."""
    whole = all(
        w.kind != "edition" and w.start.day == 1 and w.end == _month_end(w.end) for w in windows
    )
    if not windows or not whole or any(a.end >= b.start for a, b in pairwise(windows)):
        return None
    s = projection.sums
    conditions = [s.c.grain == "m", s.c.day >= windows[0].start, s.c.day <= windows[-1].end]
    if neighbourhood is not None:
        conditions.append(s.c.neighbourhood == neighbourhood)
    # Monthly rows are unique per (month, type, neighbourhood, category, subcategory): read
    # them as they are (no GROUP BY), bucket them here.
    keys = [s.c.day, s.c.type, s.c.neighbourhood, s.c.category, s.c.subcategory]
    measures = [s.c["count"], *(s.c[c] for c in SUM_COLUMNS)]
    rows = await session.execute(select(*keys, *measures).where(*conditions))
    starts = [w.start for w in windows]
    out: list[dict] = [{} for _ in windows]
    for row in rows:
        day = _as_date(row[0])
        i = bisect_right(starts, day) - 1
        if i < 0 or day > windows[i].end:
            continue
        key = (row[1], *(_key(v) for v in row[2:5]))
        values = Sums(*(int(v or 0) for v in row[5:]))
        known = out[i].get(key)
        if known is None:
            out[i][key] = values
        else:
            known.add(values)
    return out


def _member_rows(
    projection: Projection,
    window: Window,
    scopes: list[str],
    neighbourhood: str | None,
    dimension: str | None,
    *,
    sets: bool = True,
):
    """The member-set rows of `scopes` over the window, with the activity rows of loose days:
    (scope, neighbourhood, category, member_id), NONE for a missing key."""
    m, a = projection.members, projection.activity
    parts = split(window.start, window.end, years=True)
    if not sets:
        parts = Split([(window.start, window.end)], [], None)
    in_sets = [m.c.scope.in_(scopes)]
    ranges = _grain_ranges(m, Split([], parts.months, parts.years))
    if neighbourhood is not None:
        in_sets.append(m.c.neighbourhood == neighbourhood)
    selects = []
    if ranges:
        selects.append(
            select(
                m.c.scope.label("scope"),
                m.c.neighbourhood.label("neighbourhood"),
                m.c.category.label("category"),
                m.c.member_id.label("member_id"),
            ).where(or_(*ranges), *in_sets)
        )
    if parts.days:
        loose = [or_(*(a.c.day.between(x, y) for x, y in parts.days))]
        if neighbourhood is not None:
            loose.append(a.c.neighbourhood == neighbourhood)
        nbhd = func.coalesce(a.c.neighbourhood, NONE)
        if dimension is not None:  # people: the same scope names as the set rows
            loose.append(tuple_(a.c.role, a.c.type).in_(sorted(PEOPLE)))
            scope = a.c.role + "|" + a.c.type + f"|{dimension}"
            category = func.coalesce(a.c.category, NONE)
        else:
            scope, category = literal(ACTIVE), literal(NONE)
        selects.append(
            select(
                scope.label("scope"),
                nbhd.label("neighbourhood"),
                category.label("category"),
                a.c.member_id.label("member_id"),
            ).where(*loose)
        )
    return union_all(*selects).subquery() if len(selects) > 1 else selects[0].subquery()


def _one_set(window: Window) -> tuple[str, date] | None:
    """(grain, first day) when the window is exactly one member set: one whole year or month."""
    parts = split(window.start, window.end, years=True)
    if parts.days:
        return None
    if parts.years and not parts.months and parts.years[0] == parts.years[1]:
        return ("y", parts.years[0])
    if not parts.years and len(parts.months) == 1 and parts.months[0][0] == parts.months[0][1]:
        return ("m", parts.months[0][0])
    return None


async def _members(
    session: AsyncSession, data: WindowData, projection: Projection, *, people: bool = True
) -> None:
    """Active members (total and per neighbourhood) and people per role/type/place/category.

    A window that is exactly one year or one month reads one member set, whose rows are
    unique per (scope, neighbourhood, category, member): a count of rows per group is the
    count of distinct members, read in key order (no DISTINCT). Other windows unite sets and
    activity rows and count distinct members.
    """
    window, nbhd = data.window, data.neighbourhood
    one = _one_set(window)
    if one is not None:
        await _members_of_one_set(session, data, projection, one, people=people)
        return
    active = _member_rows(projection, window, [ACTIVE], nbhd, None)
    data.active = await session.scalar(select(func.count(distinct(active.c.member_id)))) or 0
    rows = await session.execute(
        select(active.c.neighbourhood, func.count(distinct(active.c.member_id))).group_by(
            active.c.neighbourhood
        )
    )
    data.active_by_neighbourhood = {_key(n): c for n, c in rows}
    if not people:
        return
    pairs = sorted(PEOPLE)
    # Sets by neighbourhood ("n") and by category ("c"); by category within one
    # neighbourhood reads that neighbourhood's activity rows (no set holds both keys).
    for dimension, column, target in (
        ("n", "neighbourhood", data.people_by_neighbourhood),
        ("c", "category", data.people_by_category),
    ):
        scopes = [people_scope(r, t, dimension) for r, t in pairs]
        with_sets = not (dimension == "c" and nbhd is not None)
        rows_q = _member_rows(projection, window, scopes, nbhd, dimension, sets=with_sets)
        rows = await session.execute(
            select(
                rows_q.c.scope, rows_q.c[column], func.count(distinct(rows_q.c.member_id))
            ).group_by(rows_q.c.scope, rows_q.c[column])
        )
        for scope, key, count in rows:
            role, event_type = scope.split("|")[:2]
            target[(role, event_type, _key(key))] = count


async def _members_of_one_set(
    session: AsyncSession,
    data: WindowData,
    projection: Projection,
    period: tuple[str, date],
    *,
    people: bool,
) -> None:
    m, nbhd = projection.members, data.neighbourhood
    here = [m.c.grain == period[0], m.c.day == period[1]]
    if nbhd is not None:
        here.append(m.c.neighbourhood == nbhd)
    groups = [m.c.scope, m.c.neighbourhood, m.c.category]
    rows = await session.execute(
        select(m.c.neighbourhood, func.count())
        .where(*here, m.c.scope == ACTIVE)
        .group_by(m.c.neighbourhood)
    )
    data.active_by_neighbourhood = {_key(n): c for n, c in rows}
    if nbhd is not None:
        data.active = sum(data.active_by_neighbourhood.values())
    else:  # a member active in two neighbourhoods counts once
        data.active = (
            await session.scalar(
                select(func.count(distinct(m.c.member_id))).where(*here, m.c.scope == ACTIVE)
            )
            or 0
        )
    if not people:
        return
    pairs = sorted(PEOPLE)
    dimensions = ["n"] if nbhd is not None else ["n", "c"]
    scopes = [people_scope(r, t, d) for r, t in pairs for d in dimensions]
    rows = await session.execute(
        select(*groups, func.count()).where(*here, m.c.scope.in_(scopes)).group_by(*groups)
    )
    for scope, n, c, count in rows:
        role, event_type, dimension = scope.split("|")
        if dimension == "n":
            data.people_by_neighbourhood[(role, event_type, _key(n))] = count
        else:
            data.people_by_category[(role, event_type, _key(c))] = count
    if nbhd is not None:  # by category within one neighbourhood: its activity rows
        window = data.window
        scopes = [people_scope(r, t, "c") for r, t in pairs]
        rows_q = _member_rows(projection, window, scopes, nbhd, "c", sets=False)
        rows = await session.execute(
            select(
                rows_q.c.scope, rows_q.c.category, func.count(distinct(rows_q.c.member_id))
            ).group_by(rows_q.c.scope, rows_q.c.category)
        )
        for scope, key, count in rows:
            role, event_type = scope.split("|")[:2]
            data.people_by_category[(role, event_type, _key(key))] = count


async def day_span(
    session: AsyncSession, *, projection: Projection = LIVE
) -> tuple[date, date] | tuple[None, None]:
    """The first and last day with a fact (from the daily sums: an index lookup)."""
    s = projection.sums
    # Two queries: each is one probe of the (grain, day, ...) key; together they would scan.
    # Within the bounds: a row stored before out-of-range dates were quarantined is ignored.
    bounded = [s.c.grain == "d", s.c.day.between(EARLIEST_DAY, LATEST_DAY)]
    first = await session.scalar(select(func.min(s.c.day)).where(*bounded))
    last = await session.scalar(select(func.max(s.c.day)).where(*bounded))
    if first is None:
        return None, None
    return _as_date(first), _as_date(last)


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


# --- distinct contributors of the public tables ------------------------------------------------


@dataclass
class Contributors:
    """Distinct members behind each cell of a two-way table, its margins and its total."""

    cells: dict[tuple[str | None, str | None], int] = field(default_factory=dict)
    rows: dict[str | None, int] = field(default_factory=dict)
    cols: dict[str | None, int] = field(default_factory=dict)
    total: int = 0


@dataclass
class CityCounts:
    """What the suppression pass needs beyond the city's WindowData (one window, city-wide)."""

    borrowers: Contributors
    providers: Contributors
    fixers: Contributors  # providers of repairs, by the repaired item's category
    profiles: dict[tuple[str | None, str | None], int]  # (neighbourhood, profile) -> members


def _distinct_counts(triples) -> Contributors:
    cells: dict = defaultdict(set)
    rows: dict = defaultdict(set)
    cols: dict = defaultdict(set)
    everyone: set = set()
    for n, c, member in triples:
        cells[(n, c)].add(member)
        rows[n].add(member)
        cols[c].add(member)
        everyone.add(member)
    return Contributors(
        {key: len(v) for key, v in cells.items()},
        {key: len(v) for key, v in rows.items()},
        {key: len(v) for key, v in cols.items()},
        len(everyone),
    )


def settle_total(out: Contributors, k: int) -> bool:
    """Set `out.total` from its rows and columns when that decides "fewer than k" (the only
    use of a total's count: it is never published): at least the largest row or column, at
    most the sum of the rows. False when only an exact count can tell."""
    lower = max([*out.rows.values(), *out.cols.values()], default=0)
    upper = sum(out.rows.values())
    if lower >= k or upper < k:
        out.total = lower if lower >= k else upper
        return True
    return False


async def city_counts(
    session: AsyncSession, data: WindowData, *, k: int, projection: Projection = LIVE
) -> CityCounts:
    """Distinct contributors of the public tables of `data` (city-wide, gathered with its
    members and people). Per neighbourhood and per category they are `data`'s own counts
    (read from the member sets); the cells need one grouped query per table."""
    a, f = projection.activity, projection.facts
    window = data.window
    in_window = [a.c.day >= window.start, a.c.day <= window.end]

    def known(role: str, event_type: str) -> tuple[dict, dict]:
        rows = {
            n: c
            for (r, t, n), c in data.people_by_neighbourhood.items()
            if (r, t) == (role, event_type)
        }
        cols = {
            c: n for (r, t, c), n in data.people_by_category.items() if (r, t) == (role, event_type)
        }
        return rows, cols

    async def people(where: list, category, margins: tuple[dict, dict] | None) -> Contributors:
        out = Contributors()
        member = distinct(a.c.member_id)
        base = select(a.c.neighbourhood, category, func.count(member)).where(*where)
        for n, c, count in await session.execute(base.group_by(a.c.neighbourhood, category)):
            out.cells[(n, c)] = count
        if margins is None:
            rows = select(a.c.neighbourhood, func.count(member)).where(*where)
            out.rows = {n: c for n, c in await session.execute(rows.group_by(a.c.neighbourhood))}
            cols = select(category, func.count(member)).where(*where)
            out.cols = {key: c for key, c in await session.execute(cols.group_by(category))}
        else:
            out.rows, out.cols = margins
        if not settle_total(out, k):
            out.total = await session.scalar(select(func.count(member)).where(*where)) or 0
        return out

    borrowers = await people(
        [a.c.role == "borrower", a.c.type == RETURNED, *in_window],
        a.c.category,
        known("borrower", RETURNED),
    )
    providers = await people(
        [a.c.role == "provider", a.c.type == COMPLETED, *in_window],
        a.c.category,
        known("provider", COMPLETED),
    )
    # Repairs by repaired category: the category is on the fact, not the activity row. One
    # read of the distinct (neighbourhood, category, repairer) triples, counted here.
    triples = await session.execute(
        select(a.c.neighbourhood, f.c.subcategory, a.c.member_id)
        .where(
            a.c.role == "provider",
            a.c.type == COMPLETED,
            a.c.category == "repair",
            *in_window,
            f.c.event_id == a.c.event_id,
            f.c.category == "repair",
        )
        .distinct()
    )
    fixers = _distinct_counts(triples)
    joined = [f.c.type == "exchange.member.joined", f.c.day <= window.end]
    rows = await session.execute(
        select(f.c.neighbourhood, f.c.category, func.count(distinct(f.c.entity)))
        .where(*joined)
        .group_by(f.c.neighbourhood, f.c.category)
    )
    profiles = {(n, c): count for n, c, count in rows}
    return CityCounts(borrowers, providers, fixers, profiles)


# --- the report's other reads ---------------------------------------------------------------------


async def projection_size(session: AsyncSession, *, projection: Projection = LIVE) -> tuple:
    """(facts, parked events) of the projection. Every fact adds 1 to the count of exactly
    one monthly sum: no scan of the facts."""
    sums = projection.sums
    counts = (
        await session.execute(
            select(
                select(func.coalesce(func.sum(sums.c["count"]), 0))
                .where(sums.c.grain == "m")
                .scalar_subquery(),
                select(func.count()).select_from(projection.parked).scalar_subquery(),
            )
        )
    ).one()
    return counts[0], counts[1]


async def edition_names(session: AsyncSession, editions: list[str]) -> dict[str, str]:
    """The names of `editions` the projection has seen created (the others are absent)."""
    names = db.edition_names
    rows = await session.execute(
        select(names.c.edition, names.c.name).where(names.c.edition.in_(set(editions)))
    )
    return {edition: name for edition, name in rows}


async def refunds_per_day(
    session: AsyncSession,
    start: date,
    end: date,
    *,
    neighbourhood: str | None,
    projection: Projection = LIVE,
) -> list[tuple[date, int, int]]:
    """(day, refunds, cents) of the pledges refunded from campaigns that succeeded."""
    f = projection.facts
    refunds = [
        f.c.day >= start,
        f.c.day <= end,
        f.c.type == REFUNDED,
        f.c.ref.in_(succeeded_campaigns(f)),
    ]
    if neighbourhood is not None:
        refunds.append(f.c.neighbourhood == neighbourhood)
    rows = await session.execute(
        select(f.c.day, func.count(), func.coalesce(func.sum(f.c.cents), 0))
        .where(*refunds)
        .group_by(f.c.day)
    )
    return [(_as_date(day), count, int(cents)) for day, count, cents in rows]


async def people_per_month(
    session: AsyncSession,
    projection: Projection,
    role: str,
    event_type: str,
    start: date,
    end: date,
    *,
    k: int,
    rows: dict | None = None,
) -> Contributors:
    """Distinct members per (neighbourhood, month "YYYY-MM"), per neighbourhood over
    start..end (`rows`, when the caller knows them: returned as given), per month and over
    the whole range; None for no neighbourhood. A month's or the range's count is read only
    when its bounds (largest cell, sum of the cells) do not decide "fewer than k": it is
    never published."""
    a, sets = projection.activity, projection.members
    where = [a.c.role == role, a.c.type == event_type, a.c.day >= start, a.c.day <= end]
    month = func.substr(cast(a.c.day, String), 1, 7)  # ISO text on SQLite and PostgreSQL
    member = distinct(a.c.member_id)
    out = Contributors()
    # Whole months from the monthly member sets (one row per member: a count, no DISTINCT);
    # the loose days of a partial first or last month from the activity rows.
    parts = split(start, end, years=False)
    for first, last in parts.months:
        rows_of_sets = await session.execute(
            select(sets.c.day, sets.c.neighbourhood, func.count())
            .where(
                sets.c.grain == "m",
                sets.c.scope == people_scope(role, event_type, "n"),
                sets.c.day.between(first, last),
            )
            .group_by(sets.c.day, sets.c.neighbourhood)
        )
        for day, n, count in rows_of_sets:
            out.cells[(_key(n), _as_date(day).strftime("%Y-%m"))] = count
    for first, last in parts.days:
        loose = [a.c.role == role, a.c.type == event_type, a.c.day.between(first, last)]
        cells = select(a.c.neighbourhood, month, func.count(member)).where(*loose)
        for n, m, count in await session.execute(cells.group_by(a.c.neighbourhood, month)):
            out.cells[(n, str(m))] = count
    if rows is None:
        query = select(a.c.neighbourhood, func.count(member)).where(*where)
        rows = {n: c for n, c in await session.execute(query.group_by(a.c.neighbourhood))}
    out.rows = rows
    per_month: dict[str, list[int]] = {}
    for (_, m), count in out.cells.items():
        per_month.setdefault(m, []).append(count)
    if all(max(v) >= k or sum(v) < k for v in per_month.values()):
        out.cols = {m: max(v) if max(v) >= k else sum(v) for m, v in per_month.items()}
    else:
        cols = select(month, func.count(member)).where(*where)
        out.cols = {str(m): c for m, c in await session.execute(cols.group_by(month))}
    if not settle_total(out, k):
        out.total = int(await session.scalar(select(func.count(member)).where(*where)) or 0)
    return out
