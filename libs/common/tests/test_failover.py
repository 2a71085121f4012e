"""Failover in seconds: a dead or stopped consumer's batch moves on, a live one keeps it,
a missing table delays events instead of dead-lettering them, a stopped relay lets go."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from datetime import UTC, datetime

import nats
from sqlalchemy import Column, Integer, MetaData, String, Table, select, update

from libs.common.broker import create_broker, ensure_streams, publish_event, subscribe_events
from libs.common.events import DEAD_LETTER_STREAM, STREAM, Envelope, Territory
from libs.common.messaging import outbox
from libs.common.metrics import EVENTS_CONSUMED
from libs.common.outbox import OutboxRelay
from libs.common.settings import REPO_ROOT

SUBJECT = "sharitories.>"


def tally_table(name: str) -> tuple[MetaData, Table]:
    meta = MetaData()
    table = Table(
        name,
        meta,
        Column("key", String(50), primary_key=True),
        Column("count", Integer, nullable=False),
    )
    return meta, table


_, TALLY = tally_table("tally")


def an_event(key: str) -> Envelope:
    return Envelope(
        type="exchange.item.listed",
        source="exchange",
        aggregate_id=key,
        territory=Territory(city="valmont"),
        data={"key": key},
    )


def incrementing(table: Table):
    async def increment(session, envelope: Envelope) -> None:
        key = envelope.data["key"]
        changed = await session.execute(
            update(table).where(table.c.key == key).values(count=table.c.count + 1)
        )
        if changed.rowcount == 0:
            await session.execute(table.insert().values(key=key, count=1))

    return increment


async def counts(db, table: Table = TALLY) -> dict[str, int]:
    async with db.transaction() as session:
        return dict((await session.execute(select(table.c.key, table.c.count))).all())


async def create(db, meta: MetaData) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(meta.create_all)


async def until(predicate, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


async def connected(url: str):
    broker = create_broker(url)
    await broker.connect()
    await ensure_streams(broker)
    await broker.start()
    return broker


async def publish_all(broker, keys) -> None:
    for key in keys:
        event = an_event(key)
        await publish_event(broker, event.subject, event.model_dump_json().encode(), event.id)


async def dead_letters(url: str) -> int:
    nc = await nats.connect(url)
    try:
        return (await nc.jetstream().stream_info(DEAD_LETTER_STREAM)).state.messages
    finally:
        await nc.close()


async def test_a_stopped_consumer_naks_its_batch_so_another_takes_it_at_once(db, nats_server):
    await create(db, TALLY.metadata)
    entered = asyncio.Event()

    async def hang(session, envelope):
        entered.set()
        await asyncio.Event().wait()

    keys = [f"k{i}" for i in range(5)]
    broker = await connected(nats_server.url)
    # ack_wait of a minute: only the NAK sent on stop can explain a quick redelivery.
    first = subscribe_events(
        broker, db=db, consumer="projection", subject=SUBJECT, handle=hang, ack_wait=60
    )
    first.start()
    await publish_all(broker, keys)
    async with asyncio.timeout(10):
        await entered.wait()
    await first.stop()  # what SIGTERM does through the app's lifespan

    second = subscribe_events(
        broker,
        db=db,
        consumer="projection",
        subject=SUBJECT,
        handle=incrementing(TALLY),
        ack_wait=60,
    )
    second.start()
    try:

        async def all_applied():
            return await counts(db) == dict.fromkeys(keys, 1)

        await until(all_applied, timeout=15)
    finally:
        await second.stop()
        await broker.stop()


CONSUMER_THAT_DIES = """
import asyncio, sys
from pathlib import Path
from libs.common.broker import create_broker, subscribe_events
from libs.common.db import Database

url, database_url, schema, flag = sys.argv[1:5]

async def hang(session, envelope):
    Path(flag).touch()
    await asyncio.Event().wait()

