"""The portal's own tables: resident accounts (the services never see names or e-mails)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, Text

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
    Index("ix_accounts_status", "status", "created_at"),
)
