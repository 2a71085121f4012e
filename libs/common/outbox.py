"""Transactional outbox: events are rows written in the business transaction.

`record(session, event)` adds the row; the `OutboxRelay` publishes pending rows to
JetStream with `Nats-Msg-Id` = event id, so a publish retried after a crash is dropped by
JetStream's duplicate window, and marks them published. NATS down: rows wait. Rolled back:
the row never existed. Several relays (replicas) lease rows with FOR UPDATE SKIP LOCKED on
PostgreSQL, so each row is published by exactly one of them.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common import tracing
from libs.common.db import Database
from libs.common.events import Envelope
from libs.common.logs import get_logger
from libs.common.messaging import outbox

log = get_logger(__name__)

Publish = Callable[..., Awaitable[None]]
"""publish(subject, payload, msg_id[, traceparent=...]): raises if the broker did not ack.

`traceparent` is passed (as a keyword) only for rows written while tracing was on."""


_INSERT = insert(outbox)


async def record(session: AsyncSession, *events: Envelope) -> None:
    """Write events in the caller's transaction; they leave only if it commits."""
    if not events:
        return
    now = datetime.now(UTC)
    rows = [
        {
            "event_id": e.id,
            "subject": e.subject,
            "payload": e.model_dump_json(),
            "created_at": now,
        }
        for e in events
    ]
    traceparent = tracing.current_traceparent()  # None at once when tracing is off
    if traceparent:
        for row in rows:
            row["traceparent"] = traceparent
    await session.execute(_INSERT, rows)


async def backlog(db: Database) -> tuple[int, float]:
    """Rows not yet published, and the age in seconds of the oldest of them (0 if none)."""
    async with db.transaction() as session:
        count, oldest = (
            await session.execute(
                select(func.count(), func.min(outbox.c.created_at)).where(
                    outbox.c.published_at.is_(None)
                )
            )
        ).one()
    if oldest is None:
        return count, 0.0
    if oldest.tzinfo is None:  # SQLite hands back naive UTC datetimes
        oldest = oldest.replace(tzinfo=UTC)
    return count, max(0.0, (datetime.now(UTC) - oldest).total_seconds())


async def pending_count(db: Database) -> int:
    async with db.transaction() as session:
        return await session.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        )


class OutboxRelay:
    """Publishes a service's pending outbox rows, in order of writing, until stopped."""

    def __init__(
        self,
        db: Database,
        publish: Publish,
        *,
        name: str | None = None,
        batch_size: int = 200,
        poll_seconds: float = 0.2,
        lease_seconds: float = 30.0,
        linger_seconds: float = 0.01,
        is_connected: Callable[[], bool] = lambda: True,
    ) -> None:
        self.db = db
        self.publish = publish
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.linger = linger_seconds
        self.is_connected = is_connected
        self.published_ids: list[str] = []  # kept for tests and metrics, bounded below
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Ask the relay to look now rather than at its next poll."""
        self._wake.set()

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            await self.release_leases()

    async def release_leases(self) -> None:
        """Give back the rows this relay leased and did not publish (on stop): another
        replica publishes them at once instead of after the lease."""
        try:
            async with self.db.transaction() as session:
                await session.execute(
                    update(outbox)
                    .where(outbox.c.claimed_by == self.name, outbox.c.published_at.is_(None))
                    .values(claimed_by=None, claimed_until=None)
                )
        except Exception as exc:
            log.warning("outbox leases not released", relay=self.name, error=repr(exc))

    async def _run(self) -> None:
        while not self._stopping:
            try:
                sent = await self.relay_once() if self.is_connected() else 0
            except Exception:
                log.exception("outbox relay pass failed")
                sent = 0
            if sent < self.batch_size:
                self._wake.clear()
                try:
                    async with asyncio.timeout(self.poll_seconds):
                        await self._wake.wait()
                    # Under load many commits wake us at once: linger a moment so that one
                    # pass publishes them together instead of one write transaction each.
                    await asyncio.sleep(self.linger)
                except TimeoutError:
                    pass

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def relay_once(self) -> int:
        """Lease, publish and mark one batch; returns how many rows were published."""
        rows = await self._lease()
        if not rows:
            return 0
        done: list[int] = []
        failed: tuple[int, str] | None = None
        for seq, event_id, subject, payload, traceparent in rows:
            try:
                if traceparent:
                    await self.publish(subject, payload.encode(), event_id, traceparent=traceparent)
                else:
                    await self.publish(subject, payload.encode(), event_id)
            except Exception as exc:  # stop at the first failure to keep the order
                failed = (seq, repr(exc)[:500])
                break
            done.append(seq)
            self.published_ids.append(event_id)
        del self.published_ids[:-10_000]
        await self._settle(done, failed, [r[0] for r in rows])
        if failed:
            log.warning("outbox publish failed; will retry", error=failed[1])
        return len(done)

    async def _lease(self) -> list[tuple[int, str, str, str, str | None]]:
        # One statement (UPDATE ... RETURNING, SQLite >= 3.35 and PostgreSQL): the relay's
        # pass holds the single SQLite writer for as short a time as it can.
        now = datetime.now(UTC)
        candidates = (
            select(outbox.c.seq)
            .where(
                outbox.c.published_at.is_(None),
                or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
            )
            .order_by(outbox.c.seq)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        lease = (
            update(outbox)
            .where(outbox.c.seq.in_(candidates.scalar_subquery()))
            .values(claimed_by=self.name, claimed_until=now + self.lease)
            .returning(
                outbox.c.seq,
                outbox.c.event_id,
                outbox.c.subject,
                outbox.c.payload,
                outbox.c.traceparent,
            )
        )
        async with self.db.transaction() as session:
            rows = [tuple(r) for r in (await session.execute(lease)).all()]
        return sorted(rows)  # RETURNING promises no order: publish in order of writing

    async def _settle(
        self, done: list[int], failed: tuple[int, str] | None, leased: Iterable[int]
    ) -> None:
        now = datetime.now(UTC)
        mine = outbox.c.claimed_by == self.name
        async with self.db.transaction() as session:
            if done:
                await session.execute(
                    update(outbox)
                    .where(and_(outbox.c.seq.in_(done), mine))
                    .values(published_at=now, claimed_by=None, claimed_until=None)
                )
            if failed:
                await session.execute(
                    update(outbox)
                    .where(and_(outbox.c.seq == failed[0], mine))
                    .values(attempts=outbox.c.attempts + 1, last_error=failed[1])
                )
            # Release what this pass did not get to, so the next pass retries it at once.
            rest = [s for s in leased if s not in set(done)]
            if rest:
                await session.execute(
                    update(outbox)
                    .where(and_(outbox.c.seq.in_(rest), mine))
                    .values(claimed_by=None, claimed_until=None)
                )
