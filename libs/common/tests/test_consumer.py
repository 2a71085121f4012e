"""Consumers apply each event once, retry transient failures and dead-letter the rest."""

import asyncio
import contextlib

import nats
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select, update

from libs.common.broker import create_broker, ensure_streams, publish_event, subscribe_events
from libs.common.events import DEAD_LETTER_STREAM, Envelope, Territory

projection_md = MetaData()
tally = Table(
    "tally",
    projection_md,
    Column("key", String(50), primary_key=True),
    Column("count", Integer, nullable=False),
)


def an_event(key: str, **data) -> Envelope:
    return Envelope(
        type="exchange.item.listed",
        source="exchange",
        aggregate_id=key,
        territory=Territory(city="valmont"),
        data={"key": key, **data},
    )


@pytest.fixture
async def projection_db(db):
    async with db.engine.begin() as conn:
        await conn.run_sync(projection_md.create_all)
    return db


async def count(db, key: str) -> int:
    async with db.transaction() as session:
        return await session.scalar(select(tally.c.count).where(tally.c.key == key)) or 0


async def increment(session, envelope: Envelope) -> None:
    key = envelope.data["key"]
    changed = await session.execute(
        update(tally).where(tally.c.key == key).values(count=tally.c.count + 1)
    )
    if changed.rowcount == 0:
        await session.execute(tally.insert().values(key=key, count=1))


@contextlib.asynccontextmanager
async def running(nats_url, db, handle, consumer="projection", **options):
    broker = create_broker(nats_url)
    await broker.connect()
    await ensure_streams(broker)
    event_consumer = subscribe_events(
        broker,
        db=db,
        consumer=consumer,
        subject="sharitories.>",
        handle=handle,
        batch_size=options.pop("batch_size", 50),
        **options,
    )
    await broker.start()
    event_consumer.start()
    try:
        yield broker
    finally:
        await event_consumer.stop()
        await broker.stop()


async def publish(broker, envelope: Envelope, msg_id: str | None = None) -> None:
    await publish_event(
        broker, envelope.subject, envelope.model_dump_json().encode(), msg_id or envelope.id
    )


async def wait_for(predicate, timeout=15.0):
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


async def test_same_event_twice_updates_the_projection_once(projection_db, nats_server):
    db = projection_db
    async with running(nats_server.url, db, increment) as broker:
        event = an_event("drill")
        await publish(broker, event)
        # Outside JetStream's duplicate window: a different Nats-Msg-Id, the same event.
        await publish(broker, event, msg_id=event.id + "-republished")
        other = an_event("ladder")
        await publish(broker, other)

        async def all_seen():
            return await count(db, "ladder") == 1

        await wait_for(all_seen)
        await asyncio.sleep(0.3)
    assert await count(db, "drill") == 1


async def test_redelivered_event_is_applied_once(projection_db, nats_server):
    """Applied and committed, but the ack is lost (crash): JetStream redelivers it."""
    db = projection_db
    applied = []

    async def handle_then_crash_once(session, envelope):
        await increment(session, envelope)
        applied.append(envelope.id)

    async with running(nats_server.url, db, handle_then_crash_once) as broker:
        event = an_event("tent")
        await publish(broker, event)
        await wait_for(lambda: _async(len(applied) == 1))
    # Re-read the stream from the start with the same durable consumer's inbox: a fresh
    # consumer name would be a new projection, so replay to the same one.
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await js.delete_consumer("SHARITORIES", "projection")
    await nc.close()
    async with running(nats_server.url, db, handle_then_crash_once):
        await asyncio.sleep(1.5)
    assert await count(db, "tent") == 1


async def _async(value):
    return value


async def test_transient_failure_is_retried_until_it_succeeds(projection_db, nats_server):
    db = projection_db
    attempts = []

    async def flaky(session, envelope):
        attempts.append(envelope.id)
        if len(attempts) < 3:
            raise ConnectionError("database hiccup")
        await increment(session, envelope)

    async with running(nats_server.url, db, flaky, backoff=(0.1, 0.1, 0.1)) as broker:
        await publish(broker, an_event("bike"))

        async def applied():
            return await count(db, "bike") == 1

        await wait_for(applied)
    assert len(attempts) == 3


async def test_poison_event_goes_to_dead_letter_and_the_rest_flows(projection_db, nats_server):
    db = projection_db

    async def handle(session, envelope):
        if envelope.data.get("poison"):
            raise ValueError("this event can never be applied")
        await increment(session, envelope)

    async with running(
        nats_server.url, db, handle, max_deliver=3, backoff=(0.05, 0.05, 0.05)
    ) as broker:
        await publish(broker, an_event("before"))
        poison = an_event("bad", poison=True)
        await publish(broker, poison)
        for i in range(20):
            await publish(broker, an_event(f"after{i % 2}"))
        # A message that is not an envelope at all is dead-lettered at once.
        js = broker.connection.jetstream()
        await js.publish(
            "sharitories.exchange.item.listed", b"not json", headers={"Nats-Msg-Id": "garbage-1"}
        )

        async def rest_applied():
            return await count(db, "after0") + await count(db, "after1") == 20

        await wait_for(rest_applied)
        nc = await nats.connect(nats_server.url)
        jsc = nc.jetstream()

        async def both_dead_lettered():
            info = await jsc.stream_info(DEAD_LETTER_STREAM)
            return info.state.messages == 2

        await wait_for(both_dead_lettered)
        sub = await jsc.pull_subscribe("deadletter.>", stream=DEAD_LETTER_STREAM)
        letters = await sub.fetch(2, timeout=5)
        await nc.close()
    assert await count(db, "before") == 1
    assert await count(db, "bad") == 0
    by_seq = sorted(letters, key=lambda m: int(m.headers["Sharitories-Stream-Sequence"]))
    assert Envelope.model_validate_json(by_seq[0].data).id == poison.id
    assert by_seq[0].subject == "deadletter.projection.sharitories.exchange.item.listed"
    assert "can never be applied" in by_seq[0].headers["Sharitories-Error"]
    assert "malformed envelope" in by_seq[1].headers["Sharitories-Error"]


async def test_dead_letter_is_listed_and_replayed_once_the_bug_is_fixed(projection_db, nats_server):
    from libs.common.deadletter import list_dead_letters, replay_dead_letters

    db = projection_db
    fixed = False

    async def handle(session, envelope):
        if envelope.data.get("needs_fix") and not fixed:
            raise KeyError("missing factor")
        await increment(session, envelope)

    async with running(nats_server.url, db, handle, max_deliver=2, backoff=(0.05, 0.05)) as broker:
        await publish(broker, an_event("stuck", needs_fix=True))
        await publish(broker, an_event("fine"))

        async def one_letter():
            return len(await list_dead_letters(nats_server.url)) == 1

        await wait_for(one_letter)
        [letter] = await list_dead_letters(nats_server.url, consumer="projection")
        assert letter.subject == "sharitories.exchange.item.listed"
        assert "missing factor" in letter.error

        fixed = True
        assert await replay_dead_letters(nats_server.url) == 1

        async def replayed():
            return await count(db, "stuck") == 1

        await wait_for(replayed)
    assert await list_dead_letters(nats_server.url) == []
    assert await count(db, "fine") == 1
