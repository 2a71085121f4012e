"""Tables of the exchange service (SQLAlchemy Core).

The no-double-booking rule lives in the database: on PostgreSQL the migrations add a
generated `occupied` daterange to `loans` (the planned period of an accepted loan, both
days included) and an exclusion constraint over it (see migrations/versions/0004_*.py);
on SQLite writers are serialised (BEGIN IMMEDIATE) and the check runs inside the writing
transaction. Carpool seats: a conditional update of `carpool_trips.seats_taken`, with a
CHECK that it never exceeds the seats.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()
Id = String(36)

members = Table(
    "members",
    metadata,
    Column("id", String(100), primary_key=True),  # the principal's pseudonymous `sub`
    Column("kind", String(20), nullable=False),
    Column("neighbourhood", String(50), nullable=False),
    Column("display_name", String(100)),
    # Private: shown only to the counterparty of an accepted loan (and to staff).
    Column("address", Text),
    Column("contact", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(100)),
)

items = Table(
    "items",
    metadata,
    Column("id", Id, primary_key=True),
    Column("owner_id", String(100), ForeignKey("members.id"), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("category", String(40), nullable=False),
    Column("condition", String(20), nullable=False),
    Column("deposit_cents", Integer, nullable=False, server_default="0"),
    Column("max_loan_days", Integer, nullable=False),
    Column("pickup_notes", Text, nullable=False, server_default=""),
    Column("neighbourhood", String(50), nullable=False),
    Column("listed", Boolean, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("deposit_cents >= 0", name="ck_items_deposit"),
    CheckConstraint("max_loan_days >= 1", name="ck_items_max_days"),
    Index("ix_items_search", "category", "neighbourhood"),
)

loans = Table(
    "loans",
    metadata,
    Column("id", Id, primary_key=True),
    Column("item_id", Id, ForeignKey("items.id"), nullable=False),
    Column("lender_id", String(100), ForeignKey("members.id"), nullable=False),
    Column("borrower_id", String(100), ForeignKey("members.id"), nullable=False),
    # Facts every loan event carries, fixed when the loan is requested.
    Column("category", String(40), nullable=False),
    Column("lender_neighbourhood", String(50), nullable=False),
    Column("borrower_neighbourhood", String(50), nullable=False),
    Column("state", String(20), nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("message", Text, nullable=False, server_default=""),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("picked_up_on", Date),
    Column("returned_on", Date),
    Column("return_condition", String(20)),
    Column("return_notes", Text),
    # The deposit on this loan: the item's at request time, then held/returned/kept.
    Column("deposit_cents", Integer, nullable=False, server_default="0"),
    Column("deposit_state", String(10), nullable=False, server_default="none"),
    Column("deposit_kept_cents", Integer),
    Column("deposit_reason", Text),
    CheckConstraint("due_on >= starts_on", name="ck_loans_period"),
    Index("ix_loans_item_state", "item_id", "state"),
    Index("ix_loans_borrower", "borrower_id"),
    Index("ix_loans_lender", "lender_id"),
)

loan_transitions = Table(
    "loan_transitions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("loan_id", Id, ForeignKey("loans.id"), nullable=False, index=True),
    Column("from_state", String(20)),
    Column("to_state", String(20), nullable=False),
    Column("actor_id", String(100), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("note", Text),
)

loan_reminders = Table(
    "loan_reminders",
    metadata,
    Column("id", Id, primary_key=True),
    Column("loan_id", Id, ForeignKey("loans.id"), nullable=False),
    Column("on", Date, nullable=False),
    Column("days_late", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # One reminder a day per late loan, however often the sweep runs.
    UniqueConstraint("loan_id", "on", name="uq_loan_reminders_daily"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(100), primary_key=True),  # = the owner's member id
    Column("owner_id", String(100), ForeignKey("members.id"), nullable=False, unique=True),
    Column("balance", Integer, nullable=False, server_default="0"),
    Column("debit_limit", Integer, nullable=False),
    Column("credit_limit", Integer, nullable=False),
    CheckConstraint("balance >= -debit_limit", name="ck_accounts_debit_limit"),
    CheckConstraint("balance <= credit_limit", name="ck_accounts_credit_limit"),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("initiator_id", String(100), nullable=False),
    Column("idempotency_key", String(200), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("from_account", String(100), ForeignKey("accounts.id"), nullable=False),
    Column("to_account", String(100), ForeignKey("accounts.id"), nullable=False),
    Column("minutes", Integer, nullable=False),
    Column("reason", String(20), nullable=False),
    Column("memo", Text, nullable=False, server_default=""),
    Column("reverses", Id, ForeignKey("transfers.id"), unique=True),
    Column("service_id", Id),
    Column("entered_by", String(100)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("initiator_id", "idempotency_key", name="uq_transfers_idempotency"),
    CheckConstraint("minutes > 0", name="ck_transfers_positive"),
    CheckConstraint("from_account <> to_account", name="ck_transfers_two_accounts"),
)

entries = Table(
    "entries",
    metadata,
    Column("id", Id, primary_key=True),
    Column("transfer_id", Id, ForeignKey("transfers.id"), nullable=False, index=True),
    Column("account_id", String(100), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("minutes", Integer, nullable=False),  # signed: debit < 0 < credit
    Column("balance_after", Integer, nullable=False),
)

services = Table(
    "services",
    metadata,
    Column("id", Id, primary_key=True),
    Column("member_id", String(100), ForeignKey("members.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("direction", String(10), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("neighbourhood", String(50), nullable=False),
    Column("minutes_estimate", Integer),
    Column("route_km", Float),
    Column("open", Boolean, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_services_search", "kind", "neighbourhood"),
)

completions = Table(
    "service_completions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("service_id", Id, ForeignKey("services.id"), nullable=False, index=True),
    Column("provider_id", String(100), ForeignKey("members.id"), nullable=False),
    Column("receiver_id", String(100), ForeignKey("members.id"), nullable=False),
    Column("minutes", Integer, nullable=False),
    Column("km", Float),
    Column("passengers", Integer),
    Column("repaired_category", String(40)),
    Column("transfer_id", Id, ForeignKey("transfers.id")),
    Column("idempotency_key", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("receiver_id", "idempotency_key", name="uq_completions_idempotency"),
)

ratings = Table(
    "ratings",
    metadata,
    Column("id", Id, primary_key=True),
    Column("subject_type", String(20), nullable=False),  # loan | service
    Column("subject_id", Id, nullable=False),
    Column("rater_id", String(100), nullable=False),
    Column("ratee_id", String(100), nullable=False, index=True),
    Column("score", Integer, nullable=False),
    Column("comment", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("subject_type", "subject_id", "rater_id", name="uq_ratings_once"),
    CheckConstraint("score BETWEEN 1 AND 5", name="ck_ratings_score"),
)

reports = Table(
    "reports",
    metadata,
    Column("id", Id, primary_key=True),
    Column("subject_type", String(20), nullable=False),  # loan | service | item | member
    Column("subject_id", String(100), nullable=False),
    Column("reporter_id", String(100), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("detail", Text, nullable=False),
    Column("status", String(10), nullable=False, server_default="open"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("closed_by", String(100)),
    Column("closed_at", DateTime(timezone=True)),
    Column("resolution", Text),
    Index("ix_reports_status", "status", "created_at"),
)

carpool_offers = Table(
    "carpool_offers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("driver_id", String(100), ForeignKey("members.id"), nullable=False),
    Column("origin", String(50), nullable=False),
    Column("destination", String(50), nullable=False),
    Column("route_km", Float, nullable=False),
    Column("seats", Integer, nullable=False),
    Column("departs_on", Date),  # a one-off trip...
    Column("weekdays", String(7)),  # ...or regular weekdays, ISO digits ("135")
    Column("departs_at", String(5), nullable=False),  # local time, "HH:MM"
    Column("notes", Text, nullable=False, server_default=""),
    Column("open", Boolean, nullable=False, server_default="1"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("seats BETWEEN 1 AND 8", name="ck_carpool_offers_seats"),
    CheckConstraint("route_km > 0", name="ck_carpool_offers_km"),
    Index("ix_carpool_offers_search", "origin", "destination"),
)

carpool_trips = Table(
    "carpool_trips",
    metadata,
    Column("id", Id, primary_key=True),
    Column("offer_id", Id, ForeignKey("carpool_offers.id"), nullable=False),
    Column("on", Date, nullable=False),
    Column("seats", Integer, nullable=False),
    Column("seats_taken", Integer, nullable=False, server_default="0"),
    Column("state", String(10), nullable=False, server_default="open"),
    Column("km", Float),
    Column("passengers", Integer),
    Column("confirmed_at", DateTime(timezone=True)),
    UniqueConstraint("offer_id", "on", name="uq_carpool_trips_day"),
    CheckConstraint("seats_taken BETWEEN 0 AND seats", name="ck_carpool_trips_no_overbooking"),
)

carpool_seats = Table(
    "carpool_seats",
    metadata,
    Column("id", Id, primary_key=True),
    Column("trip_id", Id, ForeignKey("carpool_trips.id"), nullable=False),
    Column("passenger_id", String(100), ForeignKey("members.id"), nullable=False),
    Column("passenger_neighbourhood", String(50), nullable=False),
    Column("state", String(10), nullable=False),  # booked | cancelled | rode
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("trip_id", "passenger_id", name="uq_carpool_seats_once"),
    Index("ix_carpool_seats_passenger", "passenger_id"),
)
