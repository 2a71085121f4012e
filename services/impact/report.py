"""The impact report: every indicator of one window, with its catalogue version, as JSON data.

`build_report` is what `/report`, `/indicators/{key}` and `sharitories impact report` share.
It runs in one straight line, calling down and never called back: read through `engine.py`
(SQL into plain counts), suppress through `publication.py` / `disclosure.py`, build the
entries through `entries.py` (one builder per family), cut periods with `periods.py`. None
of them imports this module.

Public rules applied here, once:
- every entry names the catalogue version it was computed with;
- estimates are low / central / high ranges, shown with two significant figures (the exact
  decimals travel beside them);
- one suppression pass (publication.protect_city, disclosure.protect) decides on the city's
  tables which cells every output hides: fewer than k distinct contributors, then
  complements against differencing; derived estimates use published cells only; a
  neighbourhood-filtered query over fewer than k active members also hides every
  member-derived figure.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.clock import clock
from services.impact import disclosure as dc
from services.impact import indicators as ind
from services.impact import publication as pub
from services.impact.catalogue import Catalogue
from services.impact.config import TerritoryConfig
from services.impact.db import LIVE
from services.impact.db import Tables as Projection
from services.impact.engine import (
    COMPLETED,
    REFUNDED,
    RETURNED,
    SUCCEEDED,
    Contributors,
    Sums,
    WindowData,
    city_counts,
    day_span,
    edition_ids,
    edition_names,
    gather,
    people_per_month,
    projection_size,
    refunds_per_day,
    series_sums,
    window_sums,
)
from services.impact.entries import (
    edition_row,
    environment,
    estimate,
    factors_used,
    indicator_entries,
    neighbourhood_rows,
)
from services.impact.periods import (
    ALL_TIME,
    Window,
    buckets,
    last_buckets,
    month_window,
    parse_period,
)

MONTHLY_LIMIT = 120  # months in the report's month-by-month series


def needs_of(key: str, neighbourhood: str | None) -> frozenset[str]:
    """The parts `gather` must read for indicator `key`."""
    definition = ind.INDICATORS[key]
    parts = definition.needs
    if neighbourhood is not None and definition.member_derived:
        parts = parts | {"members"}  # a small neighbourhood suppresses member-derived figures
    return parts


async def build_report(
    session: AsyncSession,
    *,
    window: Window,
    catalogue: Catalogue,
    territory: TerritoryConfig,
    min_cell: int,
    neighbourhood: str | None = None,
    projection: Projection = LIVE,
    with_series: bool = True,
) -> dict[str, Any]:
    """The full report of `window` as JSON-ready data, in one straight line:

    1. read the window's counts and sums (engine.gather);
    2. decide the suppression pattern on the city's tables (public_tables: engine.city_counts,
       then publication.protect_city);
    3. the indicator entries from the published figures (one builder per family);
    4. the month-by-month series (monthly_series: read, then suppressed like the tables).
    """
    data = await gather(session, window, neighbourhood=neighbourhood, projection=projection)
    window = data.window  # an edition resolved to its days
    population = territory.population_of(neighbourhood)
    tables = await public_tables(
        session, data, min_cell=min_cell, projection=projection, complete=True
    )
    entries = indicator_entries(
        data, catalogue=catalogue, population=population, min_cell=min_cell, tables=tables
    )
    counts = await projection_size(session, projection=projection)
    names = await edition_names(
        session, [e.edition for e in data.editions] + [window.edition or ""]
    )
    report: dict[str, Any] = {
        "title": f"Impact report - {territory.name} - {window.label}",
        "territory": {
            "city": territory.city,
            "name": territory.name,
            "population": territory.population,
            "source": territory.source,
        },
        "period": window.as_json(),
        "neighbourhood": neighbourhood,
        "catalogue": {"version": catalogue.version, "sha256": catalogue.sha256},
        "min_cell": min_cell,
        "projection": {"facts": counts[0], "parked_events": counts[1]},
        "indicators": entries,
        "editions": [edition_row(e, names) for e in data.editions],
    }
    if window.edition is not None:
        report["period"]["edition_name"] = names.get(window.edition)
    if neighbourhood is None:
        report["neighbourhoods"] = neighbourhood_rows(data, catalogue, territory, tables)
    if with_series:
        report["monthly"], report["monthly_truncated"] = await monthly_series(
            session, window, catalogue, neighbourhood, projection, min_cell, tables
        )
    report["factors"] = factors_used(catalogue)
    return report


TABLE_PARTS = frozenset({"sums", "members", "people", "contributions"})
"""What the suppression pass reads of the city's window (besides `city_counts`)."""


