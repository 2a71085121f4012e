"""Resident accounts of the portal.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("address", sa.String(500), nullable=False, server_default=""),
        sa.Column("neighbourhood", sa.String(50), nullable=True),
        sa.Column("roles", sa.String(200), nullable=False, server_default="resident"),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.Column("status_note", sa.Text, nullable=True),
        sa.Column("verified_by", sa.String(36), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("oidc_subject", sa.String(300), nullable=True, unique=True),
        sa.Column("language", sa.String(5), nullable=False, server_default="fr"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_accounts_status", "accounts", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_accounts_status", table_name="accounts")
    op.drop_table("accounts")
