"""The report's entries: every indicator of one window as JSON-ready data, from the published
tables. Pure: no SQL, no session; `report.py` reads through the engine and calls these.

One builder per indicator family fills `Entries`; figures derived from a table (CO2e,
waste, money saved) are computed from its published cells only (publication.py). Estimates
are low / central / high ranges shown with two significant figures, the exact decimals
beside them.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from libs.common.money import round_cents
from services.impact import disclosure as dc
from services.impact import indicators as ind
from services.impact import publication as pub
from services.impact.catalogue import Catalogue, Range
from services.impact.citations import datasets_of
from services.impact.config import TerritoryConfig
from services.impact.engine import (
    COMPLETED,
    FAILED,
    RETURNED,
    SUCCEEDED,
    WindowData,
)

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


# --- from counts to indicator values ------------------------------------------------------------


def loans_by_category(data: WindowData) -> dict[str, int]:
    return {cat or "other": s.count for cat, s in data.by(RETURNED, "category").items()}


def repairs_by_category(data: WindowData) -> dict[str, int]:
    repairs = data.by(COMPLETED, "subcategory", category="repair")
    return {cat or "other": s.count for cat, s in repairs.items()}


def passenger_km(data: WindowData) -> Decimal:
    return Decimal(data.total(COMPLETED, category="carpool").passenger_m) / 1000


def environment(data: WindowData, catalogue: Catalogue) -> dict[str, Range]:
    """The environment estimates over all of `data`'s counts: the month-by-month series'
    CO2e (rounded there); the entries use published cells only (`published_estimates`)."""
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


# --- the entries ------------------------------------------------------------------------------


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
