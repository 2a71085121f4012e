"""Request and response models of the exchange's routes.

Views of a stored row keep any column they do not name (`extra="allow"`), as they did when
routes returned dicts; keys absent from some answers stay absent (`response_model_exclude_unset`).
Most views pass their instants on as read (`StoredAt`), the very string the routes answered
before they declared a model: rows read back from SQLite carry no offset. The reservation and
carpool views, newer, give those their UTC offset (`Stamp`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from libs.common.contracts.exchange import ServiceKind
from libs.common.publictext import PseudonymousId
from libs.common.types import Cents, CivicDate, Minutes, StrictFlag
from services.exchange.domain import Category, Condition, MemberKind

Neighbourhood = str
# SQLite hands timestamps back without their zone; they were written in UTC.
Stamp = Annotated[datetime, AfterValidator(lambda v: v if v.tzinfo else v.replace(tzinfo=UTC))]
StoredAt = Annotated[
    datetime,
    WithJsonSchema(
        {"type": "string", "description": "ISO 8601 instant in UTC (no offset on SQLite)"}
    ),
]
# The loan actions always answered Python's isoformat ("+00:00", not "Z"): kept as it was.
IsoAt = Annotated[
    datetime,
    PlainSerializer(lambda v: v.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "description": "ISO 8601 instant in UTC"}),
]
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"

# ------------------------------------------------------------- members, items, loans


class ProfileIn(BaseModel):
    display_name: str | None = Field(None, max_length=100)
    address: str | None = Field(None, max_length=500)
    contact: str | None = Field(None, max_length=200)


class MemberIn(ProfileIn):
    id: PseudonymousId = Field(min_length=1, max_length=100)
    kind: MemberKind
    neighbourhood: str = Field(min_length=1, max_length=50)


class ItemIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    category: Category
    condition: Condition
    deposit_cents: Cents = Field(0, ge=0, le=1_000_000)
    max_loan_days: int = Field(ge=1, le=365)
    pickup_notes: str = Field("", max_length=2000)


class ItemPatch(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5000)
    condition: Condition | None = None
    deposit_cents: Cents | None = Field(None, ge=0, le=1_000_000)
    max_loan_days: int | None = Field(None, ge=1, le=365)
    pickup_notes: str | None = Field(None, max_length=2000)


class LoanIn(BaseModel):
    item_id: str = Field(min_length=1, max_length=36)
    starts_on: CivicDate
    due_on: CivicDate
    message: str = Field("", max_length=2000)


class ReturnIn(BaseModel):
    condition: Condition
    notes: str = Field("", max_length=2000)


class NoteIn(BaseModel):
    note: str = Field("", max_length=2000)


class RowOut(BaseModel):
    model_config = ConfigDict(extra="allow")


class RatingSummary(BaseModel):
    count: int
    average: float | None


class MemberOut(RowOut):
    """A member as the caller may see them: the name, address and contact only to the
    member themselves, staff, and the counterparty of an accepted loan."""

    id: str
    kind: str
    neighbourhood: str
    display_name: str | None = None
    address: str | None = None
    contact: str | None = None


class MemberProfile(MemberOut):
    ratings: RatingSummary


class ItemOut(RowOut):
    id: str
    owner_id: str
    title: str
    description: str
    category: str
    condition: str
    deposit_cents: int
    max_loan_days: int
    pickup_notes: str
    neighbourhood: str
    listed: bool
    created_at: StoredAt


class LoanRow(RowOut):
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
    message: str
    requested_at: StoredAt
    updated_at: StoredAt
    picked_up_on: date | None
    returned_on: date | None
    return_condition: str | None
    return_notes: str | None
    deposit_cents: int
    deposit_state: str
    deposit_kept_cents: int | None
    deposit_reason: str | None


class MyLoan(LoanRow):
    days_late: int


class LoanMove(BaseModel):
    from_state: str | None
    to_state: str
    actor_id: str
    at: StoredAt


class LoanReminder(BaseModel):
    on: date
    days_late: int


class LoanView(LoanRow):
    """A loan as its parties and staff see it; `history` is null after an action."""

    days: int
    history: list[LoanMove] | None
    counterparty: MemberOut | None
    reminders: list[LoanReminder]


class ActedLoan(LoanView):
    """A loan right after an action (accept, pick-up, return...), without its history."""

    requested_at: IsoAt
    updated_at: IsoAt


class SweepOut(BaseModel):
    marked_overdue: list[str]


# ---------------------------------------------------------------------- time credits


class LimitsIn(BaseModel):
    debit_limit: Minutes = Field(ge=0, le=1_000_000)
    credit_limit: Minutes = Field(ge=0, le=1_000_000)


class TransferIn(BaseModel):
    to_member: str = Field(min_length=1, max_length=100)
    minutes: Minutes = Field(gt=0, le=100_000)
    memo: str = Field("", max_length=500)
    reason: Literal["gift", "service"] = "gift"
    on_behalf_of: str | None = Field(
        None, max_length=100, description="Staff only: the resident whose paper slip this is."
    )


class CorrectionIn(BaseModel):
    memo: str = Field(min_length=1, max_length=500)


class ServiceIn(BaseModel):
    kind: ServiceKind
    direction: Literal["offer", "request"]
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    minutes_estimate: Minutes | None = Field(None, gt=0, le=100_000)
    route_km: float | None = Field(None, gt=0, le=1000, description="Carpooling: route length.")


class CompletionIn(BaseModel):
    provider_id: str | None = Field(
        None, max_length=100, description="For a request: the member who did it."
    )
    minutes: Minutes = Field(gt=0, le=100_000)
    km: float | None = Field(None, gt=0, le=1000, description="Carpooling: km travelled.")
    passengers: int | None = Field(None, ge=1, le=8)
    repaired_category: Category | None = None
    settle_in_credits: StrictFlag = True


class AccountEntry(RowOut):
    transfer_id: str
    minutes: int
    balance_after: int
    reason: str
    memo: str
    created_at: StoredAt


class AccountOut(BaseModel):
    id: str
    owner_id: str
    balance: int
    debit_limit: int
    credit_limit: int
    entries: list[AccountEntry]


class TransferOut(RowOut):
    id: str
    initiator_id: str
    idempotency_key: str
    request_hash: str
    from_account: str
    to_account: str
    minutes: int
    reason: str
    memo: str
    reverses: str | None
    service_id: str | None
    entered_by: str | None
    created_at: StoredAt


class TransferReceipt(TransferOut):
    replayed: bool


class ServiceOut(RowOut):
    id: str
    member_id: str
    kind: str
    direction: str
    title: str
    description: str
    neighbourhood: str
    minutes_estimate: int | None
    route_km: float | None
    open: bool
    created_at: StoredAt


class CompletionReceipt(RowOut):
    id: str
    service_id: str
    provider_id: str
    receiver_id: str
    minutes: int
    km: float | None
    passengers: int | None
    repaired_category: str | None
    transfer_id: str | None
    idempotency_key: str
    created_at: StoredAt
    replayed: bool


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
    at: Stamp


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
    requested_at: Stamp
    updated_at: Stamp
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
    created_at: Stamp


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
    confirmed_at: Stamp | None
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


# -------------------------------------------------------------------------- feedback


class RatingIn(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=2000)


class ReportIn(BaseModel):
    subject_type: Literal["loan", "service", "item", "member"]
    subject_id: str = Field(min_length=1, max_length=100)
    kind: Literal["damage", "not_returned", "no_show", "behaviour", "fraud", "other"]
    detail: str = Field(min_length=1, max_length=5000)


class ResolutionIn(BaseModel):
    resolution: str = Field(min_length=1, max_length=5000)


class RatingOut(RowOut):
    id: str
    subject_type: str
    subject_id: str
    rater_id: str
    ratee_id: str
    score: int
    comment: str
    created_at: StoredAt


class ReportOut(RowOut):
    id: str
    subject_type: str
    subject_id: str
    reporter_id: str
    kind: str
    detail: str
    status: str
    created_at: StoredAt
    closed_by: str | None
    closed_at: StoredAt | None
    resolution: str | None