async def indicator_series_data(
    session: AsyncSession,
    key: str,
    windows: list[Window],
    *,
    catalogue: Catalogue,
    population: int | None,
    min_cell: int,
    neighbourhood: str | None = None,
    projection: Projection = LIVE,
) -> list[dict[str, Any]]:
    """Indicator `key` over each window: the entry the window's report would hold."""
    # Only what this indicator reads; the sums of every month or year in one query.
    parts = needs_of(key, neighbourhood)
    if neighbourhood is None:  # what the suppression pass reads too: read it once
        parts = parts | TABLE_PARTS
    prefetched = None
    if "sums" in parts or "waits" in parts:
        prefetched = await series_sums(
            session, windows, neighbourhood=neighbourhood, projection=projection
        )
    with_editions = ind.INDICATORS[key].breakdown == "edition"
    series = []
    for i, window in enumerate(windows):
        data = await gather(
            session,
            window,
            neighbourhood=neighbourhood,
            projection=projection,
            with_editions=with_editions,
            parts=parts,
            sums=None if prefetched is None else prefetched[i],
        )
        tables = await public_tables(
            session,
            data,
            min_cell=min_cell,
            projection=projection,
            complete=neighbourhood is None,
        )
        entry = indicator_entries(
            data, catalogue=catalogue, population=population, min_cell=min_cell, tables=tables
        )[key]
        series.append({"period": data.window.as_json(), **entry})
    return series


async def public_tables(
    session: AsyncSession,
    data: WindowData,
    *,
    min_cell: int,
    projection: Projection = LIVE,
    complete: bool = False,
) -> pub.PublicTables:
    """The suppression pattern of `data`'s window, decided on the city-wide tables (a
    neighbourhood's report reads the city's too, so both hide the same cells). `complete`:
    `data` is city-wide and was gathered with every part (the full report), reuse it."""
    city = data
    if data.neighbourhood is not None or not complete:
        city = await gather(session, data.window, projection=projection, parts=TABLE_PARTS)
    counts = await city_counts(session, city, k=min_cell, projection=projection)
    return pub.protect_city(city, counts, min_cell)


async def series_windows(
    session: AsyncSession,
    period: str,
    start: date | None,
    end: date | None,
    *,
    limit: int,
) -> list[Window]:
    """The windows of an indicator series: every PB edition, or the `period`s (day, week,
    month, year) from `start` to `end`. A missing bound is the stored data's (today's when
    there is none), and then only the latest `limit` periods; ValueError for a bad span."""
    if period == "edition":
        return [parse_period(f"edition:{n}") for n in await edition_ids(session)]
    given = start
    if start is None or end is None:  # the stored span fills in what is missing
        first, last = await day_span(session)
        today = clock.today()
        start, end = start or first or today, end or last or today
    if given is None:  # the stored span: the latest `limit` periods of it
        return last_buckets(period, start, end, limit=limit)[0]
    return buckets(period, start, end, limit=limit)


