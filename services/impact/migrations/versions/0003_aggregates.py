"""Impact aggregates: daily/monthly sums, member sets, loan cohort; indexes for the queries.

Revision ID: 0003
Revises: 0002

Written out by hand (not imported from db.py). Existing fact and activity rows are folded
into the new tables by the same Python code the consumer uses (services.impact.aggregates),
so a database upgraded in place equals one that ingested the events after the upgrade.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SUM_COLUMNS = (
    "quantity",
    "days",
    "minutes",
    "passenger_m",
    "cents",
    "matched_cents",
    "commission_cents",
)


def upgrade() -> None:
    op.create_table(
        "impact_sums",
        sa.Column("grain", sa.String(1), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("type", sa.String(80), primary_key=True),
        sa.Column("neighbourhood", sa.String(64), primary_key=True),
        sa.Column("category", sa.String(64), primary_key=True),
        sa.Column("subcategory", sa.String(64), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        *(sa.Column(c, sa.BigInteger, nullable=False) for c in SUM_COLUMNS),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "impact_members",
        sa.Column("grain", sa.String(1), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("scope", sa.String(120), primary_key=True),
        sa.Column("neighbourhood", sa.String(64), primary_key=True),
        sa.Column("category", sa.String(64), primary_key=True),
        sa.Column("member_id", sa.String(64), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "impact_loans",
        sa.Column("ref_day", sa.Date, primary_key=True),
        sa.Column("neighbourhood", sa.String(64), primary_key=True),
        sa.Column("entity", sa.String(64), primary_key=True),
        sa.Column("met", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    op.drop_index("ix_impact_fact_day_nbhd", table_name="impact_fact")
    op.create_index(
        "ix_impact_fact_waits",
        "impact_fact",
        ["type", "seconds", "day", "neighbourhood"],
        sqlite_where=sa.text("seconds IS NOT NULL"),
        postgresql_where=sa.text("seconds IS NOT NULL"),
    )
    op.drop_index("ix_impact_activity_day_member", table_name="impact_activity")
    op.drop_index("ix_impact_activity_role_day", table_name="impact_activity")
    op.create_index(
        "ix_impact_activity_day_nbhd_member",
        "impact_activity",
        ["day", "neighbourhood", "member_id"],
    )
    op.create_index(
        "ix_impact_activity_role_day",
        "impact_activity",
        ["role", "type", "day", "neighbourhood", "category", "member_id"],
    )
    from services.impact.aggregates import refold_sync

    refold_sync(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_impact_activity_role_day", table_name="impact_activity")
    op.drop_index("ix_impact_activity_day_nbhd_member", table_name="impact_activity")
    op.create_index("ix_impact_activity_role_day", "impact_activity", ["role", "day"])
    op.create_index("ix_impact_activity_day_member", "impact_activity", ["day", "member_id"])
    op.drop_index("ix_impact_fact_waits", table_name="impact_fact")
    op.create_index("ix_impact_fact_day_nbhd", "impact_fact", ["day", "neighbourhood"])
    op.drop_table("impact_loans")
    op.drop_table("impact_members")
    op.drop_table("impact_sums")
