"""The one suppression pass behind every public output (methodology §1, "Privacy").

`protect_city(data, counts, k)` builds the public tables of one window from the city-wide
counts and decides, once, which of their cells are suppressed (disclosure.protect). The city
report publishes their totals per category and per neighbourhood; each neighbourhood's report
publishes its own row: both read the same `PublicTables`, so neither reveals what the other
hides. Figures derived from a table (CO2e, waste, money saved, passenger-km, days lent) are
computed from its *published* cells only: the suppressed cells of a row enter as one lump
(their sum, which the published total minus the published cells gives away anyway) valued
with the range of their categories' factors. A derived figure is therefore a function of what
is already published and cannot be inverted to recover a suppressed count.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from services.impact import disclosure as dc
from services.impact.catalogue import Catalogue, Range
from services.impact.engine import COMPLETED, RETURNED, CityCounts, Contributors, WindowData
from services.impact.indicators import _known

CITY = dc.TOTAL  # the row of the city's totals
NO_NBHD = "(none)"  # events without a neighbourhood: a row of their own


def _row(code: str | None) -> Hashable:
    return NO_NBHD if code is None else code


@dataclass
class PublicTables:
    loans: dc.Table  # neighbourhood x item category: returned loans, distinct borrowers
    services: dc.Table  # neighbourhood x kind: completed services, distinct providers
    repairs: dc.Table  # neighbourhood x repaired category (its totals: services' repair column)
    active: dc.Table  # active members per neighbourhood (one-way)
    joined: dc.Table  # new members per neighbourhood (one-way)
    backers: dc.Table  # distinct backers per neighbourhood (one-way)
    profiles: dc.Table  # neighbourhood x profile: members
    contributions: dc.Table  # visible comments per neighbourhood, distinct authors (one-way)

    def row(self, neighbourhood: str | None) -> Hashable:
        return CITY if neighbourhood is None else _row(neighbourhood)


def _from_sums(
    sums: dict[tuple[Hashable, Hashable], int], people: Contributors, *, k_rows: bool = True
) -> dc.Table:
    cells = {(_row(n), c): (v, people.cells.get((n, c), 0)) for (n, c), v in sums.items() if v}
    rows: dict[Hashable, list[int]] = {}
    cols: dict[Hashable, list[int]] = {}
    for (n, c), v in sums.items():
        rows.setdefault(_row(n), [0, people.rows.get(n, 0)])[0] += v
        cols.setdefault(c, [0, people.cols.get(c, 0)])[0] += v
    total = sum(sums.values())
    return dc.two_way(
        "",
        cells,
        {r: (v, p) for r, (v, p) in rows.items()},
        {c: (v, p) for c, (v, p) in cols.items()},
        (total, people.total),
    )


def protect_city(data: WindowData, counts: CityCounts, k: int) -> PublicTables:
    """The public tables of the city-wide `data` and their one suppression pattern."""
    loans: dict[tuple[Hashable, Hashable], int] = {}
    services: dict[tuple[Hashable, Hashable], int] = {}
    repairs: dict[tuple[Hashable, Hashable], int] = {}
    for (t, n, c, sub), s in data.sums.items():
        if t == RETURNED:
            key = (n, c or "other")
            loans[key] = loans.get(key, 0) + s.count
        elif t == COMPLETED:
            services[(n, c)] = services.get((n, c), 0) + s.count
            if c == "repair":
                key = (n, sub or "other")
                repairs[key] = repairs.get(key, 0) + s.count
    borrowers = _recategorised(counts.borrowers)
    fixers = _recategorised(counts.fixers)
    tables = PublicTables(
        loans=_from_sums(loans, borrowers),
        services=_from_sums(services, counts.providers),
        repairs=_from_sums(repairs, fixers),
        active=dc.one_way(
            "active",
            {_row(n): (v, v) for n, v in data.active_by_neighbourhood.items() if v},
            (data.active, data.active),
        ),
        joined=_people_one_way(
            {n: s.count for n, s in data.by("exchange.member.joined", "neighbourhood").items()}
        ),
        backers=_people_one_way(
            {
                n: c
                for (role, t, n), c in data.people_by_neighbourhood.items()
                if role == "backer" and t == "crowdfunding.pledge.made"
            }
        ),
        profiles=_from_sums(
            dict(counts.profiles),
            Contributors(
                cells=dict(counts.profiles),
                rows=_sum_by(counts.profiles, 0),
                cols=_sum_by(counts.profiles, 1),
                total=sum(counts.profiles.values()),
            ),
        ),
        contributions=dc.one_way(
            "contributions",
            {_row(n): (v, p) for n, (v, p) in data.contributions.items() if v},
            (sum(v for v, _ in data.contributions.values()), data.contributors),
        ),
    )
    # The repairs table's totals are figures of the services table: one figure, one status.
    shared = [
        ((tables.repairs, (r, dc.TOTAL)), (tables.services, (r, "repair")))
        for r in tables.repairs.rows
    ]
    dc.protect(
        [
            tables.loans,
            tables.services,
            tables.repairs,
            tables.active,
            tables.joined,
            tables.backers,
            tables.profiles,
            tables.contributions,
        ],
        k,
        shared,
    )
    return tables


def _recategorised(people: Contributors) -> Contributors:
    """Contributors keyed like the sums: a missing category counts as "other"."""
    out = Contributors(rows=people.rows, total=people.total)
    for (n, c), v in people.cells.items():
        key = (n, c or "other")
        out.cells[key] = out.cells.get(key, 0) + v
    for c, v in people.cols.items():
        out.cols[c or "other"] = out.cols.get(c or "other", 0) + v
    return out


def _sum_by(counts: dict[tuple, int], index: int) -> dict:
    out: dict = {}
    for key, v in counts.items():
        out[key[index]] = out.get(key[index], 0) + v
    return out


def _people_one_way(per_nbhd: dict[str | None, int]) -> dc.Table:
    cells = {_row(n): (v, v) for n, v in per_nbhd.items() if v}
    total = sum(per_nbhd.values())
    return dc.one_way("", cells, (total, total))


# --- reading the published figures -------------------------------------------------------------


def figure(table: dc.Table, row: Hashable, col: Hashable = dc.TOTAL) -> int | None:
    """A published figure, or None when it is suppressed (0 when the cell is empty)."""
    if (row, col) in table.suppressed:
        return None
    cell = table.cells.get((row, col))
    return 0 if cell is None else cell.value


def one_way_figure(table: dc.Table, row: Hashable) -> int | None:
    return figure(table, row, dc.ONE if row != CITY else dc.TOTAL)


def published_row(table: dc.Table, row: Hashable) -> list[dict[str, Any]]:
    """The cells of one row (CITY: the column totals), suppressed ones flagged and emptied."""
    out = []
    for (r, c), cell in table.cells.items():
        if r != row or c == dc.TOTAL:
            continue
        hidden = (r, c) in table.suppressed
        out.append(
            {
                "key": c,
                "value": None if hidden else cell.value,
                "contributors": None if hidden else cell.contributors,
                "suppressed": hidden,
            }
        )
    return sorted(out, key=lambda cell: str(cell["key"]))


def one_way_cells(table: dc.Table) -> list[dict[str, Any]]:
    return [
        {
            "key": None if r == NO_NBHD else r,
            "value": None if (r, c) in table.suppressed else cell.value,
            "contributors": None if (r, c) in table.suppressed else cell.contributors,
            "suppressed": (r, c) in table.suppressed,
        }
        for (r, c), cell in sorted(table.cells.items(), key=lambda kv: str(kv[0]))
        if r != dc.TOTAL and c == dc.ONE
    ]


@dataclass(frozen=True)
class Published:
    """A row of a table as published: the visible cells, and the suppressed ones as a lump."""

    counts: dict[str, int]  # category -> count, published cells only
    lump: int  # the sum of the suppressed cells (published total - published cells)
    lump_categories: tuple[str, ...]  # the categories whose cells are suppressed


def published(table: dc.Table, row: Hashable) -> Published | None:
    """The row as an attacker sees it; None when its total is suppressed."""
    total = figure(table, row)
    if total is None:
        return None
    counts: dict[str, int] = {}
    hidden: list[str] = []
    for cell in published_row(table, row):
        if cell["suppressed"]:
            hidden.append(str(cell["key"]))
        else:
            counts[str(cell["key"])] = cell["value"]
    return Published(counts, total - sum(counts.values()), tuple(sorted(hidden)))


def lump_range(p: Published, kind: str, catalogue: Catalogue) -> Range:
    """The suppressed cells' part of a per-category estimate: their sum times the lowest low,
    the mean central and the highest high factor of their categories (methodology §1)."""
    if not p.lump or not p.lump_categories:
        return Range.zero()
    factors = [catalogue.range(f"{kind}.{_known(c)}") for c in p.lump_categories]
    low = min(f.low for f in factors)
    high = max(f.high for f in factors)
    central = sum((f.central for f in factors), start=factors[0].central * 0) / len(factors)
    return Range(low * p.lump, central * p.lump, high * p.lump)
