"""Request and response models of the exchange routes added for reservations, deposits
and carpools (the older routes still answer plain dicts; issue 11 moves them here)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from libs.common.types import Cents, CivicDate

Neighbourhood = str
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"

# ---------------------------------------------------------------------- reservations


class BookedPeriod(BaseModel):
    """A period an item is promised or out; who holds it is not shown."""

    starts_on: date
    due_on: date
    state: Literal["booked", "out", "late"]


class Contact(BaseModel):
    id: str
    kind: str
    neighbourhood: str
    display_name: str | None = None
    address: str | None = None
    contact: str | None = None


class Move(BaseModel):
    from_state: str | None
    to_state: str
    actor_id: str
    at: datetime


class Reminder(BaseModel):
    on: date
    days_late: int


class LoanOut(BaseModel):
    id: str
    item_id: str
    lender_id: str
    borrower_id: str
    category: str
    lender_neighbourhood: str
    borrower_neighbourhood: str
    state: str
    starts_on: date
    due_on: date
    days: int
    message: str
    requested_at: datetime
    updated_at: datetime
    picked_up_on: date | None = None
    returned_on: date | None = None
    return_condition: str | None = None
    return_notes: str | None = None
    deposit_cents: int
    deposit_state: Literal["none", "held", "returned", "kept"]
    deposit_kept_cents: int | None = None
    deposit_reason: str | None = None
    counterparty: Contact | None = None
    history: list[Move] | None = None
    reminders: list[Reminder] = []


class DepositIn(BaseModel):
    state: Literal["held", "returned", "kept"]
    amount_cents: Cents | None = Field(
        None,
        gt=0,
        le=1_000_000,
        description="Held: defaults to the item's deposit; kept: "
        "the part kept, defaults to all of it.",
    )
    reason: str = Field("", max_length=2000, description="Why it is kept (required then).")


# -------------------------------------------------------------------------- carpools


class CarpoolIn(BaseModel):
    origin: Neighbourhood = Field(min_length=1, max_length=50)
    destination: Neighbourhood = Field(min_length=1, max_length=50)
    route_km: float = Field(gt=0, le=1000)
    seats: int = Field(ge=1, le=8)
    departs_on: CivicDate | None = Field(None, description="A one-off trip's date...")
    weekdays: str | None = Field(
        None, max_length=7, description="...or regular weekdays as ISO digits: '12345'."
    )
    departs_at: str = Field(pattern=HHMM, description="Local time of departure, HH:MM.")
    notes: str = Field("", max_length=2000)


class NextTrip(BaseModel):
    on: date
    trip_id: str | None
    seats_left: int


class CarpoolFacts(BaseModel):
    id: str
    driver_id: str
    origin: str
    destination: str
    route_km: float
    seats: int
    departs_on: date | None
    weekdays: str | None
    departs_at: str
    notes: str
    open: bool
    created_at: datetime


class CarpoolOut(CarpoolFacts):
    next_trips: list[NextTrip]


class SeatIn(BaseModel):
    on: CivicDate


class PassengerSeat(BaseModel):
    passenger_id: str
    state: Literal["booked", "rode"]
    member: Contact


class TripOut(BaseModel):
    id: str
    offer_id: str
    on: date
    seats: int
    seats_taken: int
    state: Literal["open", "confirmed"]
    km: float | None
    passengers: int | None
    confirmed_at: datetime | None
    offer: CarpoolFacts
    driver: Contact
    passenger_seats: list[PassengerSeat]


class MyTrip(BaseModel):
    id: str
    offer_id: str
    on: date
    seats: int
    seats_taken: int
    state: Literal["open", "confirmed"]
    km: float | None
    passengers: int | None
    origin: str
    destination: str
    departs_at: str
    route_km: float
    driver_id: str
    role: Literal["driver", "passenger"]


class ConfirmIn(BaseModel):
    passenger_ids: list[str] | None = Field(
        None, max_length=8, description="Who rode (default: every passenger booked)."
    )
    km: float | None = Field(None, gt=0, le=1000, description="Default: the route's km.")
