"""Carpools: offers with seats and a schedule, seats booked per trip, trips the driver
confirms.

A trip is one day of an offer; its row is created by the first seat booked. No
overbooking: a seat is taken by a conditional update (`seats_taken < seats`, re-checked by
PostgreSQL on the row it locks; SQLite serialises writers) under a CHECK constraint. A
confirmed trip emits `exchange.service.completed` (kind "carpool", route km, passengers),
which the impact service turns into passenger-km and CO2e avoided.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.clock import clock
from libs.common.contracts.exchange import ServiceCompleted
from libs.common.db import insert_ignoring_duplicates
from libs.common.events import make_event
from libs.common.ids import new_id
from libs.common.outbox import record
from libs.common.problems import Conflict, Forbidden, Invalid, NotFound
from libs.common.runtime import ServiceRuntime
from services.exchange.db import carpool_offers, carpool_seats, carpool_trips
from services.exchange.domain import (
    CarpoolRuleBroken,
    RuleBroken,
    check_booking,
    check_confirmation,
    check_schedule,
    next_runs,
)
from services.exchange.members import get_member, member_for, private_view


def _problem(exc: RuleBroken) -> Exception:
    """The problem document a broken rule becomes (shared with completions.py)."""
    if exc.forbidden:
        return Forbidden(str(exc), code=exc.code, params=exc.params)
    if exc.field:
        return Invalid(str(exc), field=exc.field, code=exc.code, params=exc.params)
    return Conflict(str(exc), code=exc.code, params=exc.params)


async def _offer(session: AsyncSession, offer_id: str) -> dict[str, Any]:
    row = (
        await session.execute(select(carpool_offers).where(carpool_offers.c.id == offer_id))
    ).first()
    if row is None:
        raise NotFound(f"No carpool {offer_id}.", code="carpools.not_found")
    return row._asdict()


async def _trip(session: AsyncSession, trip_id: str) -> dict[str, Any]:
    row = (
        await session.execute(select(carpool_trips).where(carpool_trips.c.id == trip_id))
    ).first()
    if row is None:
        raise NotFound(f"No trip {trip_id}.", code="carpools.trip_not_found")
    return row._asdict()


async def offer(
    *,
    session: AsyncSession,
    runtime: ServiceRuntime,
    principal: Principal,
    origin: str,
    destination: str,
    route_km: float,
    seats: int,
    departs_on: date | None,
    weekdays: str | None,
    departs_at: str,
    notes: str,
    today: date,
) -> dict[str, Any]:
    """Offer seats in one's car, once or on regular weekdays."""
    try:
        weekdays = check_schedule(departs_on=departs_on, weekdays=weekdays, today=today)
    except CarpoolRuleBroken as exc:
        raise _problem(exc) from exc
    me = await member_for(session, runtime=runtime, principal=principal)
    row = {
        "id": new_id(),
        "driver_id": me["id"],
        "origin": origin,
        "destination": destination,
        "route_km": route_km,
        "seats": seats,
        "departs_on": departs_on,
        "weekdays": weekdays,
        "departs_at": departs_at,
        "notes": notes,
        "open": True,
        "created_at": clock.now(),
    }
    await session.execute(insert(carpool_offers).values(**row))
    return await offer_view(session=session, offer=row, today=today)


async def offer_view(*, session: AsyncSession, offer: dict[str, Any], today: date) -> dict:
    """An offer with its next days and the seats left on each."""
    days = next_runs(departs_on=offer["departs_on"], weekdays=offer["weekdays"], today=today)
    taken = {
        row.on: row
        for row in await session.execute(
            select(carpool_trips).where(
                carpool_trips.c.offer_id == offer["id"], carpool_trips.c.on.in_(days)
            )
        )
    }
    return {
        **offer,
        "next_trips": [
            {
                "on": day,
                "trip_id": taken[day].id if day in taken else None,
                "seats_left": offer["seats"] - (taken[day].seats_taken if day in taken else 0),
            }
            for day in days
        ],
    }


async def get(*, session: AsyncSession, offer_id: str, today: date) -> dict[str, Any]:
    return await offer_view(session=session, offer=await _offer(session, offer_id), today=today)


async def search(
    *,
    session: AsyncSession,
    origin: str | None,
    destination: str | None,
    today: date,
    limit: int,
) -> list[dict[str, Any]]:
    """Open offers still driving (regular ones, or one-off trips from today on)."""
    query = select(carpool_offers).where(
        carpool_offers.c.open.is_(True),
        or_(carpool_offers.c.departs_on.is_(None), carpool_offers.c.departs_on >= today),
    )
    if origin:
        query = query.where(carpool_offers.c.origin == origin)
    if destination:
        query = query.where(carpool_offers.c.destination == destination)
    query = query.order_by(carpool_offers.c.created_at.desc()).limit(limit)
    offers = [r._asdict() for r in await session.execute(query)]
    return [await offer_view(session=session, offer=o, today=today) for o in offers]


