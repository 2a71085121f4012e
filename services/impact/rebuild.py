"""Replay: recompute every projection from stream sequence 1, compare, and swap.

1. `rebuild(...)` creates fresh tables (`impact_fact_rebuild`, ...), reads the event
   archive (SHARITORIES_ARCHIVE, never trimmed; SHARITORIES when there is none) from
   sequence 1 with an ordered, ephemeral nats-py consumer up to the last sequence present at
   the start, and projects every event with the very same code as the live consumer
   (`Projection.apply`). An event id seen twice in the stream (re-published outside the
   duplicate window) is applied once, like the inbox does live.
2. `differences(...)` compares two projections row by row (every column but `parked_at`).
3. `swap(...)` makes the rebuilt rows the live ones in one transaction: live rows of the events
   the replay saw are replaced, rows of events that arrived after the replay's last sequence are
   kept, and the inbox learns every replayed id so the live consumer will not apply them again.
   The aggregate tables (sums, member sets, loan cohort) are then folded again from the swapped
   rows by the consumer's own folding code; the rebuilt aggregates, built incrementally by the
   replay, are compared too (`differences`).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import nats
from nats.js.api import DeliverPolicy
from pydantic import ValidationError
from sqlalchemy import MetaData, Table, delete, insert, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.broker import ARCHIVE_STREAM, nats_servers
from libs.common.clock import clock
from libs.common.db import Database, insert_ignoring_duplicates
from libs.common.events import STREAM, SUBJECT_PREFIX, Envelope
from libs.common.logs import get_logger
from libs.common.messaging import inbox
from services.impact import db
from services.impact.aggregates import refold
from services.impact.handlers import LIVE, Projection

log = get_logger(__name__)

BATCH = 500
SUFFIX = "_rebuild"


@dataclass(frozen=True)
class RebuildResult:
    last_sequence: int
    messages: int
    events: int  # distinct event ids applied
    duplicates: int
    malformed: int
    projection: Projection


def fresh_projection(suffix: str = SUFFIX) -> Projection:
    meta = MetaData()
    return Projection(
        db.fact_table(f"impact_fact{suffix}", meta),
        db.activity_table(f"impact_activity{suffix}", meta),
        db.parked_table(f"impact_parked{suffix}", meta),
        db.sums_table(f"impact_sums{suffix}", meta),
        db.members_table(f"impact_members{suffix}", meta),
        db.loans_table(f"impact_loans{suffix}", meta),
    )


async def recreate(database: Database, projection: Projection) -> None:
    tables = list(projection.tables)
    async with database.engine.begin() as conn:
        await conn.run_sync(lambda c: tables[0].metadata.drop_all(c, tables=tables))
        await conn.run_sync(lambda c: tables[0].metadata.create_all(c, tables=tables))


async def rebuild(
    database: Database, nats_url: str, *, projection: Projection | None = None
) -> RebuildResult:
    """Project the whole stream, from sequence 1, into fresh tables."""
    projection = projection or fresh_projection()
    await recreate(database, projection)
    nc = await nats.connect(servers=nats_servers(nats_url), connect_timeout=5)
    seen: set[str] = set()
    messages = duplicates = malformed = 0
    try:
        js = nc.jetstream()
        source, last = await _history(js)
        if last:
            sub = await js.subscribe(
                f"{SUBJECT_PREFIX}.>",
                stream=source,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL,
                pending_msgs_limit=-1,
                pending_bytes_limit=-1,
            )
            try:
                batch: list[Envelope] = []
                position = 0
                while position < last:
                    msg = await sub.next_msg(timeout=10)
                    position = msg.metadata.sequence.stream
                    messages += 1
                    try:
                        envelope = Envelope.model_validate_json(msg.data)
                    except ValidationError:
                        malformed += 1  # the live consumer dead-letters these too
                        continue
                    if envelope.id in seen:
                        duplicates += 1
                        continue
                    seen.add(envelope.id)
                    batch.append(envelope)
                    if len(batch) >= BATCH:
                        await _apply_batch(database, projection, batch)
                        batch = []
                await _apply_batch(database, projection, batch)
            finally:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
    finally:
        await nc.close()
    log.info("impact rebuild done", last_sequence=last, events=len(seen), duplicates=duplicates)
    return RebuildResult(last, messages, len(seen), duplicates, malformed, projection)


async def _history(js) -> tuple[str, int]:
    """The stream holding every event, and its last sequence now.

    The working stream may be trimmed by age or size; the archive copies it (within
    milliseconds) and is never trimmed. Events the archive has not copied yet are after
    the replay's last sequence, and `swap` keeps their live rows.
    """
    try:
        return ARCHIVE_STREAM, (await js.stream_info(ARCHIVE_STREAM)).state.last_seq
    except nats.js.errors.NotFoundError:
        return STREAM, (await js.stream_info(STREAM)).state.last_seq


async def _apply_batch(database: Database, projection: Projection, batch: list[Envelope]) -> None:
    if not batch:
        return
    async with database.transaction() as session:
        await projection.apply_all(session, batch)


# --- comparing and swapping ------------------------------------------------------------


def _comparable(table: Table) -> list:
    return [c for c in table.columns if c.name != "parked_at"]


async def _rows(session: AsyncSession, table: Table) -> list[tuple]:
    columns = _comparable(table)
    key = [c for c in columns if c.primary_key]
    result = await session.execute(select(*columns).order_by(*key))
    return [tuple(row) for row in result]


async def differences(session: AsyncSession, a: Projection, b: Projection) -> dict[str, int]:
    """Rows present in one projection and not the other, per table ({} when equal)."""
    out: dict[str, int] = {}
    for name in ("facts", "activity", "parked", "sums", "members", "loans"):
        left = set(await _rows(session, getattr(a, name)))
        right = set(await _rows(session, getattr(b, name)))
        if left != right:
            out[name] = len(left ^ right)
    return out


async def swap(
    database: Database, rebuilt: Projection, *, live: Projection = LIVE, consumer: str = "impact"
) -> None:
    """Make the rebuilt rows live (one transaction); keep rows of events replay did not see."""
    async with database.transaction() as session:
        replayed = union(
            *(select(t.c.event_id) for t in (rebuilt.facts, rebuilt.activity, rebuilt.parked))
        )
        for target in (live.facts, live.activity, live.parked):
            await session.execute(delete(target).where(target.c.event_id.in_(replayed)))
        for name in ("facts", "activity", "parked"):
            source, target = getattr(rebuilt, name), getattr(live, name)
            columns = [c.name for c in target.columns]
            await session.execute(
                insert(target).from_select(columns, select(*(source.c[c] for c in columns)))
            )
        ids = (
            select(source.c.event_id).distinct()
            for source in (rebuilt.facts, rebuilt.activity, rebuilt.parked)
        )
        for query in ids:
            known = [row for (row,) in await session.execute(query)]
            for start in range(0, len(known), 5000):
                await session.execute(
                    insert_ignoring_duplicates(session, inbox, "consumer", "event_id").values(
                        [
                            {"consumer": consumer, "event_id": i, "processed_at": _now()}
                            for i in known[start : start + 5000]
                        ]
                    )
                )
        # The aggregates follow from the (now swapped) rows: fold them again, same code.
        await session.run_sync(
            lambda s: refold(
                s.connection(),
                facts=live.facts,
                activity=live.activity,
                sums=live.sums,
                members=live.members,
                loans=live.loans,
            )
        )


def _now():

    return clock.now()


async def drop(database: Database, projection: Projection) -> None:
    tables = list(projection.tables)
    async with database.engine.begin() as conn:
        await conn.run_sync(lambda c: tables[0].metadata.drop_all(c, tables=tables))


async def rebuild_and_swap(database: Database, nats_url: str, *, dry_run: bool = False) -> dict:
    """What `sharitories impact rebuild` runs: rebuild, compare with live, swap unless dry."""
    result = await rebuild(database, nats_url)
    async with database.transaction() as session:
        diff = await differences(session, result.projection, LIVE)
    if not dry_run:
        await swap(database, result.projection)
    await drop(database, result.projection)
    return {
        "last_sequence": result.last_sequence,
        "messages": result.messages,
        "events": result.events,
        "duplicates_skipped": result.duplicates,
        "malformed": result.malformed,
        "differences_before_swap": diff,
        "swapped": not dry_run,
    }


def run(database_url: str, schema: str | None, nats_url: str, *, dry_run: bool = False) -> dict:
    """Blocking entry point for the CLI."""

    async def main() -> dict:
        database = Database(database_url, schema=schema)
        try:
            return await rebuild_and_swap(database, nats_url, dry_run=dry_run)
        finally:
            await database.dispose()

    return asyncio.run(main())
