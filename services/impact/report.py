"""The impact report: every indicator of one window, with its catalogue version, as JSON data.

`build_report` is what `/report`, `/indicators/{key}` and `sharitories impact report` share.
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

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import String, cast, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.money import round_cents
from services.impact import db
from services.impact import disclosure as dc
from services.impact import indicators as ind
from services.impact import publication as pub
from services.impact.aggregates import people_scope
from services.impact.catalogue import Catalogue, Range
from services.impact.citations import datasets_of
from services.impact.config import TerritoryConfig
from services.impact.db import LIVE, NONE
from services.impact.db import Tables as Projection
from services.impact.engine import (
    COMPLETED,
    RETURNED,
    Contributors,
    Sums,
    WindowData,
    city_counts,
    day_span,
    environment,
    gather,
    passenger_km,
    series_sums,
    settle_total,
    split,
    succeeded_campaigns,
    window_sums,
)
from services.impact.periods import ALL_TIME, Window, last_buckets, month_window

MONTHLY_LIMIT = 120  # months in the report's month-by-month series
SUCCEEDED = "crowdfunding.campaign.succeeded"
FAILED = "crowdfunding.campaign.failed"
REFUNDED = "crowdfunding.pledge.refunded"


def needs_of(key: str, neighbourhood: str | None) -> frozenset[str]:
    """The parts `gather` must read for indicator `key`."""
    definition = ind.INDICATORS[key]
    parts = definition.needs
    if neighbourhood is not None and definition.member_derived:
        parts = parts | {"members"}  # a small neighbourhood suppresses member-derived figures
    return parts


# --- number presentation -------------------------------------------------------------------------


def estimate(r: Range) -> dict[str, Any]:
    shown = ind.present_range(r)
    return {
        "low": float(shown.low),
        "central": float(shown.central),
        "high": float(shown.high),
        "exact": {"low": str(r.low), "central": str(r.central), "high": str(r.high)},
    }


def fraction(value: Decimal | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {"fraction": str(value), "percent": float(ind.present_percent(value))}


def safe_share(part: int, whole: int | None) -> Decimal | None:
    if not whole or part > whole:
        return None
    return ind.share(part, whole)


# --- the report ---------------------------------------------------------------------------------


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
    # Every fact adds 1 to the count of exactly one monthly sum: no scan of the facts.
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


def _cells(rows: list[dict[str, Any]], dimension: str) -> list[dict[str, Any]]:
    return [
        {
            dimension: r["key"],
            "value": r["value"],
            "contributors": r["contributors"],
            "suppressed": r["suppressed"],
        }
        for r in rows
    ]


def _derived(
    p: pub.Published | None, kind: str, share_key: str | None, catalogue: Catalogue
) -> Range | None:
    """A per-category estimate from a published row (its suppressed cells as one lump)."""
    if p is None:
        return None
    per_category = ind._per_category(p.counts, kind, catalogue) + pub.lump_range(p, kind, catalogue)
    if share_key is None:
        return per_category
    return per_category * catalogue.range(share_key)


def published_estimates(
    tables: pub.PublicTables, row, passenger_km_value: Decimal, catalogue: Catalogue
) -> dict[str, Range | None]:
    """The environment and money estimates of one row (CITY or a neighbourhood), computed
    from published figures only; None when a figure they need is suppressed."""
    loans = pub.published(tables.loans, row)
    repairs = pub.published(tables.repairs, row)
    carpool = pub.figure(tables.services, row, "carpool")
    by_loans = _derived(loans, "footprint", "loan.purchase_substitution", catalogue)
    by_repairs = _derived(repairs, "footprint", "repair.displacement", catalogue)
    by_carpool = (
        None if carpool is None else ind.co2e_avoided_by_carpool(passenger_km_value, catalogue)
    )
    waste_loans = _derived(loans, "mass", "loan.purchase_substitution", catalogue)
    waste_repairs = _derived(repairs, "mass", None, catalogue)
    saved = _derived(loans, "price", "loan.purchase_substitution", catalogue)
    parts = [by_loans, by_carpool, by_repairs]
    return {
        "environment.co2e_avoided_by_loans": by_loans,
        "environment.co2e_avoided_by_carpool": by_carpool,
        "environment.co2e_avoided_by_repairs": by_repairs,
        # A total with a hidden part would give the part away: hidden too.
        "environment.co2e_avoided": None if None in parts else ind.total(parts),  # type: ignore[arg-type]
        "environment.waste_avoided": None
        if waste_loans is None or waste_repairs is None
        else waste_loans + waste_repairs,
        "money.saved_by_borrowers": saved,
    }


class Entries:
    """The indicator entries of one report, filled family by family (the builders below)."""

    def __init__(
        self, data: WindowData, catalogue: Catalogue, tables: pub.PublicTables, population
    ) -> None:
        self.data, self.catalogue, self.tables = data, catalogue, tables
        self.population = population
        self.row = tables.row(data.neighbourhood)
        self.values: dict[str, dict[str, Any]] = {}

    def put(self, key: str, value: Any, **extra: Any) -> None:
        definition = ind.INDICATORS[key]
        self.values[key] = {
            "key": key,
            "family": definition.family,
            "unit": definition.unit,
            "catalogue_version": self.catalogue.version,
            "value": value,
            "suppressed": False,
            **extra,
        }

    def hidden(self, key: str, **extra: Any) -> None:
        self.put(key, None, **extra)
        self.values[key]["suppressed"] = True

    def counted(self, key: str, value: int | None, **extra: Any) -> None:
        """A published count, or hidden when the suppression pass withheld it (None)."""
        if value is None:
            self.hidden(key, **extra)
        else:
            self.put(key, value, **extra)

    def one_way_cells(self, table: dc.Table, dimension: str) -> list[dict[str, Any]]:
        cells = pub.one_way_cells(table)
        if self.data.neighbourhood is not None:
            cells = [c for c in cells if c["key"] == self.data.neighbourhood]
        return _cells(cells, dimension)

    def per_edition(self, key: str, attr: str) -> None:
        editions = self.data.editions
        self.put(
            key,
            sum(getattr(e, attr) for e in editions),
            cells=[{"edition": e.edition, "value": getattr(e, attr)} for e in editions],
        )


def _participation(out: Entries) -> None:
    tables, row = out.tables, out.row
    active = pub.one_way_figure(tables.active, row)
    out.counted(
        "participation.active_members",
        active,
        cells=out.one_way_cells(tables.active, "neighbourhood"),
    )
    if active is None:
        out.hidden("participation.share_of_residents")
    else:
        out.put("participation.share_of_residents", fraction(safe_share(active, out.population)))
    out.counted(
        "participation.new_members",
        pub.one_way_figure(tables.joined, row),
        cells=out.one_way_cells(tables.joined, "neighbourhood"),
    )
    out.counted(
        "participation.member_profiles",
        pub.figure(tables.profiles, row),
        cells=_cells(pub.published_row(tables.profiles, row), "profile"),
    )
    out.counted(
        "participation.contributions",
        pub.one_way_figure(tables.contributions, row),
        cells=out.one_way_cells(tables.contributions, "neighbourhood"),
    )


def _budget(out: Entries) -> None:
    """The participatory budget's figures, per edition (participation, money, delivery)."""
    editions = out.data.editions
    voters = sum(e.voters or 0 for e in editions if e.eligible)
    eligible = sum(e.eligible or 0 for e in editions if e.eligible)
    out.put(
        "participation.pb_turnout",
        fraction(safe_share(voters, eligible)),
        voters=voters,
        eligible=eligible,
        cells=[
            {
                "edition": e.edition,
                "voters": e.voters,
                "eligible": e.eligible,
                "ballots_counted": e.ballots,
                "value": fraction(safe_share(e.voters or 0, e.eligible)),
            }
            for e in editions
        ],
    )
    out.per_edition("participation.pb_proposals", "proposals")
    out.per_edition("participation.pb_supports", "supports")
    out.per_edition("money.pb_envelope_allocated", "allocated_cents")
    out.per_edition("money.pb_envelope_leftover", "leftover_cents")
    out.per_edition("money.pb_delivered", "delivered_cents")
    out.per_edition("delivery.pb_projects_selected", "selected")
    out.per_edition("delivery.pb_projects_delivered", "delivered")
    selected = sum(e.selected for e in editions)
    delivered = sum(e.delivered for e in editions)
    out.put(
        "delivery.pb_delivery_rate",
        fraction(safe_share(delivered, selected)),
        cells=[
            {"edition": e.edition, "value": fraction(safe_share(e.delivered, e.selected))}
            for e in editions
        ],
    )