async def close(*, session: AsyncSession, principal: Principal, offer_id: str, today: date):
    """The driver (or staff) stops offering this carpool; booked trips stay to confirm."""
    found = await _offer(session, offer_id)
    if found["driver_id"] != principal.sub and not principal.is_staff:
        raise Forbidden(
            "Only the driver or staff may close this carpool.", code="carpools.not_driver"
        )
    await session.execute(
        update(carpool_offers).where(carpool_offers.c.id == offer_id).values(open=False)
    )
    return await offer_view(session=session, offer={**found, "open": False}, today=today)


async def book_seat(
    *,
    session: AsyncSession,
    runtime: ServiceRuntime,
    principal: Principal,
    offer_id: str,
    on: date,
    today: date,
) -> dict[str, Any]:
    """Take one seat on the trip of `on`; 409 when the car is full or already booked."""
    found = await _offer(session, offer_id)
    me = await member_for(session, runtime=runtime, principal=principal)
    try:
        check_booking(
            driver_id=found["driver_id"],
            passenger_id=me["id"],
            offer_open=found["open"],
            departs_on=found["departs_on"],
            weekdays=found["weekdays"],
            day=on,
            today=today,
        )
    except CarpoolRuleBroken as exc:
        raise _problem(exc) from exc
    await session.execute(
        insert_ignoring_duplicates(session, carpool_trips, "offer_id", "on").values(
            id=new_id(), offer_id=offer_id, on=on, seats=found["seats"], seats_taken=0, state="open"
        )
    )
    trip_id = await session.scalar(
        select(carpool_trips.c.id).where(
            carpool_trips.c.offer_id == offer_id, carpool_trips.c.on == on
        )
    )
    seat = (
        await session.execute(
            select(carpool_seats).where(
                carpool_seats.c.trip_id == trip_id, carpool_seats.c.passenger_id == me["id"]
            )
        )
    ).first()
    if seat is not None and seat.state == "booked":
        raise Conflict("You already have a seat on this trip.", code="carpools.already_booked")
    taken = await session.execute(
        update(carpool_trips)
        .where(
            carpool_trips.c.id == trip_id,
            carpool_trips.c.state == "open",
            carpool_trips.c.seats_taken < carpool_trips.c.seats,
        )
        .values(seats_taken=carpool_trips.c.seats_taken + 1)
    )
    if taken.rowcount != 1:
        raise Conflict(
            "This trip is full (or already confirmed).",
            code="carpools.full",
            params={"on": on.isoformat()},
        )
    now = clock.now()
    if seat is None:
        await session.execute(
            insert(carpool_seats).values(
                id=new_id(),
                trip_id=trip_id,
                passenger_id=me["id"],
                passenger_neighbourhood=me["neighbourhood"],
                state="booked",
                created_at=now,
            )
        )
    else:
        await session.execute(
            update(carpool_seats).where(carpool_seats.c.id == seat.id).values(state="booked")
        )
    return await trip_view(session=session, principal=principal, trip=await _trip(session, trip_id))


async def cancel_seat(*, session: AsyncSession, principal: Principal, trip_id: str) -> dict:
    """A passenger gives their seat back before the trip is confirmed."""
    await _trip(session, trip_id)  # 404 before 409
    freed = await session.execute(
        update(carpool_seats)
        .where(
            carpool_seats.c.trip_id == trip_id,
            carpool_seats.c.passenger_id == principal.sub,
            carpool_seats.c.state == "booked",
        )
        .values(state="cancelled")
    )
    if freed.rowcount != 1:
        raise Conflict("You have no seat on this trip.", code="carpools.no_seat")
    given_back = await session.execute(
        update(carpool_trips)
        .where(carpool_trips.c.id == trip_id, carpool_trips.c.state == "open")
        .values(seats_taken=carpool_trips.c.seats_taken - 1)
    )
    if given_back.rowcount != 1:
        raise Conflict("This trip is already confirmed.", code="carpools.confirmed")
    trip = await _trip(session, trip_id)
    return await trip_view(session=session, principal=principal, trip=trip, was_in=True)


