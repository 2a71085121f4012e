"""The outbox never loses an event and never publishes one twice (real nats-server)."""

import asyncio

import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from libs.common.broker import create_broker, ensure_streams, is_connected, publish_event
from libs.common.events import STREAM, Envelope, Territory
from libs.common.outbox import OutboxRelay, pending_count, record


def an_event(n: int = 0) -> Envelope:
    return Envelope(
        type="exchange.item.listed",
        source="exchange",
        aggregate_id=f"item-{n}",
        territory=Territory(city="valmont", neighbourhood="centre"),
        data={"n": n},
    )


async def stream_event_ids(url: str) -> list[str]:
    """Every event id stored in the SHARITORIES stream, in stream order."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        total = info.state.messages
        if not total:
            return []
        sub = await js.pull_subscribe(
            "sharitories.>", stream=STREAM, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        )
        ids: list[str] = []
        while len(ids) < total:
            for msg in await sub.fetch(total - len(ids), timeout=5):
                ids.append(Envelope.model_validate_json(msg.data).id)
                await msg.ack()
        return ids
    finally:
        await nc.close()


@pytest.fixture
async def broker(nats_server):
    broker = create_broker(nats_server.url)
    await broker.connect()
    await ensure_streams(broker)
    yield broker
    await broker.stop()


def relay_for(db, broker, **kw) -> OutboxRelay:
    return OutboxRelay(
        db,
        lambda s, p, i: publish_event(broker, s, p, i),
        poll_seconds=0.05,
        is_connected=lambda: is_connected(broker),
        **kw,
    )


async def test_committed_events_are_published_once(db, broker, nats_server):
    events = [an_event(i) for i in range(5)]
    async with db.transaction() as session:
        await record(session, *events)
    relay = relay_for(db, broker)
    assert await relay.relay_once() == 5
    assert await relay.relay_once() == 0
    assert await stream_event_ids(nats_server.url) == [e.id for e in events]
    assert await pending_count(db) == 0


async def test_rolled_back_transaction_publishes_nothing(db, broker, nats_server):
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await record(session, an_event(1))
            raise RuntimeError("the business rule failed after the event was written")
    relay = relay_for(db, broker)
    assert await relay.relay_once() == 0
    assert await pending_count(db) == 0
    assert await stream_event_ids(nats_server.url) == []


async def test_event_written_while_nats_is_down_is_delivered_once_when_it_returns(
    db, broker, nats_server
):
    relay = relay_for(db, broker)
    task = asyncio.create_task(relay.run())
    try:
        before = an_event(0)
        async with db.transaction() as session:
            await record(session, before)
        async with asyncio.timeout(10):
            while await pending_count(db):
                await asyncio.sleep(0.05)

        nats_server.stop()
        async with asyncio.timeout(10):
            while is_connected(broker):
                await asyncio.sleep(0.05)
        during = [an_event(i) for i in range(1, 4)]
        async with db.transaction() as session:
            await record(session, *during)
        relay.wake()
        await asyncio.sleep(0.5)
        assert await pending_count(db) == 3, "with NATS down the rows wait in the outbox"

        nats_server.start()
        async with asyncio.timeout(20):
            while await pending_count(db):
                await asyncio.sleep(0.1)
    finally:
        relay.stop()
        await task
    ids = await stream_event_ids(nats_server.url)
    assert ids == [before.id] + [e.id for e in during]


async def test_publish_retried_after_a_crash_is_dropped_by_jetstream(db, broker, nats_server):
    """A relay that published but died before marking the row: the retry is deduplicated."""
    event = an_event(7)
    await publish_event(broker, event.subject, event.model_dump_json().encode(), event.id)
    async with db.transaction() as session:
        await record(session, event)
    assert await relay_for(db, broker).relay_once() == 1
    assert await stream_event_ids(nats_server.url) == [event.id]


async def test_two_relays_publish_every_row_exactly_once(db, broker, nats_server, db_backend):
    if db_backend != "postgresql":
        pytest.skip("replicas of a relay share a PostgreSQL database; SQLite is single-node")
    events = [an_event(i) for i in range(400)]
    async with db.transaction() as session:
        await record(session, *events)
    first, second = relay_for(db, broker, batch_size=7), relay_for(db, broker, batch_size=11)

    async def drain(relay):
        while await relay.relay_once():
            await asyncio.sleep(0)

    await asyncio.gather(drain(first), drain(second), drain(first), drain(second))
    assert first.published_ids and second.published_ids, "both relays took part"
    assert not set(first.published_ids) & set(second.published_ids)
    assert sorted(first.published_ids + second.published_ids) == sorted(e.id for e in events)
    assert sorted(await stream_event_ids(nats_server.url)) == sorted(e.id for e in events)