def _exchange(out: Entries) -> None:
    data, tables, row = out.data, out.tables, out.row
    loans_total = pub.figure(tables.loans, row)
    services_total = pub.figure(tables.services, row)
    out.counted(
        "exchange.loans_by_category",
        loans_total,
        cells=_cells(pub.published_row(tables.loans, row), "category"),
    )
    # Figures over the same loans (or services) as a hidden total are hidden with it.
    out.counted("exchange.days_lent", None if loans_total is None else data.total(RETURNED).days)
    out.counted(
        "exchange.services_by_kind",
        services_total,
        cells=_cells(pub.published_row(tables.services, row), "kind"),
    )
    out.counted(
        "exchange.time_credit_minutes",
        None if services_total is None else data.total("exchange.credits.transferred").minutes,
    )
    if pub.figure(tables.services, row, "carpool") is None:
        out.hidden("exchange.carpool_passenger_km")
    else:
        km = passenger_km(data)
        out.put("exchange.carpool_passenger_km", float(km), exact=str(km))
    median = ind.median(data.match_middle)
    if loans_total is None:
        out.hidden("exchange.median_request_to_match")
        out.hidden("exchange.share_of_requests_met")
    else:
        out.put(
            "exchange.median_request_to_match",
            None if median is None else float(round(median / 3600, 2)),
            requests_matched=data.matched,
        )
        out.put(
            "exchange.share_of_requests_met",
            fraction(safe_share(data.loans_met, data.loans_requested)),
            requested=data.loans_requested,
            met=data.loans_met,
        )
    out.put("exchange.idle_items", data.idle_items)


