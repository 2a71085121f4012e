"""The portal's own tables: accounts (the services never see names or e-mails), sessions,
failed log-ins and the record of role changes."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

accounts = Table(
    "accounts",
    metadata,
    # The pseudonymous member id: the `sub` of every token the portal mints.
    Column("id", String(36), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    # Argon2id hash; null for an account that only logs in through OIDC.
    Column("password_hash", String(200), nullable=True),
    Column("address", String(500), nullable=False, default=""),
    Column("neighbourhood", String(50), nullable=True),
    # Comma-separated roles from libs.common.auth.ROLES.
    Column("roles", String(200), nullable=False, default="resident"),
    Column("status", String(20), nullable=False, default="pending"),  # pending|verified|rejected
    Column("status_note", Text, nullable=True),
    Column("verified_by", String(36), nullable=True),
    Column("verified_at", DateTime(timezone=True), nullable=True),
    Column("oidc_subject", String(300), nullable=True, unique=True),
    Column("language", String(5), nullable=False, default="fr"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Given at sign-up or by staff, checked with the papers at verification; put in the
    # tokens the portal mints (age rules of a participatory budget).
    Column("birthdate", Date, nullable=True),
    Index("ix_accounts_status", "status", "created_at"),
)

# Server-side sessions: the signed cookie holds a random token; this row holds what it
# opens. Only the token's SHA-256 is stored, so a copy of the database opens no session.
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", String(36), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Index("ix_sessions_account", "account_id"),
)

# Failed log-ins per key ("account:<e-mail>" or "address:<client ip>"), shared by replicas.
login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", DateTime(timezone=True), nullable=False),
    Column("blocked_until", DateTime(timezone=True), nullable=True),
    Index("ix_login_failures_last", "last_failure_at"),
)

# Every change of an account's roles: who changed whose roles, what, when.
role_changes = Table(
    "role_changes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("actor_id", String(36), nullable=False),
    Column("account_id", String(36), nullable=False),
    Column("granted", String(200), nullable=False, default=""),
    Column("removed", String(200), nullable=False, default=""),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Index("ix_role_changes_changed_at", "changed_at"),
)

# --- debate (services/portal/debate) ------------------------------------------------------

# Comments on a proposal or a campaign. `neighbourhood` is the subject's when it was posted
# (events carry it); `page` is where the subject is read, to come back to after an action.
comments = Table(
    "comments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("subject_kind", String(20), nullable=False),  # proposal|campaign
    Column("subject_id", String(100), nullable=False),
    Column("page", String(300), nullable=False),
    Column("neighbourhood", String(50), nullable=True),
    Column("author_id", String(36), nullable=False),
    Column("in_reply_to", String(36), nullable=True),
    Column("body", Text, nullable=False),
    Column("state", String(20), nullable=False),  # visible|hidden|withdrawn
    Column("hidden_reason", String(30), nullable=True),
    Column("hidden_note", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("edited_at", DateTime(timezone=True), nullable=True),
    Index("ix_comments_subject", "subject_kind", "subject_id", "created_at"),
)

# A resident's report of a comment (once per resident and comment); open until staff
# hide the comment or dismiss the reports.
comment_reports = Table(
    "comment_reports",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("comment_id", String(36), nullable=False),
    Column("reporter_id", String(36), nullable=False),
    Column("reason", String(30), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("status", String(10), nullable=False),  # open|closed
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("comment_id", "reporter_id", name="uq_comment_reports_reporter"),
    Index("ix_comment_reports_open", "status", "created_at"),
)

# Every moderation step of a comment: who, when, what (reported, hidden, restored,
# dismissed, edited, withdrawn) and why.
moderation_actions = Table(
    "moderation_actions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("comment_id", String(36), nullable=False),
    Column("actor_id", String(36), nullable=False),
    Column("action", String(20), nullable=False),
    Column("reason", String(30), nullable=True),
    Column("note", Text, nullable=False, default=""),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_moderation_actions_comment", "comment_id", "at"),
)
