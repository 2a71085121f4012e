"""The pre-aggregated tables answer exactly what the per-event rows answer.

Synthetic events are projected in shuffled order and uneven batches; then
- the incrementally maintained aggregates equal a refold from the fact rows, and
- gather() over years, months, weeks, loose day ranges and one neighbourhood equals figures
  computed here in Python straight from the fact and activity rows (the definitions).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from libs.common.contracts import exchange as ex
from libs.common.events import make_event
from services.impact.aggregates import PEOPLE, refold
from services.impact.api import catalogue_of
from services.impact.app import create_app
from services.impact.config import configured_territory, get_impact_settings
from services.impact.engine import Split, gather, split
from services.impact.entries import indicator_entries
from services.impact.handlers import LIVE
from services.impact.indicators import INDICATORS
from services.impact.periods import ALL_TIME, Window, parse_period
from services.impact.rebuild import differences, drop, fresh_projection, recreate
from services.impact.report import public_tables
from tests.impact_scenario import _where, at, loan_facts, synthetic_events


def test_split_covers_a_window_with_years_months_and_loose_days():
    assert split(date(2026, 1, 1), date(2026, 12, 31), years=True) == Split(
        [], [], (date(2026, 1, 1), date(2026, 1, 1))
    )
    assert split(date(2026, 1, 1), date(2026, 12, 31), years=False) == Split(
        [], [(date(2026, 1, 1), date(2026, 12, 1))], None
    )
    assert split(date(2025, 11, 15), date(2027, 2, 3), years=True) == Split(
        [(date(2025, 11, 15), date(2025, 11, 30)), (date(2027, 2, 1), date(2027, 2, 3))],
        [(date(2025, 12, 1), date(2025, 12, 1)), (date(2027, 1, 1), date(2027, 1, 1))],
        (date(2026, 1, 1), date(2026, 1, 1)),
    )
    assert split(date(2026, 3, 2), date(2026, 3, 8), years=True) == Split(
        [(date(2026, 3, 2), date(2026, 3, 8))], [], None
    )
    assert split(date(2026, 2, 1), date(2026, 2, 28), years=True).months == [
        (date(2026, 2, 1), date(2026, 2, 1))
    ]
    everything = split(ALL_TIME.start, ALL_TIME.end, years=True)
    assert everything.days == [] and everything.years == (date(2000, 1, 1), date(2099, 1, 1))


def reference(facts: list[dict], activity: list[dict], window: Window, nbhd: str | None) -> dict:
    """The definitions, over the raw rows."""

    def inside(row, day="day"):
        ok = row[day] is not None and window.start <= row[day] <= window.end
        return ok and (nbhd is None or row["neighbourhood"] == nbhd)

    sums: dict = defaultdict(lambda: [0] * 8)
    for r in facts:
        if inside(r):
            acc = sums[(r["type"], r["neighbourhood"], r["category"], r["subcategory"])]
            for i, c in enumerate(
                ("quantity", "days", "minutes", "passenger_m", "cents", "matched_cents")
            ):
                acc[i + 1] += r[c] or 0
            acc[7] += r["commission_cents"] or 0
            acc[0] += 1
    acts = [a for a in activity if inside(a)]
    by_nbhd: dict = defaultdict(set)
    people_n: dict = defaultdict(set)
    people_c: dict = defaultdict(set)
    for a in acts:
        by_nbhd[a["neighbourhood"]].add(a["member_id"])
        if (a["role"], a["type"]) in PEOPLE:
            people_n[(a["role"], a["type"], a["neighbourhood"])].add(a["member_id"])
            people_c[(a["role"], a["type"], a["category"])].add(a["member_id"])
    loans = [r for r in facts if r["type"].startswith("exchange.loan.") and inside(r, "ref_day")]
    met_types = {"accepted", "picked_up", "returned", "overdue", "disputed"}
    waits = sorted(
        r["seconds"]
        for r in facts
        if inside(r) and r["type"] == "exchange.loan.accepted" and r["seconds"] is not None
    )
    return {
        "sums": {k: v for k, v in sums.items()},
        "active": len({a["member_id"] for a in acts}),
        "active_by_neighbourhood": {k: len(v) for k, v in by_nbhd.items()},
        "people_n": {k: len(v) for k, v in people_n.items()},
        "people_c": {k: len(v) for k, v in people_c.items()},
        "requested": len({r["entity"] for r in loans}),
        "met": len({r["entity"] for r in loans if r["type"].rsplit(".", 1)[1] in met_types}),
        "matched": len(waits),
        "middle": waits[(len(waits) - 1) // 2 : len(waits) // 2 + 1] if waits else [],
    }


def observed(data) -> dict:
    return {
        "sums": {
            k: [
                s.count,
                s.quantity,
                s.days,
                s.minutes,
                s.passenger_m,
                s.cents,
                s.matched_cents,
                s.commission_cents,
            ]
            for k, s in data.sums.items()
        },
        "active": data.active,
        "active_by_neighbourhood": data.active_by_neighbourhood,
        "people_n": data.people_by_neighbourhood,
        "people_c": data.people_by_category,
        "requested": data.loans_requested,
        "met": data.loans_met,
        "matched": data.matched,
        "middle": data.match_middle,
    }


@pytest.fixture
async def impact(service_factory):
    return await service_factory("impact", create_app)


def disagreeing_loans() -> list:
    """Loans whose events disagree on the request day or the borrower's neighbourhood (the
    cohort then counts them from their fact rows), and one whose events agree."""
    base = {"category": "drill", "borrower": "m-multi", "lender": "m-lend"}
    day_one, day_two = at(3, 30, 23), at(4, 2, 9)

    def event(model, loan, **extra):
        return make_event(
            model(**loan, **extra),
            aggregate_id=loan["loan_id"],
            territory=_where(loan["borrower_neighbourhood"]),
            occurred_at=loan["requested_at"] + timedelta(hours=3),
        )

    a1 = loan_facts("LM1", borrower_nbhd="centre", requested_at=day_one, **base)
    a2 = loan_facts("LM1", borrower_nbhd="centre", requested_at=day_two, **base)
    b1 = loan_facts("LM2", borrower_nbhd="centre", requested_at=day_two, **base)
    b2 = loan_facts("LM2", borrower_nbhd="riverside", requested_at=day_two, **base)
    c1 = loan_facts("LM3", borrower_nbhd="centre", requested_at=day_one, **base)
    return [
        event(ex.LoanRequested, a1),
        event(ex.LoanAccepted, a2),
        event(ex.LoanRequested, b1),
        event(ex.LoanReturned, b2, days_lent=2, condition="good"),
        event(ex.LoanRequested, c1),
        event(ex.LoanPickedUp, c1),
    ]


@pytest.mark.long
async def test_aggregates_answer_what_the_rows_answer(impact):
    database = impact.runtime.db
    events = list(synthetic_events(600, seed=5, year=2026)) + disagreeing_loans()
    random.Random(1).shuffle(events)
    position = 0
    for size in (1, 7, 150, 42, 406):  # uneven batches, shuffled order
        async with database.transaction() as session:
            for envelope in events[position : position + size]:
                await LIVE.apply(session, envelope)
        position += size

    # Incremental aggregates == a fold of the rows from scratch.
    again = fresh_projection("_refold")
    await recreate(database, again)
    async with database.transaction() as session:
        for name in ("facts", "activity"):
            source, target = getattr(LIVE, name), getattr(again, name)
            rows = (await session.execute(select(source))).mappings().all()
            if rows:
                await session.execute(target.insert(), [dict(r) for r in rows])
        await session.run_sync(
            lambda s: refold(
                s.connection(),
                facts=again.facts,
                activity=again.activity,
                sums=again.sums,
                members=again.members,
                loans=again.loans,
                chunk=97,  # several keyset pages
            )
        )
        assert await differences(session, LIVE, again) == {}
        multi = select(func.count()).where(LIVE.loans.c.multi == 1)
        assert await session.scalar(multi) == 2  # LM1 and LM2
    await drop(database, again)

    async with database.read() as session:
        facts = [dict(r) for r in (await session.execute(select(LIVE.facts))).mappings()]
        activity = [dict(r) for r in (await session.execute(select(LIVE.activity))).mappings()]
        windows = [
            parse_period("2026"),
            parse_period("2026-03"),
            parse_period("2026-W10"),
            parse_period("2026-07-14"),
            Window("all", "loose", date(2026, 2, 11), date(2026, 11, 3)),
            Window("all", "across", date(2025, 12, 20), date(2026, 1, 9)),
            Window("all", "multi", date(2026, 3, 30), date(2026, 4, 1)),
            Window("all", "multi2", date(2026, 4, 2), date(2026, 4, 2)),
            ALL_TIME,
        ]
        for window in windows:
            for nbhd in (None, "centre"):
                data = await gather(session, window, neighbourhood=nbhd, with_editions=False)
                expected = reference(facts, activity, window, nbhd)
                assert observed(data) == expected, (window, nbhd)

    # An indicator series reads only what its indicator needs (and the sums of all its months
    # in one query): each value equals the one of a full gather of that period.
    settings = get_impact_settings()
    catalogue = catalogue_of(settings.catalogue_version)
    population = configured_territory().population_of
    full: dict = {}
    for period, params in (
        ("month", {"from": "2026-01-01", "to": "2026-12-31"}),
        ("year", {"from": "2026-01-01", "to": "2026-12-31"}),
        ("week", {"from": "2026-03-23", "to": "2026-04-12"}),
    ):
        for nbhd in (None, "centre"):
            query = {"period": period, **params} | ({"neighbourhood": nbhd} if nbhd else {})
            for key in INDICATORS:
                if INDICATORS[key].breakdown == "edition":
                    continue
                response = await impact.client.get(f"/indicators/{key}", params=query)
                assert response.status_code == 200, response.text
                for entry in response.json()["series"]:
                    label = entry["period"]["label"]
                    if (label, nbhd) not in full:
                        async with database.read() as session:
                            data = await gather(session, parse_period(label), neighbourhood=nbhd)
                            tables = await public_tables(session, data, min_cell=settings.min_cell)
                        full[(label, nbhd)] = indicator_entries(
                            data,
                            catalogue=catalogue,
                            population=population(nbhd),
                            min_cell=settings.min_cell,
                            tables=tables,
                        )
                    expected = full[(label, nbhd)][key]
                    got = {k: v for k, v in entry.items() if k != "period"}
                    assert got == json.loads(json.dumps(expected, default=str)), (key, label)