def _money(out: Entries) -> None:
    data = out.data
    succeeded = data.total(SUCCEEDED)
    failed = data.total(FAILED)
    out.put("money.raised", succeeded.cents - data.refunded_after_success_cents)
    out.put("money.matched", succeeded.matched_cents)
    out.put("money.commission", succeeded.commission_cents)
    out.put("money.campaigns_succeeded", succeeded.count)
    out.put(
        "money.campaign_success_rate",
        fraction(safe_share(succeeded.count, succeeded.count + failed.count)),
        closed=succeeded.count + failed.count,
    )
    out.counted(
        "money.backers_by_neighbourhood",
        pub.one_way_figure(out.tables.backers, out.row),
        cells=out.one_way_cells(out.tables.backers, "neighbourhood"),
    )


def _environment(out: Entries) -> None:
    """Estimates from published figures only (and money saved, which is one of them)."""
    estimates = published_estimates(out.tables, out.row, passenger_km(out.data), out.catalogue)
    saved = estimates.pop("money.saved_by_borrowers")
    if saved is None:
        out.hidden("money.saved_by_borrowers")
    else:
        out.put(
            "money.saved_by_borrowers",
            {
                "low": round_cents(saved.low),
                "central": round_cents(saved.central),
                "high": round_cents(saved.high),
            },
        )
    for key, r in estimates.items():
        if r is None:
            out.hidden(key)
        else:
            out.put(key, estimate(r))
    out.values["environment.co2e_avoided_by_repairs"]["cells"] = _cells(
        pub.published_row(out.tables.repairs, out.row), "category"
    )


def _energy(out: Entries) -> None:
    """Citizen energy: installations' output, public (no person behind it), per
    neighbourhood; CO2e with the catalogue's grid factor (absent before catalogue v2)."""
    per_nbhd = out.data.energy_wh
    if out.data.neighbourhood is not None:
        per_nbhd = {n: wh for n, wh in per_nbhd.items() if n == out.data.neighbourhood}
    wh = sum(per_nbhd.values())
    out.put(
        "environment.energy_produced",
        kwh(wh),
        cells=[{"neighbourhood": n, "value": kwh(v)} for n, v in sorted(per_nbhd.items())],
    )
    co2e = ind.co2e_avoided_by_energy(wh, out.catalogue)
    if co2e is None:
        out.put("environment.co2e_avoided_by_energy", None, note=NO_GRID_FACTOR)
        return
    out.put(
        "environment.co2e_avoided_by_energy",
        estimate(co2e),
        cells=[
            {"neighbourhood": n, "value": estimate(ind.co2e_avoided_by_energy(v, out.catalogue))}
            for n, v in sorted(per_nbhd.items())
        ],
    )


NO_GRID_FACTOR = "This catalogue version has no grid electricity factor (added in v2)."
FAMILY_BUILDERS = (_participation, _budget, _exchange, _money, _environment, _energy)


def kwh(wh: int) -> float:
    """Watt-hours as kWh (exact to the Wh in a float: at most three decimals)."""
    return float(Decimal(wh) / 1000)


def indicator_entries(
    data: WindowData,
    *,
    catalogue: Catalogue,
    population: int | None,
    min_cell: int,
    tables: pub.PublicTables,
) -> dict[str, dict[str, Any]]:
    """Every indicator's entry for `data`, from the published tables (one builder per family)."""
    out = Entries(data, catalogue, tables, population)
    for build in FAMILY_BUILDERS:
        build(out)
    if data.neighbourhood is not None and data.active < min_cell:
        for key, definition in ind.INDICATORS.items():
            if definition.member_derived:
                entry = out.values[key]
                entry.update(value=None, suppressed=True)
                entry.pop("cells", None)
                entry.pop("exact", None)
    return {key: out.values[key] for key in ind.INDICATORS}  # in the definitions' order


async def edition_names(session: AsyncSession, editions: list[str]) -> dict[str, str]:
    """The names of `editions` the projection has seen created (the others are absent)."""
    names = db.edition_names
    rows = await session.execute(
        select(names.c.edition, names.c.name).where(names.c.edition.in_(set(editions)))
    )
    return {edition: name for edition, name in rows}


