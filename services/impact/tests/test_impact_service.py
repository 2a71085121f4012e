"""The impact service end to end: events PUBLISHED to a real nats-server, consumed by the
service's durable consumer, projected, and read back through /report (SQLite and PostgreSQL).

Hand-computed values of `scenario.hand_computed_scenario()` for 2026, catalogue v1:
- loans returned: L1 drill, L2 drill, L3 tent -> 3 loans, 2 + 3 + 5 = 10 days lent;
- requests: L1..L4 requested, L4 declined -> 3 / 4 = 75 % met; waits 2 h, 4 h, 10 h -> median 4 h;
- CO2e by loans = (2 x 26.65 + 108.36) x 0.25 = 40.415 kg
  (low (53.3 + 54.18) x 0.10 = 10.748; high (53.3 + 162.54) x 0.50 = 107.92);
- carpool 12.5 km x 2 passengers = 25 passenger-km -> 25 x 0.8 x 0.14225 = 2.845 kg;
- one repaired bike -> 116 x 0.5 = 58 kg; total central 40.415 + 2.845 + 58 = 101.26 kg;
- money saved = (2 x 60 EUR + 150 EUR) x 0.25 = 67.50 EUR (low 14 EUR, high 270 EUR);
- time credits 90 - 30 (correction) = 60 min;
- raised 1,000 EUR, matched 500 EUR, commission 75 EUR; 1 of 2 closed campaigns succeeded;
- PB26: 2 proposals, 1 support, 2 ballots counted, turnout 2 / 40 = 5 %, allocated 30,000 EUR,
  leftover 20,000 EUR, 1 project selected and delivered;
- active members: m-b1, m-b2, m-lender, m-driver, m-fixer, m-org = 6 (ballots are anonymous).
"""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from libs.common.broker import publish_event
from libs.common.events import Envelope, Territory
from libs.common.messaging import inbox
from services.impact import db
from services.impact.app import create_app
from services.impact.catalogue import CURRENT_VERSION
from services.impact.config import get_impact_settings
from services.impact.handlers import LIVE
from services.impact.rebuild import differences, drop, rebuild, swap
from tests.impact_scenario import hand_computed_scenario


@pytest.fixture
async def impact(service_factory, monkeypatch):
    monkeypatch.setenv("IMPACT_MIN_CELL", "1")  # the scenario is tiny: show every cell
    get_impact_settings.cache_clear()
    service = await service_factory("impact", create_app)
    yield service
    get_impact_settings.cache_clear()


async def publish(service, envelope: Envelope, msg_id: str | None = None) -> None:
    await publish_event(
        service.runtime.broker,
        envelope.subject,
        envelope.model_dump_json().encode(),
        msg_id or envelope.id,
    )


async def applied(service) -> int:
    async with service.runtime.db.transaction() as session:
        return await session.scalar(
            select(func.count()).select_from(inbox).where(inbox.c.consumer == "impact")
        )


