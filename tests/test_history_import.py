"""Past loans and services recorded by staff reach the impact report in their own period,
once, however many times the clerk sends them; they never touch live state."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import nats
import pytest
from sqlalchemy import func, select

from libs.common.messaging import inbox
from services.exchange import api
from services.exchange.app import create_app as exchange_app
from services.exchange.testkit import ITEM
from services.impact.app import create_app as impact_app
from services.impact.config import get_impact_settings

TODAY = datetime.now(UTC).date()
LAST_YEAR = TODAY.year - 1


@pytest.fixture
async def services(service_factory, monkeypatch):
    monkeypatch.setenv("IMPACT_MIN_CELL", "1")  # a tiny scenario: show every cell
    get_impact_settings.cache_clear()
    impact = await service_factory("impact", impact_app)
    exchange = await service_factory("exchange", exchange_app)
    exchange.app.dependency_overrides[api.today] = lambda: TODAY
    yield exchange, impact
    get_impact_settings.cache_clear()


async def settle(exchange, impact, nats_url: str) -> int:
    """Wait until impact applied every event of the stream; returns how many it applied."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        stable, applied = 0, -1
        async with asyncio.timeout(30):
            while stable < 3:
                await exchange.flush_outbox()
                total = (await js.stream_info("SHARITORIES")).state.messages
                async with impact.runtime.db.transaction() as session:
                    applied = await session.scalar(
                        select(func.count()).select_from(inbox).where(inbox.c.consumer == "impact")
                    )
                stable = stable + 1 if applied == total else 0
                await asyncio.sleep(0.1)
        return applied
    finally:
        await nc.close()


def in_last_year(month: int, day: int) -> str:
    return date(LAST_YEAR, month, day).isoformat()


async def test_past_loans_and_services_count_once_in_their_own_year(services, nats_server):
    exchange, impact = services
    staff = exchange.auth("clerk", "staff")
    owner, borrower = exchange.auth("owner"), exchange.auth("borrower", neighbourhood="gare")
    for who in (owner, borrower):
        assert (await exchange.client.get("/members/me", headers=who)).status_code == 200
    item = (await exchange.client.post("/items", json=ITEM, headers=owner)).json()

    loan = {
        "record_id": "LE-0042",
        "item_id": item["id"],
        "borrower_id": "borrower",
        "picked_up_on": in_last_year(5, 3),
        "returned_on": in_last_year(5, 10),
    }
    carpool = {
        "record_id": "TB-7",
        "kind": "carpool",
        "provider_id": "owner",
        "receiver_id": "borrower",
        "completed_on": in_last_year(9, 14),
        "minutes": 40,
        "km": 23.5,
        "passengers": 2,
    }
    response = await exchange.client.post("/history/loans", json={"records": [loan]}, headers=staff)
    assert response.status_code == 201, response.text
    assert response.json() == {"records": 1, "recorded": 1, "replayed": 0, "events": 4}
    # The clerk sends the export again, with one more record: only that one is new.
    later = {
        **loan,
        "record_id": "LE-0043",
        "picked_up_on": in_last_year(6, 1),
        "returned_on": in_last_year(6, 2),
    }
    response = await exchange.client.post(
        "/history/loans", json={"records": [loan, later]}, headers=staff
    )
    assert response.json() == {"records": 2, "recorded": 1, "replayed": 1, "events": 4}
    for status in (201, 200):
        response = await exchange.client.post(
            "/history/services", json={"records": [carpool]}, headers=staff
        )
        assert response.status_code == status, response.text

    # Live state is untouched: nobody's loans list it, and the item can be borrowed today.
    assert (await exchange.client.get("/loans", headers=borrower)).json() == []
    assert (await exchange.client.get("/loans", headers=owner)).json() == []
    live = {"item_id": item["id"], "starts_on": TODAY.isoformat(), "due_on": TODAY.isoformat()}
    assert (await exchange.client.post("/loans", json=live, headers=borrower)).status_code == 201

    await settle(exchange, impact, nats_server.url)
    async with impact.runtime.db.transaction() as session:
        applied = await session.scalar(
            select(func.count()).select_from(inbox).where(inbox.c.consumer == "impact")
        )
    # 2 members + 1 item + 2 x 4 loan events + 1 service + the live request: no copies.
    assert applied == 13

    past = (await impact.client.get("/report", params={"period": str(LAST_YEAR)})).json()
    assert past["indicators"]["exchange.loans_by_category"]["value"] == 2
    assert past["indicators"]["exchange.days_lent"]["value"] == 8 + 2
    now = (await impact.client.get("/report", params={"period": str(TODAY.year)})).json()
    assert now["indicators"]["exchange.loans_by_category"]["value"] in (0, None)


async def test_a_bad_record_refuses_its_batch_and_is_named(services):
    exchange, _ = services
    staff = exchange.auth("clerk", "staff")
    owner = exchange.auth("owner")
    await exchange.client.get("/members/me", headers=owner)
    await exchange.client.get("/members/me", headers=exchange.auth("borrower"))
    item = (await exchange.client.post("/items", json=ITEM, headers=owner)).json()
    good = {
        "record_id": "1",
        "item_id": item["id"],
        "borrower_id": "borrower",
        "picked_up_on": in_last_year(5, 3),
        "returned_on": in_last_year(5, 4),
    }

    async def post(path: str, *records: dict, who=staff):
        return await exchange.client.post(path, json={"records": list(records)}, headers=who)

    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    response = await post(
        "/history/loans",
        good,
        {**good, "record_id": "2", "picked_up_on": TODAY.isoformat(), "returned_on": tomorrow},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "history.not_past"
    assert "records.1.returned_on" in response.text

    backwards = {**good, "picked_up_on": in_last_year(5, 10), "returned_on": in_last_year(5, 3)}
    response = await post("/history/loans", good, backwards)
    assert response.status_code == 422 and "returned_on" in response.text

    response = await post("/history/loans", {**good, "borrower_id": "owner"})
    assert response.status_code == 422
    assert response.json()["code"] == "history.borrower_owns_item"

    response = await post("/history/loans", {**good, "borrower_id": "nobody"})
    assert response.status_code == 404 and "records.0.borrower_id" in response.text

    no_km = {
        "record_id": "2",
        "kind": "carpool",
        "provider_id": "owner",
        "receiver_id": "borrower",
        "completed_on": in_last_year(1, 2),
        "minutes": 10,
    }
    response = await post("/history/services", no_km)
    assert response.status_code == 422 and "km" in response.text

    assert (await post("/history/loans", good, who=owner)).status_code == 403
    assert (
        await exchange.client.post("/history/loans", json={"records": []}, headers=staff)
    ).status_code == 422

    # Nothing of the refused batches was written: the first good send is still new.
    response = await post("/history/loans", good)
    assert response.status_code == 201 and response.json()["recorded"] == 1
