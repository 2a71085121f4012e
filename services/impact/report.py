"""The impact report: every indicator of one window, with its catalogue version, as JSON data.

`build_report` is what `/report`, `/indicators/{key}` and `sharitories impact report` share.
Public rules applied here, once:
- every entry names the catalogue version it was computed with;
- estimates are low / central / high ranges, shown with two significant figures (the exact
  decimals travel beside them);
- cells counting people (per neighbourhood, category, kind, profile) with fewer than k
  contributors are suppressed (indicators.suppress_small_cells); a neighbourhood-filtered
  query over fewer than k active members suppresses every member-derived figure.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.impact import indicators as ind
from services.impact.catalogue import Catalogue, Range
from services.impact.config import TerritoryConfig
from services.impact.engine import (
    COMPLETED,
    PARTS,
    RETURNED,
    Sums,
    WindowData,
    day_span,
    environment,
    gather,
    loans_by_category,
    passenger_km,
    succeeded_campaigns,
    window_sums,
)
from services.impact.handlers import LIVE, Projection
from services.impact.periods import ALL_TIME, Window, buckets, month_window

SUCCEEDED = "crowdfunding.campaign.succeeded"
FAILED = "crowdfunding.campaign.failed"
REFUNDED = "crowdfunding.pledge.refunded"
CONTRIBUTIONS_NOTE = (
    "No producer publishes comments or discussion posts yet: not available, never a false 0."
)
# Indicators derived from what identifiable members did (suppressed for a small neighbourhood).
MEMBER_DERIVED = {
    "participation.active_members",
    "participation.share_of_residents",
    "participation.new_members",
    "participation.member_profiles",
    "money.backers_by_neighbourhood",
    "money.saved_by_borrowers",
} | {k for k, d in ind.INDICATORS.items() if d.family in ("exchange", "environment")}


# What each indicator reads (engine.PARTS); a series of one indicator reads only that.
_SUMS = frozenset({"sums"})
_EDITIONS = frozenset({"editions"})
NEEDS: dict[str, frozenset[str]] = {
    "participation.active_members": frozenset({"members"}),
    "participation.share_of_residents": frozenset({"members"}),
    "participation.new_members": _SUMS,
    "participation.member_profiles": frozenset({"profiles"}),
    "participation.pb_turnout": _EDITIONS,
    "participation.pb_proposals": _EDITIONS,
    "participation.pb_supports": _EDITIONS,
    "participation.contributions": frozenset(),
    "exchange.loans_by_category": frozenset({"sums", "people"}),
    "exchange.days_lent": _SUMS,
    "exchange.services_by_kind": frozenset({"sums", "people"}),
    "exchange.time_credit_minutes": _SUMS,
    "exchange.carpool_passenger_km": _SUMS,
    "exchange.median_request_to_match": frozenset({"waits"}),
    "exchange.share_of_requests_met": frozenset({"loans"}),
    "exchange.idle_items": frozenset({"idle"}),
    "money.raised": frozenset({"sums", "refunds"}),
    "money.matched": _SUMS,
    "money.commission": _SUMS,
    "money.campaigns_succeeded": _SUMS,
    "money.campaign_success_rate": _SUMS,
    "money.backers_by_neighbourhood": frozenset({"people"}),
    "money.saved_by_borrowers": _SUMS,
    "money.pb_envelope_allocated": _EDITIONS,
    "money.pb_envelope_leftover": _EDITIONS,
    "money.pb_delivered": _EDITIONS,
    "delivery.pb_projects_selected": _EDITIONS,
    "delivery.pb_projects_delivered": _EDITIONS,
    "delivery.pb_delivery_rate": _EDITIONS,
} | {k: _SUMS for k in ind.INDICATORS if k.startswith("environment.")}


def needs_of(key: str, neighbourhood: str | None) -> frozenset[str]:
    """The parts `gather` must read for indicator `key` (all of them for an unknown key)."""
    parts = NEEDS.get(key, PARTS)
    if neighbourhood is not None and key in MEMBER_DERIVED:
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
    """The full report of `window` as JSON-ready data."""
    data = await gather(session, window, neighbourhood=neighbourhood, projection=projection)
    window = data.window  # an edition resolved to its days
    population = territory.population_of(neighbourhood)
    entries = indicator_entries(data, catalogue=catalogue, population=population, min_cell=min_cell)
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
        "editions": [edition_row(e) for e in data.editions],
    }
    if neighbourhood is None:
        report["neighbourhoods"] = neighbourhood_rows(data, catalogue, territory, min_cell)
    if with_series:
        report["monthly"] = await monthly_series(
            session, window, catalogue, neighbourhood, projection
        )
    report["factors"] = factors_used(catalogue)
    return report


def indicator_entries(
    data: WindowData, *, catalogue: Catalogue, population: int | None, min_cell: int
) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, Any]] = {}

    def put(key: str, value: Any, **extra: Any) -> None:
        definition = ind.INDICATORS[key]
        values[key] = {
            "key": key,
            "family": definition.family,
            "unit": definition.unit,
            "catalogue_version": catalogue.version,
            "value": value,
            "suppressed": False,
            **extra,
        }

    def cells(rows: list[dict[str, Any]], dimension: str) -> list[dict[str, Any]]:
        ordered = sorted(rows, key=lambda r: str(r[dimension]))
        return ind.suppress_small_cells(ordered, min_cell)

    # participation
    put(
        "participation.active_members",
        data.active,
        cells=cells(
            [
                {"neighbourhood": n, "value": c, "contributors": c}
                for n, c in data.active_by_neighbourhood.items()
            ],
            "neighbourhood",
        ),
    )
    put("participation.share_of_residents", fraction(safe_share(data.active, population)))
    joined = data.by("exchange.member.joined", "neighbourhood")
    put(
        "participation.new_members",
        sum(s.count for s in joined.values()),
        cells=cells(
            [
                {"neighbourhood": n, "value": s.count, "contributors": s.count}
                for n, s in joined.items()
            ],
            "neighbourhood",
        ),
    )
    put(
        "participation.member_profiles",
        sum(data.members_by_profile.values()),
        cells=cells(
            [
                {"profile": p, "value": c, "contributors": c}
                for p, c in data.members_by_profile.items()
            ],
            "profile",
        ),
    )
    voters = sum(e.voters or 0 for e in data.editions if e.eligible)
    eligible = sum(e.eligible or 0 for e in data.editions if e.eligible)
    put(
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
            for e in data.editions
        ],
    )
    for key, attr in (
        ("participation.pb_proposals", "proposals"),
        ("participation.pb_supports", "supports"),
    ):
        put(
            key,
            sum(getattr(e, attr) for e in data.editions),
            cells=[{"edition": e.edition, "value": getattr(e, attr)} for e in data.editions],
        )
    put("participation.contributions", None, note=CONTRIBUTIONS_NOTE)

    # exchange
    loans = loans_by_category(data)
    put(
        "exchange.loans_by_category",
        sum(loans.values()),
        cells=cells(
            [
                {
                    "category": cat,
                    "value": n,
                    "contributors": data.people_by_category.get(("borrower", RETURNED, cat), 0),
                }
                for cat, n in loans.items()
            ],
            "category",
        ),
    )
    put("exchange.days_lent", data.total(RETURNED).days)
    services = data.by(COMPLETED, "category")
    put(
        "exchange.services_by_kind",
        sum(s.count for s in services.values()),
        cells=cells(
            [
                {
                    "kind": kind,
                    "value": s.count,
                    "contributors": data.people_by_category.get(("provider", COMPLETED, kind), 0),
                }
                for kind, s in services.items()
            ],
            "kind",
        ),
    )
    put("exchange.time_credit_minutes", data.total("exchange.credits.transferred").minutes)
    put("exchange.carpool_passenger_km", float(passenger_km(data)), exact=str(passenger_km(data)))
    median = ind.median(data.match_middle)
    put(
        "exchange.median_request_to_match",
        None if median is None else float(round(median / 3600, 2)),
        requests_matched=data.matched,
    )
    put(
        "exchange.share_of_requests_met",
        fraction(safe_share(data.loans_met, data.loans_requested)),
        requested=data.loans_requested,
        met=data.loans_met,
    )
    put("exchange.idle_items", data.idle_items)

    # money
    succeeded = data.total(SUCCEEDED)
    failed = data.total(FAILED)
    put("money.raised", succeeded.cents - data.refunded_after_success_cents)
    put("money.matched", succeeded.matched_cents)
    put("money.commission", succeeded.commission_cents)
    put("money.campaigns_succeeded", succeeded.count)
    put(
        "money.campaign_success_rate",
        fraction(safe_share(succeeded.count, succeeded.count + failed.count)),
        closed=succeeded.count + failed.count,
    )
    backers = {
        n: c
        for (role, t, n), c in data.people_by_neighbourhood.items()
        if role == "backer" and t == "crowdfunding.pledge.made"
    }
    put(
        "money.backers_by_neighbourhood",
        sum(backers.values()),
        cells=cells(
            [{"neighbourhood": n, "value": c, "contributors": c} for n, c in backers.items()],
            "neighbourhood",
        ),
    )
    saved = ind.money_saved_by_borrowers(loans, catalogue)
    put(
        "money.saved_by_borrowers", {"low": saved.low, "central": saved.central, "high": saved.high}
    )
    for key, attr in (
        ("money.pb_envelope_allocated", "allocated_cents"),
        ("money.pb_envelope_leftover", "leftover_cents"),
        ("money.pb_delivered", "delivered_cents"),
    ):
        put(
            key,
            sum(getattr(e, attr) for e in data.editions),
            cells=[{"edition": e.edition, "value": getattr(e, attr)} for e in data.editions],
        )

    # environment
    for key, r in environment(data, catalogue).items():
        put(key, estimate(r))

    # delivery
    selected = sum(e.selected for e in data.editions)
    delivered = sum(e.delivered for e in data.editions)
    put(
        "delivery.pb_projects_selected",
        selected,
        cells=[{"edition": e.edition, "value": e.selected} for e in data.editions],
    )
    put(
        "delivery.pb_projects_delivered",
        delivered,
        cells=[{"edition": e.edition, "value": e.delivered} for e in data.editions],
    )
    put(
        "delivery.pb_delivery_rate",
        fraction(safe_share(delivered, selected)),
        cells=[
            {"edition": e.edition, "value": fraction(safe_share(e.delivered, e.selected))}
            for e in data.editions
        ],
    )

    if data.neighbourhood is not None and data.active < min_cell:
        for key in MEMBER_DERIVED:
            entry = values[key]
            entry.update(value=None, suppressed=True)
            entry.pop("cells", None)
            entry.pop("exact", None)
    return values


def edition_row(e) -> dict[str, Any]:
    return {
        "edition": e.edition,
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
    data: WindowData, catalogue: Catalogue, territory: TerritoryConfig, min_cell: int
) -> list[dict[str, Any]]:
    """One row per neighbourhood of the territory (plus any unknown code seen in events)."""
    codes = list(territory.codes)
    seen = {k[1] for k in data.sums} | set(data.active_by_neighbourhood)
    codes += sorted(c for c in seen if c is not None and c not in codes)
    names = {n.code: n.name for n in territory.neighbourhoods}
    rows = []
    for code in codes:
        loans = {
            c or "other": s.count
            for c, s in data.by(RETURNED, "category", neighbourhood=code).items()
        }
        active = data.active_by_neighbourhood.get(code, 0)
        population = territory.population_of(code)
        rows.append(
            {
                "neighbourhood": code,
                "name": names.get(code, code),
                "population": population,
                "active_members": active,
                "share_of_residents": fraction(safe_share(active, population)),
                "loans": sum(loans.values()),
                "borrowers": data.people_by_neighbourhood.get(("borrower", RETURNED, code), 0),
                "co2e_avoided_by_loans": estimate(ind.co2e_avoided_by_loans(loans, catalogue)),
                "services": data.total(COMPLETED, neighbourhood=code).count,
                "providers": data.people_by_neighbourhood.get(("provider", COMPLETED, code), 0),
                "money_raised": data.total(SUCCEEDED, neighbourhood=code).cents,
                "campaigns_succeeded": data.total(SUCCEEDED, neighbourhood=code).count,
            }
        )
    # Suppress each people-derived column on its own contributor count.
    for column, contributors, also in (
        ("active_members", "active_members", ("share_of_residents",)),
        ("loans", "borrowers", ("co2e_avoided_by_loans",)),
        ("services", "providers", ()),
    ):
        cells = ind.suppress_small_cells(
            [{"value": r[column], "contributors": r[contributors]} for r in rows], min_cell
        )
        for row, cell in zip(rows, cells, strict=True):
            if cell["suppressed"]:
                for name in (column, contributors, *also):
                    row[name] = None
                row.setdefault("suppressed", []).append(column)
    for row in rows:
        row.setdefault("suppressed", [])
    return rows


MAX_MONTHS = 120


async def monthly_series(
    session: AsyncSession,
    window: Window,
    catalogue: Catalogue,
    neighbourhood: str | None,
    projection: Projection,
) -> list[dict[str, Any]]:
    """Loans, services, CO2e (central) and money raised per month of the window."""
    f = projection.facts
    start, end = window.start, window.end
    if window is ALL_TIME or window.kind in ("all", "edition"):
        # An open window (all time, an unknown edition) spans the months holding data.
        first, last = await day_span(session, projection=projection)
        if first is None:
            return []
        start, end = max(start, first), min(end, last)
        if start > end:
            return []
    # At most the last MAX_MONTHS: one stray old event (a fuzzed year-151 date once got
    # in) must not make the whole report fail.
    months_before = end.year * 12 + end.month - 1 - (MAX_MONTHS - 1)
    start = max(start, date(months_before // 12, months_before % 12 + 1, 1))
    months = buckets("month", month_window(start).start, end, limit=MAX_MONTHS)
    per_month: dict[str, WindowData] = {
        m.label: WindowData(window=m, neighbourhood=neighbourhood) for m in months
    }
    sums = await window_sums(
        session,
        Window("all", "series", start, end),
        neighbourhood=neighbourhood,
        projection=projection,
        by_day=True,
        types=[RETURNED, COMPLETED, SUCCEEDED],
    )
    for (_grain, day, t, _nbhd, cat, sub), values in sums.items():
        bucket = per_month[_day(day).strftime("%Y-%m")].sums.setdefault((t, None, cat, sub), Sums())
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
    out = []
    for label, data in per_month.items():
        co2e = environment(data, catalogue)["environment.co2e_avoided"]
        out.append(
            {
                "month": label,
                "loans": data.total(RETURNED).count,
                "services": data.total(COMPLETED).count,
                "co2e_avoided_kg": estimate(co2e),
                "money_raised": data.total(SUCCEEDED).cents - data.total(REFUNDED).cents,
            }
        )
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
        }
        for f in catalogue.factors.values()
    ]