async def main():
    broker = create_broker(url)
    await broker.connect()
    db = Database(database_url, schema=schema or None)
    consumer = subscribe_events(
        broker, db=db, consumer="projection", subject="sharitories.>", handle=hang, ack_wait=2
    )
    consumer.start()
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_a_killed_consumers_batch_is_redelivered_after_a_short_ack_wait(
    db, nats_server, tmp_path
):
    await create(db, TALLY.metadata)
    keys = [f"k{i}" for i in range(20)]
    broker = await connected(nats_server.url)
    await publish_all(broker, keys)
    flag = tmp_path / "batch-taken"
    dying = await asyncio.create_subprocess_exec(
        *[sys.executable, "-c", CONSUMER_THAT_DIES, nats_server.url, db.url, db.schema or ""],
        str(flag),
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:

        async def taken():
            return flag.exists() or dying.returncode is not None

        await until(taken, timeout=30)
        assert dying.returncode is None, "the consumer process died before taking its batch"
        dying.send_signal(signal.SIGKILL)  # no NAK, no goodbye: only ack_wait frees the batch
        await dying.wait()
        survivor = subscribe_events(
            broker,
            db=db,
            consumer="projection",
            subject=SUBJECT,
            handle=incrementing(TALLY),
            ack_wait=2,
        )
        survivor.start()
        try:

            async def all_applied():
                return await counts(db) == dict.fromkeys(keys, 1)

            await until(all_applied, timeout=20)
        finally:
            await survivor.stop()
    finally:
        if dying.returncode is None:
            dying.kill()
            await dying.wait()
        await broker.stop()


async def test_a_slow_batch_is_kept_by_in_progress_signals_and_not_redelivered(db, nats_server):
    await create(db, TALLY.metadata)
    increment = incrementing(TALLY)

    async def slow(session, envelope):
        await asyncio.sleep(0.5)  # 6 events: a 3 s batch, three times the ack_wait
        await increment(session, envelope)

    keys = [f"k{i}" for i in range(6)]
    broker = await connected(nats_server.url)
    consumer = subscribe_events(
        broker, db=db, consumer="slow", subject=SUBJECT, handle=slow, ack_wait=1, batch_size=10
    )
    await publish_all(broker, keys)
    consumer.start()
    try:

        async def all_applied():
            return await counts(db) == dict.fromkeys(keys, 1)

        await until(all_applied, timeout=30)
        info = await broker.connection.jetstream().consumer_info(STREAM, "slow")
        assert info.num_redelivered == 0
        assert info.config.ack_wait == 1
    finally:
        await consumer.stop()
        await broker.stop()


async def test_an_event_meeting_a_missing_table_waits_for_it_and_is_never_dead_lettered(
    db, nats_server
):
    name = f"late_{uuid.uuid4().hex[:6]}"
    meta, table = tally_table(name)
    keys = ["a", "b", "c"]
    broker = await connected(nats_server.url)
    consumer = subscribe_events(
        broker,
        db=db,
        consumer=name,
        subject=SUBJECT,
        handle=incrementing(table),
        max_deliver=2,
    )
    consumer.schema_retry_delay = 0.2
    waited = EVENTS_CONSUMED.labels(name, "schema_not_ready")
    consumer.start()
    try:
        await publish_all(broker, keys)

        async def retried_past_max_deliver():
            return waited._value.get() >= 3 * len(keys)  # 3 deliveries each > max_deliver

        await until(retried_past_max_deliver)
        await create(db, meta)  # the migration arrives late

        async def all_applied():
            return await counts(db, table) == dict.fromkeys(keys, 1)

        await until(all_applied)
        assert await dead_letters(nats_server.url) == 0
    finally:
        await consumer.stop()
        await broker.stop()


async def test_a_relay_stopped_mid_publish_releases_its_leases(db):
    from libs.common.events import make_event  # noqa: F401  (contracts registered)
    from libs.common.outbox import record

    async with db.transaction() as session:
        await record(session, *(an_event(f"k{i}") for i in range(3)))
    publishing = asyncio.Event()

    async def stuck(subject, payload, msg_id):
        publishing.set()
        await asyncio.Event().wait()  # NATS hangs; SIGTERM arrives

    relay = OutboxRelay(db, stuck, lease_seconds=300)
    task = asyncio.create_task(relay.run())
    async with asyncio.timeout(10):
        await publishing.wait()
    async with db.transaction() as session:
        claimed = await session.scalar(
            select(outbox.c.seq).where(outbox.c.claimed_by == relay.name).limit(1)
        )
    assert claimed is not None
    relay.stop()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    async with db.transaction() as session:
        leased = (
            await session.execute(
                select(outbox.c.seq).where(outbox.c.claimed_until > datetime.now(UTC))
            )
        ).all()
    assert leased == []


async def test_backlog_reports_how_many_wait_and_the_oldest_ones_age(db):
    from datetime import timedelta

    from libs.common.outbox import backlog, record

    assert await backlog(db) == (0, 0.0)
    async with db.transaction() as session:
        await record(session, an_event("a"), an_event("b"))
        await session.execute(
            update(outbox)
            .where(outbox.c.seq == select(outbox.c.seq).limit(1).scalar_subquery())
            .values(created_at=datetime.now(UTC) - timedelta(minutes=10))
        )
    count, age = await backlog(db)
    assert count == 2 and 590 <= age <= 3600
