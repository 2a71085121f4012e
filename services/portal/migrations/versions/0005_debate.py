"""Debate: comments on proposals and campaigns, residents' reports, moderation history.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("subject_kind", sa.String(20), nullable=False),
        sa.Column("subject_id", sa.String(100), nullable=False),
        sa.Column("page", sa.String(300), nullable=False),
        sa.Column("neighbourhood", sa.String(50), nullable=True),
        sa.Column("author_id", sa.String(36), nullable=False),
        sa.Column("in_reply_to", sa.String(36), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("hidden_reason", sa.String(30), nullable=True),
        sa.Column("hidden_note", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_comments_subject", "comments", ["subject_kind", "subject_id", "created_at"])
    op.create_table(
        "comment_reports",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("comment_id", sa.String(36), nullable=False),
        sa.Column("reporter_id", sa.String(36), nullable=False),
        sa.Column("reason", sa.String(30), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("comment_id", "reporter_id", name="uq_comment_reports_reporter"),
    )
    op.create_index("ix_comment_reports_open", "comment_reports", ["status", "created_at"])
    op.create_table(
        "moderation_actions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("comment_id", sa.String(36), nullable=False),
        sa.Column("actor_id", sa.String(36), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(30), nullable=True),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_moderation_actions_comment", "moderation_actions", ["comment_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_moderation_actions_comment", table_name="moderation_actions")
    op.drop_table("moderation_actions")
    op.drop_index("ix_comment_reports_open", table_name="comment_reports")
    op.drop_table("comment_reports")
    op.drop_index("ix_comments_subject", table_name="comments")
    op.drop_table("comments")
