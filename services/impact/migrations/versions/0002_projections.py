"""Impact projections: per-event facts, member activity, parked events.

Revision ID: 0002
Revises: 0001

Written out by hand (not imported from db.py) so that this revision keeps creating the
shape it created on the day it shipped.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "impact_fact",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("part", sa.Integer, primary_key=True),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("neighbourhood", sa.String(64)),
        sa.Column("category", sa.String(64)),
        sa.Column("subcategory", sa.String(64)),
        sa.Column("edition", sa.String(64)),
        sa.Column("entity", sa.String(64)),
        sa.Column("ref", sa.String(64)),
        sa.Column("ref_day", sa.Date),
        sa.Column("flag", sa.Boolean),
        sa.Column("quantity", sa.BigInteger),
        sa.Column("total", sa.BigInteger),
        sa.Column("days", sa.Integer),
        sa.Column("minutes", sa.BigInteger),
        sa.Column("seconds", sa.BigInteger),
        sa.Column("passenger_m", sa.BigInteger),
        sa.Column("cents", sa.BigInteger),
        sa.Column("matched_cents", sa.BigInteger),
        sa.Column("commission_cents", sa.BigInteger),
        sa.Column("goal_cents", sa.BigInteger),
    )
    op.create_index("ix_impact_fact_type_day", "impact_fact", ["type", "day"])
    op.create_index("ix_impact_fact_day_nbhd", "impact_fact", ["day", "neighbourhood"])
    op.create_index("ix_impact_fact_entity", "impact_fact", ["entity"])
    op.create_index("ix_impact_fact_ref", "impact_fact", ["ref"])
    op.create_index("ix_impact_fact_edition", "impact_fact", ["edition"])
    op.create_table(
        "impact_activity",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("member_id", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(20), primary_key=True),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("neighbourhood", sa.String(64)),
        sa.Column("category", sa.String(64)),
    )
    op.create_index("ix_impact_activity_day_member", "impact_activity", ["day", "member_id"])
    op.create_index("ix_impact_activity_role_day", "impact_activity", ["role", "day"])
    op.create_table(
        "impact_parked",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("envelope", sa.Text, nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("impact_parked")
    op.drop_table("impact_activity")
    op.drop_table("impact_fact")
