"""Editions, envelopes, proposals (with revisions), supports, participations, ballots and
milestones. See services/budget/db.py for how ballot secrecy shapes these tables.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = (
    "milestones",
    "ballots",
    "participations",
    "supports",
    "proposal_revisions",
    "proposals",
    "envelopes",
    "editions",
)


def upgrade() -> None:
    op.create_table(
        "editions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("city", sa.String(50), nullable=False),
        sa.Column("phase", sa.String(20), nullable=False),
        sa.Column("rule", sa.String(20), nullable=False),
        sa.Column("ballot_format", sa.JSON, nullable=False),
        sa.Column("allow_replacement", sa.Boolean, nullable=False),
        sa.Column("min_age", sa.Integer, nullable=True),
        sa.Column("preselection", sa.JSON, nullable=False),
        sa.Column("eligible_population", sa.JSON, nullable=False),
        sa.Column("phase_dates", sa.JSON, nullable=False),
        sa.Column("results", sa.JSON, nullable=True),
        sa.Column("source_meta", sa.JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
    )
    op.create_table(
        "envelopes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("edition_id", sa.String(36), sa.ForeignKey("editions.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("district", sa.String(50), nullable=True),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.CheckConstraint("amount_cents > 0", name="ck_envelopes_amount"),
        sa.UniqueConstraint("edition_id", "district", name="uq_envelopes_district"),
    )
    op.create_table(
        "proposals",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("edition_id", sa.String(36), sa.ForeignKey("editions.id"), nullable=False),
        sa.Column("envelope_id", sa.String(36), sa.ForeignKey("envelopes.id"), nullable=False),
        sa.Column("external_id", sa.String(100), nullable=True),
        sa.Column("author_id", sa.String(100), nullable=True),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("entered_by", sa.String(100), nullable=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("neighbourhood", sa.String(50), nullable=True),
        sa.Column("proposed_cost_cents", sa.BigInteger, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("supports", sa.Integer, nullable=False, server_default="0"),
        sa.Column("feasible", sa.Boolean, nullable=True),
        sa.Column("assessment_reason", sa.Text, nullable=True),
        sa.Column("cost_cents", sa.BigInteger, nullable=True),
        sa.Column("assessed_by", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("edition_id", "external_id", name="uq_proposals_external"),
    )
    op.create_table(
        "proposal_revisions",
        sa.Column("proposal_id", sa.String(36), sa.ForeignKey("proposals.id"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("proposed_cost_cents", sa.BigInteger, nullable=True),
        sa.Column("edited_by", sa.String(100), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "supports",
        sa.Column("proposal_id", sa.String(36), sa.ForeignKey("proposals.id"), primary_key=True),
        sa.Column("supporter_id", sa.String(100), primary_key=True),
    )
    op.create_table(
        "participations",
        sa.Column("envelope_id", sa.String(36), sa.ForeignKey("envelopes.id"), primary_key=True),
        sa.Column("voter_id", sa.String(100), primary_key=True),
        sa.Column("edition_id", sa.String(36), nullable=False),
        sa.Column("neighbourhood", sa.String(50), nullable=True),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("checked_in_by", sa.String(100), nullable=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ballots",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("envelope_id", sa.String(36), sa.ForeignKey("envelopes.id"), nullable=False),
        sa.Column("contents", sa.JSON, nullable=False),
        sa.Column("receipt_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("replace_key", sa.String(64), nullable=True, unique=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "milestones",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("proposal_id", sa.String(36), sa.ForeignKey("proposals.id"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("on", sa.Date, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_participations_edition_id", "participations", ["edition_id"])
    op.create_index("ix_milestones_proposal", "milestones", ["proposal_id"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
