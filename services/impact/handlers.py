"""Event handlers of the impact service: one `apply(session, envelope)` for every event.

The consumer (libs.common.broker) calls `apply` inside its transaction, after the inbox has
recorded the event id, so a redelivered or re-published event is never applied twice; `apply`
collects the rows and the consumer calls `flush` once per batch, before it commits, to write
them (one executemany per table). `apply` dispatches on (type, version) through
`facts.PROJECTORS`:

- a known event becomes its fact and activity rows (facts.py);
- an unknown type or version, or data that does not validate against its contract, is PARKED
  whole in `impact_parked` with the reason, and acknowledged: the stream keeps flowing, and a
  later version of this service can re-apply parked events (`reapply_parked`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy import Table, delete, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from libs.common.clock import clock
from libs.common.events import Envelope
from libs.common.logs import get_logger
from services.impact import db
from services.impact.aggregates import Fold, write_fold, write_rows
from services.impact.facts import EventFacts, OutOfRange, Unprojectable, facts_of

log = get_logger(__name__)
QUARANTINED = Counter(
    "sharitories_impact_events_quarantined_total",
    "Events the impact service refused to project (kept in impact_parked with the reason)",
    ["reason"],
)


@dataclass(frozen=True)
class Projection:
    """The tables one projection writes to: the live ones, or fresh ones during a rebuild."""

    facts: Table
    activity: Table
    parked: Table
    sums: Table
    members: Table
    loans: Table

    @property
    def tables(self) -> tuple[Table, ...]:
        return (self.facts, self.activity, self.parked, self.sums, self.members, self.loans)

    async def apply(self, session: AsyncSession, envelope: Envelope) -> None:
        """Project one event (already de-duplicated by the caller), written at once."""
        pending = Pending()
        await self.collect(session, envelope, pending)
        await pending.write(session)

    async def apply_all(self, session: AsyncSession, envelopes: list[Envelope]) -> None:
        """Project many events with one executemany per table (already de-duplicated)."""
        pending = Pending()
        for envelope in envelopes:
            await self.collect(session, envelope, pending)
        await pending.write(session)

    async def collect(self, session: AsyncSession, envelope: Envelope, pending: Pending) -> None:
        """Add the rows of `envelope` to `pending`; park it now if it cannot be projected."""
        try:
            rows = facts_of(envelope)
        except OutOfRange as exc:
            QUARANTINED.labels(reason="date_out_of_range").inc()
            await self.park(session, envelope, f"quarantined: {exc}")
            return
        except Unprojectable as exc:
            await self.park(session, envelope, str(exc))
            return
        except ValidationError as exc:
            await self.park(session, envelope, f"data does not match its contract: {exc}")
            return
        pending.add(self, rows)

    async def write(self, session: AsyncSession, rows: EventFacts) -> None:
        """Write the rows of one event now (facts, activity, aggregates, edition name)."""
        pending = Pending()
        pending.add(self, rows)
        await pending.write(session)

    def flush(self, conn: Connection, facts: list[dict], activity: list[dict]) -> None:
        """Insert the buffered rows and fold them into the aggregates (same transaction)."""
        write_rows(conn, self.facts, facts)
        write_rows(conn, self.activity, activity)
        fold = Fold()
        fold.add_facts(facts)
        fold.add_activity(activity)
        write_fold(conn, fold, sums=self.sums, members=self.members, loans=self.loans)

    async def park(self, session: AsyncSession, envelope: Envelope, reason: str) -> None:
        log.warning("event parked", event_id=envelope.id, event_type=envelope.type, reason=reason)
        await session.execute(
            self.parked.insert().values(
                event_id=envelope.id,
                type=envelope.type,
                version=envelope.version,
                occurred_at=envelope.occurred_at,
                reason=reason[:2000],
                envelope=envelope.model_dump_json(),
                parked_at=clock.now(),
            )
        )


async def remember_edition_name(session: AsyncSession, edition: str, name: str) -> None:
    """Keep the edition's name (the same statements on SQLite and PostgreSQL: replace)."""
    names = db.edition_names
    await session.execute(delete(names).where(names.c.edition == edition))
    await session.execute(names.insert().values(edition=edition, name=name))


class Pending:
    """Rows of several events waiting to be written together, in the caller's transaction.

    The consumer applies a batch of events in one transaction: one executemany per table
    (facts, activity, and each aggregate table) instead of statements per event. Nothing
    is written until `write` is called: the caller says when, no session hook does."""

    __slots__ = ("editions", "rows")

    def __init__(self) -> None:
        self.rows: dict[Projection, tuple[list[dict], list[dict]]] = {}
        self.editions: list[tuple[str, str]] = []

    def add(self, projection: Projection, rows: EventFacts) -> None:
        buffer = self.rows.get(projection)
        if buffer is None:
            buffer = self.rows[projection] = ([], [])
        buffer[0].extend(rows.facts)
        buffer[1].extend(rows.activity)
        if rows.edition_name is not None:
            self.editions.append(rows.edition_name)

    async def write(self, session: AsyncSession) -> None:
        rows, self.rows = self.rows, {}
        editions, self.editions = self.editions, []
        if rows:
            await session.run_sync(_write_rows, rows)
        for edition, name in editions:
            await remember_edition_name(session, edition, name)


def _write_rows(session: Session, rows: dict[Projection, tuple[list[dict], list[dict]]]) -> None:
    for projection, (facts, activity) in rows.items():
        projection.flush(session.connection(), facts, activity)


LIVE = Projection(db.facts, db.activity, db.parked_events, db.sums, db.members, db.loans)


_PENDING = "impact_pending"


async def apply(session: AsyncSession, envelope: Envelope) -> None:
    """The impact consumer's handler: collect the rows of `envelope` for the live tables.

    They are written by `flush`, which the consumer calls once per batch before it commits
    (`runtime.consume(..., flush=flush)`)."""
    pending = session.sync_session.info.get(_PENDING)
    if pending is None:
        pending = session.sync_session.info[_PENDING] = Pending()
    await LIVE.collect(session, envelope, pending)


async def flush(session: AsyncSession) -> None:
    """Write what `apply` collected in this transaction (the consumer's end of batch)."""
    pending = session.sync_session.info.pop(_PENDING, None)
    if pending is not None:
        await pending.write(session)


async def reapply_parked(session: AsyncSession, *, projection: Projection = LIVE) -> int:
    """Re-apply parked events this version now understands; returns how many were applied."""
    applied = 0
    pending = Pending()
    for row in (await session.execute(select(projection.parked))).mappings().all():
        envelope = Envelope.model_validate(json.loads(row["envelope"]))
        try:
            rows = facts_of(envelope)
        except (Unprojectable, ValidationError):
            continue
        await session.execute(
            delete(projection.parked).where(projection.parked.c.event_id == row["event_id"])
        )
        pending.add(projection, rows)
        applied += 1
    await pending.write(session)
    return applied
