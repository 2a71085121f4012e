"""Members, items, loans, the time-credit ledger, services, ratings and reports.

On PostgreSQL a loan holds its item through a generated daterange column that is open
ended (the item is occupied from the loan's first day until it is checked in), and an
exclusion constraint forbids two such ranges of one item to overlap: no double booking,
whatever the concurrency.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OCCUPYING = "('accepted', 'picked_up', 'overdue', 'disputed')"


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("neighbourhood", sa.String(length=50), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("contact", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "ratings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("rater_id", sa.String(length=100), nullable=False),
        sa.Column("ratee_id", sa.String(length=100), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="ck_ratings_score"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject_type", "subject_id", "rater_id", name="uq_ratings_once"),
    )
    op.create_index(op.f("ix_ratings_ratee_id"), "ratings", ["ratee_id"], unique=False)
    op.create_table(
        "reports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subject_type", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.String(length=100), nullable=False),
        sa.Column("reporter_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="open", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(length=100), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_reports_status", "reports", ["status", "created_at"], unique=False)
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("owner_id", sa.String(length=100), nullable=False),
        sa.Column("balance", sa.Integer(), server_default="0", nullable=False),
        sa.Column("debit_limit", sa.Integer(), nullable=False),
        sa.Column("credit_limit", sa.Integer(), nullable=False),
        sa.CheckConstraint("balance <= credit_limit", name="ck_accounts_credit_limit"),
        sa.CheckConstraint("balance >= -debit_limit", name="ck_accounts_debit_limit"),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["members.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner_id"),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("condition", sa.String(length=20), nullable=False),
        sa.Column("deposit_cents", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_loan_days", sa.Integer(), nullable=False),
        sa.Column("pickup_notes", sa.Text(), server_default="", nullable=False),
        sa.Column("neighbourhood", sa.String(length=50), nullable=False),
        sa.Column("listed", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("deposit_cents >= 0", name="ck_items_deposit"),
        sa.CheckConstraint("max_loan_days >= 1", name="ck_items_max_days"),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["members.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_items_search", "items", ["category", "neighbourhood"], unique=False)
    op.create_table(
        "services",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("neighbourhood", sa.String(length=50), nullable=False),
        sa.Column("minutes_estimate", sa.Integer(), nullable=True),
        sa.Column("route_km", sa.Float(), nullable=True),
        sa.Column("open", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_services_search", "services", ["kind", "neighbourhood"], unique=False)
    op.create_table(
        "loans",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("lender_id", sa.String(length=100), nullable=False),
        sa.Column("borrower_id", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("lender_neighbourhood", sa.String(length=50), nullable=False),
        sa.Column("borrower_neighbourhood", sa.String(length=50), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("picked_up_on", sa.Date(), nullable=True),
        sa.Column("returned_on", sa.Date(), nullable=True),
        sa.Column("return_condition", sa.String(length=20), nullable=True),
        sa.Column("return_notes", sa.Text(), nullable=True),
        sa.CheckConstraint("due_on >= starts_on", name="ck_loans_period"),
        sa.ForeignKeyConstraint(
            ["borrower_id"],
            ["members.id"],
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
        ),
        sa.ForeignKeyConstraint(
            ["lender_id"],
            ["members.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_loans_borrower", "loans", ["borrower_id"], unique=False)
    op.create_index("ix_loans_item_state", "loans", ["item_id", "state"], unique=False)
    op.create_index("ix_loans_lender", "loans", ["lender_id"], unique=False)
    op.create_table(
        "transfers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("initiator_id", sa.String(length=100), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("from_account", sa.String(length=100), nullable=False),
        sa.Column("to_account", sa.String(length=100), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("memo", sa.Text(), server_default="", nullable=False),
        sa.Column("reverses", sa.String(length=36), nullable=True),
        sa.Column("service_id", sa.String(length=36), nullable=True),
        sa.Column("entered_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("from_account <> to_account", name="ck_transfers_two_accounts"),
        sa.CheckConstraint("minutes > 0", name="ck_transfers_positive"),
        sa.ForeignKeyConstraint(
            ["from_account"],
            ["accounts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["reverses"],
            ["transfers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["to_account"],
            ["accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("initiator_id", "idempotency_key", name="uq_transfers_idempotency"),
        sa.UniqueConstraint("reverses"),
    )
    op.create_table(
        "entries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("transfer_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=100), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_entries_account_id"), "entries", ["account_id"], unique=False)
    op.create_index(op.f("ix_entries_transfer_id"), "entries", ["transfer_id"], unique=False)
    op.create_table(
        "loan_transitions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("loan_id", sa.String(length=36), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_loan_transitions_loan_id"), "loan_transitions", ["loan_id"], unique=False
    )
    op.create_table(
        "service_completions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.Column("provider_id", sa.String(length=100), nullable=False),
        sa.Column("receiver_id", sa.String(length=100), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("km", sa.Float(), nullable=True),
        sa.Column("passengers", sa.Integer(), nullable=True),
        sa.Column("repaired_category", sa.String(length=40), nullable=True),
        sa.Column("transfer_id", sa.String(length=36), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["members.id"],
        ),
        sa.ForeignKeyConstraint(
            ["receiver_id"],
            ["members.id"],
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("receiver_id", "idempotency_key", name="uq_completions_idempotency"),
    )
    op.create_index(
        op.f("ix_service_completions_service_id"),
        "service_completions",
        ["service_id"],
        unique=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        has_gist = (
            op.get_bind()
            .exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'btree_gist'")
            .scalar()
        )
        if not has_gist:
            op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public")
        op.execute(
            "ALTER TABLE loans ADD COLUMN occupied daterange GENERATED ALWAYS AS ("
            f"CASE WHEN state IN {OCCUPYING} THEN daterange(starts_on, NULL) END) STORED"
        )
        op.execute(
            "ALTER TABLE loans ADD CONSTRAINT ex_loans_no_double_booking "
            "EXCLUDE USING gist (item_id WITH =, occupied WITH &&) WHERE (occupied IS NOT NULL)"
        )


def downgrade() -> None:
    for table in (
        "ratings",
        "reports",
        "service_completions",
        "entries",
        "transfers",
        "services",
        "accounts",
        "loan_transitions",
        "loans",
        "items",
        "members",
    ):
        op.drop_table(table)
