"""Server-side sessions, failed log-ins, the record of role changes, birthdates.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sessions_account", "sessions", ["account_id"])
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_login_failures_last", "login_failures", ["last_failure_at"])
    op.create_table(
        "role_changes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("actor_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("granted", sa.String(200), nullable=False, server_default=""),
        sa.Column("removed", sa.String(200), nullable=False, server_default=""),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_role_changes_changed_at", "role_changes", ["changed_at"])
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("birthdate", sa.Date, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("birthdate")
    op.drop_index("ix_role_changes_changed_at", table_name="role_changes")
    op.drop_table("role_changes")
    op.drop_index("ix_login_failures_last", table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_index("ix_sessions_account", table_name="sessions")
    op.drop_table("sessions")
