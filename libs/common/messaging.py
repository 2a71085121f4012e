"""The outbox and inbox tables every service keeps in its own database.

Each service's first migration creates them with `create_messaging_tables(op)`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()
AutoId = BigInteger().with_variant(Integer, "sqlite")

outbox = Table(
    "outbox",
    metadata,
    Column("seq", AutoId, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("subject", String(200), nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # A relay leases rows before publishing so that replicas never publish the same row;
    # an expired lease (a relay that died) lets another relay take over.
    Column("claimed_by", String(64)),
    Column("claimed_until", DateTime(timezone=True)),
    Column("published_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    # W3C trace context of the request that wrote the event (NULL when tracing is off):
    # the relay sends it as the NATS `traceparent` header, the consumer continues the trace.
    Column("traceparent", String(55)),
    Index(
        "ix_outbox_pending",
        "seq",
        sqlite_where=text("published_at IS NULL"),
        postgresql_where=text("published_at IS NULL"),
    ),
)

inbox = Table(
    "inbox",
    metadata,
    Column("consumer", String(100), primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False),
)


def create_messaging_tables(op) -> None:
    """Create the outbox and inbox in an Alembic migration (version 1 of their shape)."""
    bind = op.get_bind()
    metadata.create_all(bind, tables=[outbox, inbox])


def add_outbox_traceparent(op) -> None:
    """Migration step shared by every service: the outbox's `traceparent` column.

    Idempotent: a database created after this column joined `outbox` above already has it
    from `create_messaging_tables`.
    """
    from sqlalchemy import inspect

    if "traceparent" not in {c["name"] for c in inspect(op.get_bind()).get_columns("outbox")}:
        op.add_column("outbox", Column("traceparent", String(55)))


def drop_outbox_traceparent(op) -> None:
    op.drop_column("outbox", "traceparent")


def drop_messaging_tables(op) -> None:
    bind = op.get_bind()
    metadata.drop_all(bind, tables=[inbox, outbox])
