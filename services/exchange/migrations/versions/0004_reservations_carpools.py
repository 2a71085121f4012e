"""Reservations, deposits, overdue reminders and carpools.

A loan now holds its item for its planned period only (both days included), so an item
can be booked ahead: the generated `occupied` range and the exclusion constraint over it
are rebuilt on PostgreSQL. A loan still out after its due day keeps its item until it is
checked in; that part is checked by the application (loans.py), which runs before the
constraint on every accept.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OCCUPYING = "('accepted', 'picked_up', 'overdue', 'disputed')"


def _occupied(upper: str) -> None:
    op.execute("ALTER TABLE loans DROP CONSTRAINT ex_loans_no_double_booking")
    op.execute("ALTER TABLE loans DROP COLUMN occupied")
    op.execute(
        "ALTER TABLE loans ADD COLUMN occupied daterange GENERATED ALWAYS AS ("
        f"CASE WHEN state IN {OCCUPYING} THEN daterange(starts_on, {upper}) END) STORED"
    )
    op.execute(
        "ALTER TABLE loans ADD CONSTRAINT ex_loans_no_double_booking "
        "EXCLUDE USING gist (item_id WITH =, occupied WITH &&) WHERE (occupied IS NOT NULL)"
    )


def upgrade() -> None:
    with op.batch_alter_table("loans") as batch:
        batch.add_column(
            sa.Column("deposit_cents", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column("deposit_state", sa.String(length=10), server_default="none", nullable=False)
        )
        batch.add_column(sa.Column("deposit_kept_cents", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("deposit_reason", sa.Text(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        _occupied("due_on, '[]'")
    op.create_table(
        "loan_reminders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("loan_id", sa.String(length=36), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("days_late", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("loan_id", "on", name="uq_loan_reminders_daily"),
    )
    op.create_table(
        "carpool_offers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("driver_id", sa.String(length=100), nullable=False),
        sa.Column("origin", sa.String(length=50), nullable=False),
        sa.Column("destination", sa.String(length=50), nullable=False),
        sa.Column("route_km", sa.Float(), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("departs_on", sa.Date(), nullable=True),
        sa.Column("weekdays", sa.String(length=7), nullable=True),
        sa.Column("departs_at", sa.String(length=5), nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("open", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("seats BETWEEN 1 AND 8", name="ck_carpool_offers_seats"),
        sa.CheckConstraint("route_km > 0", name="ck_carpool_offers_km"),
        sa.ForeignKeyConstraint(["driver_id"], ["members.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_carpool_offers_search", "carpool_offers", ["origin", "destination"], unique=False
    )
    op.create_table(
        "carpool_trips",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("offer_id", sa.String(length=36), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("seats_taken", sa.Integer(), server_default="0", nullable=False),
        sa.Column("state", sa.String(length=10), server_default="open", nullable=False),
        sa.Column("km", sa.Float(), nullable=True),
        sa.Column("passengers", sa.Integer(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "seats_taken BETWEEN 0 AND seats", name="ck_carpool_trips_no_overbooking"
        ),
        sa.ForeignKeyConstraint(["offer_id"], ["carpool_offers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("offer_id", "on", name="uq_carpool_trips_day"),
    )
    op.create_table(
        "carpool_seats",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("trip_id", sa.String(length=36), nullable=False),
        sa.Column("passenger_id", sa.String(length=100), nullable=False),
        sa.Column("passenger_neighbourhood", sa.String(length=50), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["passenger_id"], ["members.id"]),
        sa.ForeignKeyConstraint(["trip_id"], ["carpool_trips.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trip_id", "passenger_id", name="uq_carpool_seats_once"),
    )
    op.create_index("ix_carpool_seats_passenger", "carpool_seats", ["passenger_id"], unique=False)


def downgrade() -> None:
    for table in ("carpool_seats", "carpool_trips", "carpool_offers", "loan_reminders"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        _occupied("NULL")
    with op.batch_alter_table("loans") as batch:
        for column in ("deposit_reason", "deposit_kept_cents", "deposit_state", "deposit_cents"):
            batch.drop_column(column)