async def monthly_series(
    session: AsyncSession,
    window: Window,
    catalogue: Catalogue,
    neighbourhood: str | None,
    projection: Projection,
    min_cell: int = 1,
    tables: pub.PublicTables | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """Loans, services, CO2e (central) and money raised per month of the window, and whether
    earlier months were left out (at most the last MONTHLY_LIMIT).

    Loans and services per month are read city-wide as neighbourhood x month tables and
    suppressed like the others (fewer than k distinct people, then complements); their
    neighbourhood totals are the report's (`tables`): hidden there, hidden here, and never
    chosen as complements when published there. The city report shows the months' totals,
    a neighbourhood's report its row."""
    start, end = window.start, window.end
    if window is ALL_TIME or window.kind in ("all", "edition"):
        # An open window (all time, an unknown edition) spans the months holding data.
        first, last = await day_span(session, projection=projection)
        if first is None:
            return [], False
        start, end = max(start, first), min(end, last)
        if start > end:
            return [], False
    # At most the last MONTHLY_LIMIT months: a long history (or an old stray date) never
    # makes the report fail; `report["monthly_truncated"]` says when months were left out.
    months, truncated = last_buckets("month", month_window(start).start, end, limit=MONTHLY_LIMIT)
    if not months:
        return [], False
    start = max(start, months[0].start)
    end = min(end, months[-1].end)
    per_month: dict[str, WindowData] = {
        m.label: WindowData(window=m, neighbourhood=neighbourhood) for m in months
    }
    sums = await window_sums(
        session,
        Window("all", "series", start, end),
        projection=projection,
        by_day=True,
        types=[RETURNED, COMPLETED, SUCCEEDED],
    )
    counts: dict[str, dict[tuple, int]] = {RETURNED: {}, COMPLETED: {}}
    for (_grain, day, t, nbhd, cat, sub), values in sums.items():
        label = _day(day).strftime("%Y-%m")
        if t in counts:
            key = (pub._row(nbhd), label)
            counts[t][key] = counts[t].get(key, 0) + values.count
        if neighbourhood is not None and nbhd != neighbourhood:
            continue
        bucket = per_month[label].sums.setdefault((t, None, cat, sub), Sums())
        bucket.add(values)
    refunds = await refunds_per_day(
        session, start, end, neighbourhood=neighbourhood, projection=projection
    )
    for day, count, cents in refunds:
        bucket = per_month[day.strftime("%Y-%m")].sums.setdefault(
            (REFUNDED, None, None, None), Sums()
        )
        bucket.add(Sums(count=count, cents=cents))
    shown: dict[str, dc.Table] = {}
    for name, role, event_type in (
        ("loans", "borrower", RETURNED),
        ("services", "provider", COMPLETED),
    ):
        report_table = None if tables is None else getattr(tables, name)
        known = None
        if report_table is not None and not truncated:  # the same people as the report's rows
            known = {
                r: cell.contributors
                for (r, c), cell in report_table.cells.items()
                if c == dc.TOTAL and r != dc.TOTAL
            }
        people = await people_per_month(
            session, projection, role, event_type, start, end, k=min_cell, rows=known
        )
        table = _from_counts(counts[event_type], _in_rows(people, rows_read=known is None))
        if report_table is not None and not truncated:
            for r in table.rows:  # the same figure as the report's total of that row
                if (r, dc.TOTAL) in report_table.suppressed:
                    table.forced.add((r, dc.TOTAL))
                else:
                    table.published_elsewhere.add((r, dc.TOTAL))
        dc.protect([table], min_cell)
        shown[name] = table
    row = pub.CITY if neighbourhood is None else pub._row(neighbourhood)
    out = []
    for label, data in per_month.items():
        loans = pub.figure(shown["loans"], row, label)
        services = pub.figure(shown["services"], row, label)
        co2e = environment(data, catalogue)["environment.co2e_avoided"]
        out.append(
            {
                "month": label,
                "loans": loans,
                "services": services,
                # Rounded only (no exact decimals): the month's mix of categories is not
                # published, and exact decimals would spell it out.
                "co2e_avoided_kg": None
                if loans is None or services is None
                else {k: v for k, v in estimate(co2e).items() if k != "exact"},
                "money_raised": data.total(SUCCEEDED).cents - data.total(REFUNDED).cents,
            }
        )
    return out, truncated


def _from_counts(values: dict[tuple, int], people: Contributors) -> dc.Table:
    """A neighbourhood x month table from its counts and its distinct contributors."""
    rows: dict = {}
    cols: dict = {}
    for (r, c), v in values.items():
        rows[r] = rows.get(r, 0) + v
        cols[c] = cols.get(c, 0) + v
    return dc.two_way(
        "months",
        {key: (v, people.cells.get(key, 0)) for key, v in values.items() if v},
        {r: (v, people.rows.get(r, 0)) for r, v in rows.items()},
        {c: (v, people.cols.get(c, 0)) for c, v in cols.items()},
        (sum(values.values()), people.total),
    )


def _in_rows(people: Contributors, *, rows_read: bool) -> Contributors:
    """The engine's people keyed by the public tables' rows (no neighbourhood: its own row);
    rows the caller gave are its own already."""
    out = Contributors(cols=people.cols, total=people.total, rows=people.rows)
    for (n, m), count in people.cells.items():
        out.cells[(pub._row(n), m)] = count
    if rows_read:
        out.rows = {pub._row(n): count for n, count in people.rows.items()}
    return out


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
