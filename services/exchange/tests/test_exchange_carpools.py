"""Carpools: offers with a schedule, seats without overbooking (50-way race, both DBs),
trips the driver confirms into `exchange.service.completed` with km and passengers."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from libs.common.messaging import outbox
from services.exchange import api
from services.exchange.testkit import TODAY, day

N = 50
REGULAR = {  # Mondays to Fridays at 7:45, north to centre
    "origin": "north",
    "destination": "centre",
    "route_km": 12.5,
    "seats": 3,
    "weekdays": "12345",
    "departs_at": "07:45",
}


async def offer(exchange, driver, **overrides):
    response = await exchange.client.post(
        "/carpools", json={**REGULAR, **overrides}, headers=driver
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_fifty_passengers_booking_three_seats_at_once_fill_exactly_three(exchange):
    driver = exchange.auth("dora", neighbourhood="north")
    carpool = await offer(exchange, driver)
    on = carpool["next_trips"][0]["on"]

    responses = await asyncio.gather(
        *(
            exchange.client.post(
                f"/carpools/{carpool['id']}/seats",
                json={"on": on},
                headers=exchange.auth(f"p{i}", neighbourhood="south"),
            )
            for i in range(N)
        )
    )

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 3, 409: N - 3}, statuses
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"carpools.full"}
    shown = (await exchange.client.get(f"/carpools/{carpool['id']}")).json()
    assert shown["next_trips"][0]["seats_left"] == 0


async def test_schedules_and_bookings_say_which_field_is_wrong(exchange):
    driver = exchange.auth("dora", neighbourhood="north")
    both = await exchange.client.post(
        "/carpools", json={**REGULAR, "departs_on": day(3)}, headers=driver
    )
    assert both.json()["errors"][0]["field"] == "body.departs_on"
    bad_days = await exchange.client.post(
        "/carpools", json={**REGULAR, "weekdays": "19"}, headers=driver
    )
    assert bad_days.json()["errors"][0]["field"] == "body.weekdays"
    bad_time = await exchange.client.post(
        "/carpools", json={**REGULAR, "departs_at": "25:00"}, headers=driver
    )
    assert bad_time.json()["errors"][0]["field"] == "body.departs_at"
    once = await offer(exchange, driver, weekdays=None, departs_on=day(2))
    assert [t["on"] for t in once["next_trips"]] == [day(2)]
    passenger = exchange.auth("pia", neighbourhood="south")
    wrong_day = await exchange.client.post(
        f"/carpools/{once['id']}/seats", json={"on": day(3)}, headers=passenger
    )
    assert wrong_day.status_code == 422 and wrong_day.json()["errors"][0]["field"] == "body.on"
    own = await exchange.client.post(
        f"/carpools/{once['id']}/seats", json={"on": day(2)}, headers=driver
    )
    assert own.status_code == 403
    booked = await exchange.client.post(
        f"/carpools/{once['id']}/seats", json={"on": day(2)}, headers=passenger
    )
    assert booked.status_code == 201
    twice = await exchange.client.post(
        f"/carpools/{once['id']}/seats", json={"on": day(2)}, headers=passenger
    )
    assert twice.status_code == 409 and twice.json()["code"] == "carpools.already_booked"
    found = await exchange.client.get("/carpools", params={"origin": "north"})
    assert {c["id"] for c in found.json()} == {once["id"]}


async def test_the_driver_confirms_a_trip_and_impact_gets_passenger_km(exchange):
    driver = exchange.auth("dora", neighbourhood="north")
    carpool = await offer(exchange, driver)
    on = carpool["next_trips"][0]["on"]
    riders = [exchange.auth(name, neighbourhood="south") for name in ("pia", "paul", "pat")]
    for rider in riders:
        seat = await exchange.client.post(
            f"/carpools/{carpool['id']}/seats", json={"on": on}, headers=rider
        )
        assert seat.status_code == 201, seat.text
    trip_id = seat.json()["id"]
    # Passengers see the driver's contact; only the driver sees the passengers.
    as_pat = (await exchange.client.get(f"/trips/{trip_id}", headers=riders[2])).json()
    assert as_pat["driver"]["id"] == "dora" and as_pat["passenger_seats"] == []
    stranger = await exchange.client.get(f"/trips/{trip_id}", headers=exchange.auth("zoe"))
    assert stranger.status_code == 403
    cancelled = await exchange.client.post(f"/trips/{trip_id}/cancel-seat", headers=riders[2])
    assert cancelled.json()["seats_taken"] == 2
    early = await exchange.client.post(f"/trips/{trip_id}/confirm", json={}, headers=driver)
    assert early.status_code == 409 and early.json()["code"] == "carpools.not_yet"
    exchange.app.dependency_overrides[api.today] = lambda: TODAY + timedelta(days=10)
    not_driver = await exchange.client.post(f"/trips/{trip_id}/confirm", json={}, headers=riders[0])
    assert not_driver.status_code == 403
    stranger_rode = await exchange.client.post(
        f"/trips/{trip_id}/confirm", json={"passenger_ids": ["pat"]}, headers=driver
    )
    assert stranger_rode.json()["errors"][0]["field"] == "body.passenger_ids"
    confirmed = await exchange.client.post(
        f"/trips/{trip_id}/confirm",
        json={"passenger_ids": ["pia", "paul"], "km": 14.0},
        headers=driver,
    )
    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["state"], confirmed.json()["passengers"]) == ("confirmed", 2)
    again = await exchange.client.post(f"/trips/{trip_id}/confirm", json={}, headers=driver)
    assert again.status_code == 409
    async with exchange.runtime.db.transaction() as session:
        payloads = (await session.execute(select(outbox.c.payload))).scalars().all()
    completed = [
        e["data"] for e in map(json.loads, payloads) if e["type"] == "exchange.service.completed"
    ]
    assert [(c["kind"], c["km"], c["passengers"], c["provider_id"]) for c in completed] == [
        ("carpool", 14.0, 2, "dora")
    ]
    mine = (await exchange.client.get("/trips", headers=riders[0])).json()
    assert [(t["id"], t["role"], t["state"]) for t in mine] == [(trip_id, "passenger", "confirmed")]