def edition_row(e, names: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "edition": e.edition,
        "name": (names or {}).get(e.edition),
        "proposals": e.proposals,
        "supports": e.supports,
        "ballots_counted": e.ballots,
        "voters": e.voters,
        "eligible": e.eligible,
        "turnout": fraction(safe_share(e.voters or 0, e.eligible)),
        "envelope_cents": e.envelope_cents,
        "results_published": e.results_published,
        "allocated_cents": e.allocated_cents,
        "leftover_cents": e.leftover_cents,
        "projects_selected": e.selected,
        "projects_delivered": e.delivered,
        "delivered_cents": e.delivered_cents,
    }


def neighbourhood_rows(
    data: WindowData, catalogue: Catalogue, territory: TerritoryConfig, tables: pub.PublicTables
) -> list[dict[str, Any]]:
    """One row per neighbourhood of the territory (plus any unknown code seen in events),
    with the figures and the suppression of that neighbourhood's own report."""
    codes = list(territory.codes)
    seen = {k[1] for k in data.sums} | set(data.active_by_neighbourhood)
    codes += sorted(c for c in seen if c is not None and c not in codes)
    names = {n.code: n.name for n in territory.neighbourhoods}
    rows = []
    for code in codes:
        row = pub._row(code)
        active = pub.one_way_figure(tables.active, row)
        loans = pub.figure(tables.loans, row)
        services = pub.figure(tables.services, row)
        population = territory.population_of(code)
        co2e = _derived(
            pub.published(tables.loans, row), "footprint", "loan.purchase_substitution", catalogue
        )
        people = tables.loans.cells.get((row, dc.TOTAL))
        providers = tables.services.cells.get((row, dc.TOTAL))
        rows.append(
            {
                "neighbourhood": code,
                "name": names.get(code, code),
                "population": population,
                "active_members": active,
                "share_of_residents": None
                if active is None
                else fraction(safe_share(active, population)),
                "loans": loans,
                "borrowers": None if loans is None or people is None else people.contributors,
                "co2e_avoided_by_loans": None if co2e is None else estimate(co2e),
                "services": services,
                "providers": None
                if services is None or providers is None
                else providers.contributors,
                "money_raised": data.total(SUCCEEDED, neighbourhood=code).cents,
                "campaigns_succeeded": data.total(SUCCEEDED, neighbourhood=code).count,
                "suppressed": [
                    name
                    for name, v in (
                        ("active_members", active),
                        ("loans", loans),
                        ("services", services),
                    )
                    if v is None
                ],
            }
        )
    return rows


MAX_MONTHS = 120


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
    f = projection.facts
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
    for day, count, cents in rows:
        bucket = per_month[_day(day).strftime("%Y-%m")].sums.setdefault(
            (REFUNDED, None, None, None), Sums()
        )
        bucket.add(Sums(count=count, cents=int(cents)))
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
        people = await _people_per_month(
            session, projection, role, event_type, start, end, k=min_cell, rows=known
        )
        table = _from_counts(counts[event_type], people)
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


async def _people_per_month(
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
    start..end (`rows`, when the caller knows them), per month and over the whole range.
    A month's or the range's count is read only when its bounds (largest cell, sum of the
    cells) do not decide "fewer than k": it is never published."""
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
            out.cells[(pub._row(None if n == NONE else n), _day(day).strftime("%Y-%m"))] = count
    for first, last in parts.days:
        loose = [a.c.role == role, a.c.type == event_type, a.c.day.between(first, last)]
        cells = select(a.c.neighbourhood, month, func.count(member)).where(*loose)
        for n, m, count in await session.execute(cells.group_by(a.c.neighbourhood, month)):
            out.cells[(pub._row(n), str(m))] = count
    if rows is None:
        query = select(a.c.neighbourhood, func.count(member)).where(*where)
        rows = {pub._row(n): c for n, c in await session.execute(query.group_by(a.c.neighbourhood))}
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


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def factors_used(catalogue: Catalogue) -> list[dict[str, Any]]:
    """Every factor of the catalogue with its source: the methodology appendix."""
    users: dict[str, list[str]] = defaultdict(list)
    for definition in ind.INDICATORS.values():
        for key in ind.factor_keys_of(definition):
            users[key].append(definition.key)
    return [
        {
            "key": f.key,
            "value": str(f.value),
            "low": str(f.low),
            "high": str(f.high),
            "unit": f.unit,
            "scope": f.scope,
            "source": f.source,
            "upstream": f.upstream,
            "licence": f.licence,
            "proxy": f.proxy,
            "proxy_note": f.proxy_note,
            "used_by": users.get(f.key, []),
            # The upstream datasets behind the row (dataset, publisher, licence, URL).
            "datasets": [d.cited() for d in datasets_of(f)],
        }
        for f in catalogue.factors.values()
    ]