async def trip_view(
    *, session: AsyncSession, principal: Principal, trip: dict[str, Any], was_in: bool = False
) -> dict:
    """A trip as its driver, its passengers and staff see it: the people in the car see
    each other's name and contact, nobody else does."""
    found = await _offer(session, trip["offer_id"])
    seats = [
        r._asdict()
        for r in await session.execute(
            select(carpool_seats.c.passenger_id, carpool_seats.c.state)
            .where(carpool_seats.c.trip_id == trip["id"], carpool_seats.c.state != "cancelled")
            .order_by(carpool_seats.c.created_at, carpool_seats.c.id)
        )
    ]
    riders = {s["passenger_id"] for s in seats}
    is_driver = principal.sub == found["driver_id"]
    if not (is_driver or principal.sub in riders or principal.is_staff or was_in):
        raise Forbidden(
            "Only the driver, the passengers and staff may see this trip.",
            code="carpools.not_in_the_car",
        )
    if is_driver or principal.is_staff:
        passengers = [
            {**s, "member": private_view(await get_member(session, s["passenger_id"]))}
            for s in seats
        ]
    else:
        passengers = []
    driver = private_view(await get_member(session, found["driver_id"]))
    return {**trip, "offer": found, "driver": driver, "passenger_seats": passengers}


async def get_trip(*, session: AsyncSession, principal: Principal, trip_id: str) -> dict:
    return await trip_view(session=session, principal=principal, trip=await _trip(session, trip_id))


async def my_trips(*, session: AsyncSession, principal: Principal, limit: int) -> list[dict]:
    """Trips the caller drives or has a seat on, latest day first."""
    as_passenger = select(carpool_seats.c.trip_id).where(
        carpool_seats.c.passenger_id == principal.sub, carpool_seats.c.state != "cancelled"
    )
    driving = select(carpool_offers.c.id).where(carpool_offers.c.driver_id == principal.sub)
    rows = await session.execute(
        select(
            carpool_trips,
            carpool_offers.c.origin,
            carpool_offers.c.destination,
            carpool_offers.c.departs_at,
            carpool_offers.c.route_km,
            carpool_offers.c.driver_id,
        )
        .join(carpool_offers, carpool_offers.c.id == carpool_trips.c.offer_id)
        .where(or_(carpool_trips.c.id.in_(as_passenger), carpool_trips.c.offer_id.in_(driving)))
        .order_by(carpool_trips.c.on.desc(), carpool_trips.c.id)
        .limit(limit)
    )
    return [
        {**r._asdict(), "role": "driver" if r.driver_id == principal.sub else "passenger"}
        for r in rows
    ]


async def confirm_trip(
    *,
    session: AsyncSession,
    runtime: ServiceRuntime,
    principal: Principal,
    trip_id: str,
    passenger_ids: list[str] | None,
    km: float | None,
    today: date,
) -> dict[str, Any]:
    """The driver confirms the trip took place, with who rode and the km driven."""
    trip = await _trip(session, trip_id)
    found = await _offer(session, trip["offer_id"])
    booked = {
        r.passenger_id: r.passenger_neighbourhood
        for r in await session.execute(
            select(carpool_seats.c.passenger_id, carpool_seats.c.passenger_neighbourhood).where(
                carpool_seats.c.trip_id == trip_id, carpool_seats.c.state == "booked"
            )
        )
    }
    riders = set(booked) if passenger_ids is None else set(passenger_ids)
    try:
        count = check_confirmation(
            driver_id=found["driver_id"],
            actor_id=principal.sub,
            trip_state=trip["state"],
            day=trip["on"],
            today=today,
            booked=set(booked),
            riders=riders,
        )
    except CarpoolRuleBroken as exc:
        raise _problem(exc) from exc
    km = found["route_km"] if km is None else km
    now = clock.now()
    moved = await session.execute(
        update(carpool_trips)
        .where(carpool_trips.c.id == trip_id, carpool_trips.c.state == "open")
        .values(state="confirmed", km=km, passengers=count, confirmed_at=now)
    )
    if moved.rowcount != 1:
        raise Conflict("This trip is already confirmed.", code="carpools.confirmed")
    await session.execute(
        update(carpool_seats)
        .where(carpool_seats.c.trip_id == trip_id, carpool_seats.c.passenger_id.in_(riders))
        .values(state="rode")
    )
    driver = await get_member(session, found["driver_id"])
    first = sorted(riders)[0]
    await record(
        session,
        make_event(
            ServiceCompleted(
                service_id=trip_id,
                kind="carpool",
                provider_id=driver["id"],
                # One event per trip (km x passengers); the contract names one receiver.
                receiver_id=first,
                provider_neighbourhood=driver["neighbourhood"],
                receiver_neighbourhood=booked[first],
                minutes=0,
                km=km,
                passengers=count,
            ),
            aggregate_id=trip_id,
            territory=runtime.territory(found["origin"]),
            actor=principal.sub,
        ),
    )
    return await trip_view(session=session, principal=principal, trip=await _trip(session, trip_id))
