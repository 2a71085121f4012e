"""HTTP API of carpools: offers, seats, trips (thin: the rules are in carpools.py and
domain.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from libs.common.auth import CurrentPrincipal
from libs.common.runtime import Runtime
from services.exchange import carpools
from services.exchange.api import Today
from services.exchange.schemas import (
    CarpoolIn,
    CarpoolOut,
    ConfirmIn,
    MyTrip,
    SeatIn,
    TripOut,
)

router = APIRouter(tags=["carpools"])


@router.post("/carpools", status_code=201, response_model=CarpoolOut)
async def offer_carpool(
    body: CarpoolIn, runtime: Runtime, principal: CurrentPrincipal, today: Today
) -> dict:
    """Offer seats in one's car: a one-off date or regular weekdays, at a time."""
    async with runtime.unit_of_work() as session:
        return await carpools.offer(
            session=session, runtime=runtime, principal=principal, today=today, **body.model_dump()
        )


@router.get("/carpools", response_model=list[CarpoolOut])
async def search_carpools(
    runtime: Runtime,
    today: Today,
    origin: Annotated[str | None, Query(max_length=50)] = None,
    destination: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict]:
    """Open carpools, by origin and destination neighbourhood, with seats left."""
    async with runtime.db.read() as session:
        return await carpools.search(
            session=session, origin=origin, destination=destination, today=today, limit=limit
        )


@router.get("/carpools/{offer_id}", response_model=CarpoolOut)
async def show_carpool(offer_id: str, runtime: Runtime, today: Today) -> dict:
    async with runtime.db.read() as session:
        return await carpools.get(session=session, offer_id=offer_id, today=today)


@router.post("/carpools/{offer_id}/close", response_model=CarpoolOut)
async def close_carpool(
    offer_id: str, runtime: Runtime, principal: CurrentPrincipal, today: Today
) -> dict:
    """The driver or staff stop offering it."""
    async with runtime.unit_of_work() as session:
        return await carpools.close(
            session=session, principal=principal, offer_id=offer_id, today=today
        )


@router.post("/carpools/{offer_id}/seats", status_code=201, response_model=TripOut)
async def book_seat(
    offer_id: str, body: SeatIn, runtime: Runtime, principal: CurrentPrincipal, today: Today
) -> dict:
    """Book a seat on the trip of a day; 409 when it is full."""
    async with runtime.unit_of_work() as session:
        return await carpools.book_seat(
            session=session,
            runtime=runtime,
            principal=principal,
            offer_id=offer_id,
            on=body.on,
            today=today,
        )


@router.get("/trips", response_model=list[MyTrip])
async def my_trips(
    runtime: Runtime,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict]:
    """The trips the caller drives or has a seat on."""
    async with runtime.db.read() as session:
        return await carpools.my_trips(session=session, principal=principal, limit=limit)


@router.get("/trips/{trip_id}", response_model=TripOut)
async def show_trip(trip_id: str, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    """A trip: its driver, and for the driver its passengers with their contact."""
    async with runtime.db.read() as session:
        return await carpools.get_trip(session=session, principal=principal, trip_id=trip_id)


@router.post("/trips/{trip_id}/cancel-seat", response_model=TripOut)
async def cancel_seat(trip_id: str, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    """A passenger gives their seat back (before the trip is confirmed)."""
    async with runtime.unit_of_work() as session:
        return await carpools.cancel_seat(session=session, principal=principal, trip_id=trip_id)


@router.post("/trips/{trip_id}/confirm", response_model=TripOut)
async def confirm_trip(
    trip_id: str, body: ConfirmIn, runtime: Runtime, principal: CurrentPrincipal, today: Today
) -> dict:
    """The driver: the trip took place, with these passengers and km (impact counts
    passenger-km from it)."""
    async with runtime.unit_of_work() as session:
        return await carpools.confirm_trip(
            session=session,
            runtime=runtime,
            principal=principal,
            trip_id=trip_id,
            passenger_ids=body.passenger_ids,
            km=body.km,
            today=today,
        )
