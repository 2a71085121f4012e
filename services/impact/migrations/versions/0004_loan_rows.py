"""Impact: one loan-cohort row per loan (counted without DISTINCT); PB edition index covering.

Revision ID: 0004
Revises: 0003

Written out by hand (not imported from db.py). The new `impact_loans` rows are folded from
the existing loan facts by the consumer's own folding code (services.impact.aggregates).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

EDITION_INDEX = (
    "edition",
    "type",
    "day",
    "subcategory",
    "quantity",
    "cents",
    "entity",
    "occurred_at",
    "event_id",
)


def upgrade() -> None:
    op.drop_table("impact_loans")
    op.create_table(
        "impact_loans",
        sa.Column("entity", sa.String(64), primary_key=True),
        sa.Column("ref_day", sa.Date, nullable=False),
        sa.Column("neighbourhood", sa.String(64), nullable=False),
        sa.Column("met", sa.Integer, nullable=False),
        sa.Column("multi", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_impact_loans_cohort", "impact_loans", ["multi", "ref_day", "neighbourhood", "met"]
    )
    op.drop_index("ix_impact_fact_edition", table_name="impact_fact")
    op.create_index(
        "ix_impact_fact_edition",
        "impact_fact",
        list(EDITION_INDEX),
        sqlite_where=sa.text("edition IS NOT NULL"),
        postgresql_where=sa.text("edition IS NOT NULL"),
    )
    from services.impact.aggregates import refold_loans_sync

    refold_loans_sync(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_impact_fact_edition", table_name="impact_fact")
    op.create_index("ix_impact_fact_edition", "impact_fact", ["edition"])
    op.drop_index("ix_impact_loans_cohort", table_name="impact_loans")
    op.drop_table("impact_loans")
    op.create_table(
        "impact_loans",
        sa.Column("ref_day", sa.Date, primary_key=True),
        sa.Column("neighbourhood", sa.String(64), primary_key=True),
        sa.Column("entity", sa.String(64), primary_key=True),
        sa.Column("met", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO impact_loans (ref_day, neighbourhood, entity, met)"
        " SELECT ref_day, COALESCE(neighbourhood, ''), entity,"
        " MAX(CASE WHEN type IN ('exchange.loan.accepted', 'exchange.loan.picked_up',"
        " 'exchange.loan.returned', 'exchange.loan.overdue', 'exchange.loan.disputed')"
        " THEN 1 ELSE 0 END)"
        " FROM impact_fact WHERE type LIKE 'exchange.loan.%' AND ref_day IS NOT NULL"
        " AND entity IS NOT NULL GROUP BY ref_day, COALESCE(neighbourhood, ''), entity"
    )
