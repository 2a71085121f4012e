"""Streams on a real 3-node JetStream cluster: replicas only go up, retention is applied."""

from __future__ import annotations

import logging

import nats
import pytest

from libs.common.broker import (
    ARCHIVE_STREAM,
    create_broker,
    ensure_streams,
    nats_servers,
    publish_event,
    replicas_to_keep,
)
from libs.common.events import STREAM
from libs.common.natsserver import NatsCluster, wait_for_jetstream


def test_a_comma_list_of_nats_urls_becomes_the_servers_list():
    assert nats_servers("nats://a:4222, nats://b:4222,nats://c:4222") == [
        "nats://a:4222",
        "nats://b:4222",
        "nats://c:4222",
    ]
    assert nats_servers("nats://127.0.0.1:4222") == ["nats://127.0.0.1:4222"]


@pytest.mark.parametrize("bad", ["", " , ", "nats-1:4222"])
def test_a_nats_url_that_is_not_a_url_list_is_refused(bad):
    with pytest.raises(ValueError, match="NATS_URL"):
        nats_servers(bad)


def test_replicas_are_raised_never_lowered():
    assert replicas_to_keep(current=3, wanted=1) == 3
    assert replicas_to_keep(current=1, wanted=3) == 3
    assert replicas_to_keep(current=0, wanted=1) == 1


@pytest.fixture
async def cluster(tmp_path):
    nodes = NatsCluster(tmp_path / "cluster").start()
    try:
        await wait_for_jetstream(nodes.url)
        yield nodes
    finally:
        nodes.stop()


async def _replicas(url: str) -> dict[str, int]:
    nc = await nats.connect(servers=nats_servers(url))
    try:
        js = nc.jetstream()
        return {
            name: (await js.stream_info(name)).config.num_replicas
            for name in (STREAM, ARCHIVE_STREAM)
        }
    finally:
        await nc.close()


async def test_a_replica_with_default_settings_does_not_shrink_an_r3_stream(cluster, caplog):
    first = create_broker(cluster.url)
    await first.connect()
    try:
        await ensure_streams(first, replicas=3)
    finally:
        await first.stop()
    assert await _replicas(cluster.url) == {STREAM: 3, ARCHIVE_STREAM: 3}

    late = create_broker(cluster.url)
    await late.connect()
    try:
        with caplog.at_level(logging.ERROR):
            await ensure_streams(late, replicas=1)  # NATS_STREAM_REPLICAS left at its default
    finally:
        await late.stop()
    assert await _replicas(cluster.url) == {STREAM: 3, ARCHIVE_STREAM: 3}


async def test_replicas_are_raised_when_a_process_asks_for_more(cluster):
    broker = create_broker(cluster.url)
    await broker.connect()
    try:
        await ensure_streams(broker, replicas=1)
        await ensure_streams(broker, replicas=3)
    finally:
        await broker.stop()
    assert await _replicas(cluster.url) == {STREAM: 3, ARCHIVE_STREAM: 3}


async def test_retention_settings_trim_the_working_stream_and_the_archive_keeps_all(
    nats_server,
):
    import asyncio

    broker = create_broker(nats_server.url)
    await broker.connect()
    try:
        await ensure_streams(broker)
        for i in range(60):
            payload = f'{{"n": {i}, "pad": "{"x" * 100}"}}'.encode()
            await publish_event(broker, "sharitories.test.thing.happened", payload, f"id-{i}")
        js = broker.connection.jetstream()
        async with asyncio.timeout(10):  # the archive sources asynchronously (milliseconds)
            while (await js.stream_info(ARCHIVE_STREAM)).state.messages < 60:
                await asyncio.sleep(0.05)
        # An operator sets limits: the working stream is trimmed at once, the archive not.
        await ensure_streams(broker, max_age_seconds=3600, max_bytes=4096)
        info = await js.stream_info(STREAM)
        assert info.config.max_age == 3600
        assert info.config.max_bytes == 4096
        assert info.state.first_seq > 1
        archive = await js.stream_info(ARCHIVE_STREAM)
        assert (archive.state.first_seq, archive.state.messages) == (1, 60)
    finally:
        await broker.stop()
