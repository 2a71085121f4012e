"""Any stored event leaves the report answering (issue 12, item 10).

A fuzzed date (year 151, year 9999) that another service let through reaches impact through
the real consumer: it is quarantined (parked with the reason, counted in a metric), and every
report shape still answers 200. Rows stored before the quarantine existed are ignored by the
reads (simulated by writing one straight into the live tables).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from libs.common.contracts import crowdfunding as cf
from libs.common.contracts import exchange as ex
from libs.common.events import make_event
from services.impact import db
from services.impact.facts import OutOfRange, facts_of
from services.impact.handlers import LIVE
from services.impact.periods import buckets, last_buckets, parse_period
from services.impact.tests.test_impact_service import impact, publish, until_applied
from tests.impact_scenario import _where, at, hand_computed_scenario, loan_facts

__all__ = ["impact"]  # the fixture, re-exported for pytest


def stray_events():
    """Three events with dates no platform produced: year 151, year 9999, an old request."""
    campaign = {
        "campaign_id": "C-old",
        "holder_id": "m-org",
        "holder_kind": "organisation",
        "category": "garden",
        "neighbourhood": "centre",
        "goal_cents": 1000,
        "deadline": datetime(151, 10, 1, tzinfo=UTC),
    }
    succeeded = cf.CampaignSucceeded(
        **campaign,
        raised_cents=1000,
        matched_cents=0,
        total_cents=1000,
        commission_rate="0",
        commission_cents=0,
        net_cents=1000,
        backers=1,
    )
    old_loan = loan_facts(
        "L-old",
        category="drill",
        borrower="m-b1",
        borrower_nbhd="centre",
        requested_at=datetime(151, 10, 1, tzinfo=UTC),
    )
    return [
        make_event(
            succeeded,
            aggregate_id="C-old",
            territory=_where("centre"),
            occurred_at=datetime(151, 10, 1, tzinfo=UTC),
        ),
        make_event(
            ex.LoanReturned(**old_loan, days_lent=2, condition="good"),
            aggregate_id="L-old",
            territory=_where("centre"),
            occurred_at=at(3, 5),  # a sane day, but requested in year 151
        ),
        make_event(
            ex.MemberJoined(member_id="m-far", kind="resident", neighbourhood="gare"),
            aggregate_id="m-far",
            territory=_where("gare"),
            occurred_at=datetime(9999, 12, 31, 23, tzinfo=UTC),
        ),
    ]


def quarantined() -> float:
    return (
        REGISTRY.get_sample_value(
            "sharitories_impact_events_quarantined_total", {"reason": "date_out_of_range"}
        )
        or 0.0
    )


def test_an_event_dated_outside_the_bounds_is_out_of_range():
    for envelope in stray_events():
        with pytest.raises(OutOfRange):
            facts_of(envelope)
    assert facts_of(hand_computed_scenario()[0]).facts  # a sane event still projects


def test_periods_outside_the_bounds_are_refused_and_long_spans_are_cut():
    for text in ("0151", "9999", "9999-12", "9999-12-31", "0151-10-01", "1999-W10"):
        with pytest.raises(ValueError):
            parse_period(text)
    with pytest.raises(ValueError):
        buckets("month", date(151, 10, 1), date(2026, 11, 27))
    months, cut = last_buckets("month", date(151, 10, 1), date(2026, 11, 27), limit=120)
    assert cut and len(months) == 120 and months[-1].label == "2026-11"
    assert months[0].label == "2016-12"
    days, cut = last_buckets("day", date(2026, 11, 20), date(2026, 11, 27), limit=400)
    assert not cut and len(days) == 8
    years, cut = last_buckets("year", date(1, 1, 1), date(9999, 12, 31), limit=400)
    assert not cut and years[0].label == "2000" and years[-1].label == "2099"


async def every_report_shape(service) -> None:
    """Every period kind, format, neighbourhood and series: never a 5xx."""
    client = service.client
    for period in ("all", "2026", "2026-03", "2026-W10", "2026-03-05", "edition:PB26"):
        for fmt in ("json", "csv", "html"):
            for nbhd in (None, "centre"):
                params = {"period": period, "format": fmt}
                if nbhd:
                    params["neighbourhood"] = nbhd
                response = await client.get("/report", params=params)
                assert response.status_code == 200, (params, response.text)
    for key in ("exchange.loans_by_category", "money.raised", "participation.new_members"):
        for kind in ("day", "week", "month", "year", "edition"):
            response = await client.get(f"/indicators/{key}", params={"period": kind})
            assert response.status_code == 200, (key, kind, response.text)
    for period in ("0151", "9999-12", "0151-10-01"):
        response = await client.get("/report", params={"period": period})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "query.period"
    response = await client.get(
        "/indicators/money.raised", params={"period": "month", "from": "0151-10-01"}
    )
    assert response.status_code == 422, response.text


@pytest.mark.long
async def test_stray_dates_through_the_consumer_are_quarantined_and_reports_answer(impact):
    before = quarantined()
    events = hand_computed_scenario() + stray_events()
    for envelope in events:
        await publish(impact, envelope)
    await until_applied(impact, len(events))

    async with impact.runtime.db.transaction() as session:
        parked = (await session.execute(select(db.parked_events))).mappings().all()
    reasons = {row["event_id"]: row["reason"] for row in parked}
    assert set(reasons) == {e.id for e in events[-3:]}
    assert all(r.startswith("quarantined: ") for r in reasons.values())
    assert quarantined() - before == 3

    await every_report_shape(impact)
    rep = (await impact.client.get("/report", params={"period": "all"})).json()
    assert rep["indicators"]["money.raised"]["value"] == 100_000  # the year-151 one is out
    assert rep["projection"]["parked_events"] == 3
    assert rep["monthly_truncated"] is False


@pytest.mark.long
async def test_rows_stored_before_the_quarantine_do_not_break_the_report(impact):
    events = hand_computed_scenario()
    for envelope in events:
        await publish(impact, envelope)
    await until_applied(impact, len(events))
    # What an older version stored: the rows of events dated in year 151 and in 9999.
    olden = [e.model_copy(update={"id": f"old-{i}"}) for i, e in enumerate(stray_events())]
    async with impact.runtime.db.transaction() as session:
        from services.impact.facts import PROJECTORS, _Builder

        for envelope in olden:
            model, project = PROJECTORS[(envelope.type, envelope.version)]
            builder = _Builder(envelope)
            project(builder, model.model_validate(envelope.data))
            await LIVE.write(session, builder.out)
    await every_report_shape(impact)
    rep = (await impact.client.get("/report", params={"period": "all"})).json()
    assert rep["monthly"][0]["month"] == "2026-01"