async def until_applied(service, count: int, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while await applied(service) < count:
            await asyncio.sleep(0.05)


async def report(service, **params) -> dict:
    response = await service.client.get("/report", params={"period": "2026", **params})
    assert response.status_code == 200, response.text
    return response.json()


def value(rep: dict, key: str):
    return rep["indicators"][key]["value"]


async def test_published_scenario_gives_the_hand_computed_report(impact):
    events = hand_computed_scenario()
    for envelope in events:
        await publish(impact, envelope)
    await until_applied(impact, len(events))

    rep = await report(impact)
    assert rep["catalogue"]["version"] == CURRENT_VERSION
    assert all(e["catalogue_version"] == CURRENT_VERSION for e in rep["indicators"].values())
    assert value(rep, "exchange.loans_by_category") == 3
    cells = {
        c["category"]: c["value"] for c in rep["indicators"]["exchange.loans_by_category"]["cells"]
    }
    assert cells == {"drill": 2, "tent": 1}
    assert value(rep, "exchange.days_lent") == 10
    assert value(rep, "exchange.share_of_requests_met")["fraction"] == "0.75"
    assert value(rep, "exchange.median_request_to_match") == 4.0
    loans = value(rep, "environment.co2e_avoided_by_loans")["exact"]
    assert Decimal(loans["central"]) == Decimal("40.415")
    assert Decimal(loans["low"]) == Decimal("10.748")
    assert Decimal(loans["high"]) == Decimal("107.92")
    assert value(rep, "environment.co2e_avoided_by_loans")["central"] == 40.0  # 2 s.f.
    assert Decimal(
        value(rep, "environment.co2e_avoided_by_carpool")["exact"]["central"]
    ) == Decimal("2.845")
    assert Decimal(value(rep, "environment.co2e_avoided_by_repairs")["exact"]["central"]) == 58
    assert Decimal(value(rep, "environment.co2e_avoided")["exact"]["central"]) == Decimal("101.26")
    assert value(rep, "exchange.carpool_passenger_km") == 25.0
    assert value(rep, "money.saved_by_borrowers") == {"low": 1400, "central": 6750, "high": 27000}
    assert value(rep, "exchange.time_credit_minutes") == 60
    assert value(rep, "money.raised") == 100_000
    assert value(rep, "money.matched") == 50_000
    assert value(rep, "money.commission") == 7_500
    assert value(rep, "money.campaign_success_rate")["percent"] == 50.0
    assert value(rep, "money.backers_by_neighbourhood") == 3
    assert value(rep, "participation.pb_turnout")["percent"] == 5.0
    assert value(rep, "participation.pb_proposals") == 2
    assert value(rep, "participation.pb_supports") == 1
    assert value(rep, "money.pb_envelope_allocated") == 3_000_000
    assert value(rep, "money.pb_envelope_leftover") == 2_000_000
    assert value(rep, "delivery.pb_projects_delivered") == 1
    assert value(rep, "delivery.pb_delivery_rate")["percent"] == 100.0
    assert value(rep, "participation.active_members") == 6
    assert value(rep, "participation.new_members") == 3
    assert rep["editions"][0]["ballots_counted"] == 2
    by_nbhd = {r["neighbourhood"]: r for r in rep["neighbourhoods"]}
    assert by_nbhd["centre"]["loans"] == 2 and by_nbhd["gare"]["loans"] == 1
    assert by_nbhd["centre"]["money_raised"] == 100_000
    assert sum(r["population"] for r in rep["neighbourhoods"]) == 45_000
    monthly = {m["month"]: m for m in rep["monthly"]}
    assert monthly["2026-03"]["loans"] == 2 and monthly["2026-04"]["loans"] == 1

    # The same events under another period, and as CSV and HTML.
    march = await report(impact, period="2026-03")
    assert value(march, "exchange.loans_by_category") == 2
    csv = (await impact.client.get("/report", params={"period": "2026", "format": "csv"})).text
    assert f"{CURRENT_VERSION},2026,,exchange.loans_by_category,exchange,loans,,,3" in csv
    html = (await impact.client.get("/report", params={"period": "2026", "format": "html"})).text
    assert "<svg" in html and "footprint.tent" in html and "Annexe méthodologique" in html
    html = (
        await impact.client.get(
            "/report", params={"period": "2026", "format": "html", "lang": "en"}
        )
    ).text
    assert "Methodology appendix" in html

    # One indicator per month, filtered by neighbourhood.
    series = await impact.client.get(
        "/indicators/exchange.loans_by_category",
        params={
            "period": "month",
            "from": "2026-03-01",
            "to": "2026-04-30",
            "neighbourhood": "centre",
        },
    )
    assert [s["value"] for s in series.json()["series"]] == [1, 1]
    # Per PB edition: the series reads the editions only, and agrees with the report.
    for key in ("participation.pb_turnout", "money.pb_envelope_allocated"):
        by_edition = await impact.client.get(f"/indicators/{key}", params={"period": "edition"})
        assert [s["value"] for s in by_edition.json()["series"]] == [value(rep, key)]


async def test_refunds_reduce_money_raised_only_for_succeeded_campaigns(impact):
    from libs.common.contracts import crowdfunding as cf
    from libs.common.events import make_event
    from tests.impact_scenario import at

    events = hand_computed_scenario()
    for campaign, pledge, amount in (("C1", "P1", 40_000), ("C2", "P9", 1_000)):
        events.append(
            make_event(
                cf.PledgeRefunded(
                    pledge_id=pledge,
                    campaign_id=campaign,
                    backer_id="m-b1",
                    backer_kind="resident",
                    backer_neighbourhood="centre",
                    amount_cents=amount,
                ),
                aggregate_id=campaign,
                territory=Territory(city="valmont", neighbourhood="centre"),
                occurred_at=at(7, 2),
            )
        )
    for envelope in events:
        await publish(impact, envelope)
    await until_applied(impact, len(events))
    rep = await report(impact)
    assert value(rep, "money.raised") == 100_000 - 40_000  # C2 failed: its refund is no change
    assert {m["month"]: m["money_raised"] for m in rep["monthly"]}["2026-07"] == -40_000


async def test_small_cells_are_suppressed_with_the_default_k(impact, monkeypatch):
    monkeypatch.setenv("IMPACT_MIN_CELL", "5")
    get_impact_settings.cache_clear()
    events = hand_computed_scenario()
    for envelope in events:
        await publish(impact, envelope)
    await until_applied(impact, len(events))
    rep = await report(impact)
    assert rep["min_cell"] == 5
    assert all(c["suppressed"] for c in rep["indicators"]["exchange.loans_by_category"]["cells"])
    # 3 loans by 2 borrowers: even the city-wide total is a figure from fewer than k people.
    assert value(rep, "exchange.loans_by_category") is None
    for key in ("environment.co2e_avoided_by_loans", "money.saved_by_borrowers"):
        assert rep["indicators"][key]["suppressed"] is True  # derived from hidden loans
    # Carpool figures from one driver, a repair from one fixer: hidden with their cells.
    for key in ("exchange.carpool_passenger_km", "environment.co2e_avoided_by_carpool"):
        assert rep["indicators"][key]["suppressed"] is True
    assert rep["indicators"]["environment.co2e_avoided"]["suppressed"] is True
    centre = await report(impact, neighbourhood="centre")
    assert centre["indicators"]["environment.co2e_avoided_by_loans"]["suppressed"] is True
    assert value(centre, "money.raised") == 100_000  # campaign money is public, not personal


async def test_duplicates_out_of_order_and_unknown_events_then_replay_equals_live(
    impact, nats_server
):
    events = hand_computed_scenario()
    shuffled = events[:]
    random.Random(3).shuffle(shuffled)  # returns before requests, success before pledges...
    for envelope in shuffled:
        await publish(impact, envelope)
    # Re-published outside JetStream's duplicate window (another Nats-Msg-Id): the inbox
    # must still count each of them once.
    for envelope in events[:10]:
        await publish(impact, envelope, msg_id=envelope.id + "-again")
    unknown = Envelope(
        type="exchange.item.teleported",
        source="exchange",
        aggregate_id="x",
        territory=Territory(city="valmont"),
        data={"item_id": "I9"},
    )
    future = events[0].model_copy(update={"id": "future-version-event", "version": 9})
    await publish(impact, unknown)
    await publish(impact, future)
    await until_applied(impact, len(events) + 2)
    await asyncio.sleep(0.3)  # let the re-published copies arrive and be skipped

    rep = await report(impact)
    assert value(rep, "exchange.loans_by_category") == 3
    assert value(rep, "money.raised") == 100_000
    assert value(rep, "exchange.share_of_requests_met")["fraction"] == "0.75"
    assert Decimal(value(rep, "environment.co2e_avoided")["exact"]["central"]) == Decimal("101.26")
    assert rep["projection"]["parked_events"] == 2
    async with impact.runtime.db.transaction() as session:
        parked = set(await session.scalars(select(db.parked_events.c.type)))
    assert parked == {"exchange.item.teleported", "exchange.member.joined"}

    # Replay the whole stream from sequence 1 into fresh tables: exactly the live rows.
    result = await rebuild(impact.runtime.db, nats_server.url)
    assert result.duplicates == 10
    assert result.events == len(events) + 2
    async with impact.runtime.db.transaction() as session:
        assert await differences(session, result.projection, LIVE) == {}
    await swap(impact.runtime.db, result.projection)
    await drop(impact.runtime.db, result.projection)
    assert await report(impact) == rep


async def test_bad_period_and_unknown_indicator_are_problems(impact):
    bad = await impact.client.get("/report", params={"period": "last-year"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.period"
    wrong = await impact.client.get("/report", params={"catalogue": "v99"})
    assert wrong.status_code == 422
    assert (await impact.client.get("/indicators/nope")).status_code == 404
    listing = (await impact.client.get("/indicators")).json()
    assert "environment.co2e_avoided_by_loans" in {i["key"] for i in listing["indicators"]}
