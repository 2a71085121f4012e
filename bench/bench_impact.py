"""Impact service benchmark: ingestion ratio vs raw JetStream consumption, and query p95.

    .venv/bin/python bench/bench_impact.py [--events 20000] [--facts 1000000] [--queries 20]

1. Ingestion. N synthetic events (services.impact.scenario.synthetic_events) are published to
   a fresh nats-server. Baseline: a raw nats-py durable pull consumer fetching batches of the
   service consumer's size and acking each message (no parsing, no database). Then the
   impact service's own consumer (libs.common.broker.EventConsumer +
   services.impact.handlers.apply: envelope parsing, inbox row, fact and activity rows, one
   transaction per batch) on SQLite. Both read the same
   events in the same run; the ratio is impact events/s ÷ raw events/s (goal >= 50 %, issue 18).
2. Queries. A projection holding --facts events is filled IN BULK, bypassing NATS (ingesting
   1M events through NATS would take many minutes on its own): facts_of() of synthetic events,
   then the consumer's own flush (Projection.flush: facts, activity, and the aggregate tables
   folded by the same code) in batches of ~20,000 rows. Then GET /report?period=2026 and
   GET /indicators/<key>?period=month are timed through the real app (httpx ASGI transport);
   p50/p95 printed. --batch sets the consumer batch size (default: the service's).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import nats
from nats.js.api import ConsumerConfig
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from libs.common.broker import create_broker, ensure_streams, subscribe_events
from libs.common.db import Database
from libs.common.events import STREAM
from libs.common.messaging import inbox
from libs.common.migrations import upgrade_async
from libs.common.natsserver import NatsServer
from libs.common.settings import Settings
from services.impact import db as tables
from services.impact.app import BATCH_SIZE
from services.impact.facts import facts_of
from services.impact.handlers import LIVE, apply, flush
from services.impact.scenario import synthetic_events


async def publish_all(url: str, payloads: list[tuple[str, bytes, str]]) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    started = time.perf_counter()
    for i in range(0, len(payloads), 500):
        await asyncio.gather(
            *(
                js.publish(subject, data, headers={"Nats-Msg-Id": msg_id}, timeout=30)
                for subject, data, msg_id in payloads[i : i + 500]
            )
        )
    elapsed = time.perf_counter() - started
    await nc.close()
    return elapsed


async def raw_consume(url: str, count: int, batch_size: int) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        "sharitories.>", durable="raw", stream=STREAM, config=ConsumerConfig(max_ack_pending=20_000)
    )
    seen = 0
    started = time.perf_counter()
    while seen < count:
        try:
            messages = await sub.fetch(batch_size, timeout=1.0)
        except (TimeoutError, nats.errors.TimeoutError):
            continue
        for msg in messages:
            await msg.ack()
        seen += len(messages)
    elapsed = time.perf_counter() - started
    await nc.close()
    return elapsed


async def impact_consume(url: str, database: Database, count: int, batch_size: int) -> float:
    broker = create_broker(url, name="bench-impact")
    await broker.connect()
    await ensure_streams(broker)
    consumer = subscribe_events(
        broker,
        db=database,
        consumer="impact",
        subject="sharitories.>",
        handle=apply,
        flush=flush,
        batch_size=batch_size,
    )

    def committed() -> float:
        # The consumer counts a batch once committed and acked (polling the inbox would
        # take SQLite's lock).
        labels = {"consumer": "impact", "outcome": "applied"}
        return REGISTRY.get_sample_value("sharitories_events_consumed_total", labels) or 0

    await broker.start()
    started = time.perf_counter()
    consumer.start()
    while committed() < count:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.5)  # let the last acks go out
    await consumer.stop()
    await broker.stop()
    async with database.transaction() as session:
        done = await session.scalar(select(func.count()).select_from(inbox))
    assert done == count, f"{done} events in the inbox, expected {count}"
    return elapsed


async def bench_ingestion(workdir: Path, events: int, batch_size: int) -> None:
    server = NatsServer(workdir / "nats").start()
    try:
        broker = create_broker(server.url)
        await broker.connect()
        await ensure_streams(broker)
        await broker.stop()
        payloads = [
            (e.subject, e.model_dump_json().encode(), e.id) for e in synthetic_events(events)
        ]
        published = await publish_all(server.url, payloads)
        print(f"published {events} events in {published:.2f}s")
        raw = await raw_consume(server.url, events, batch_size)
        url = f"sqlite+aiosqlite:///{workdir / 'ingest.db'}"
        await upgrade_async("impact", url, None)
        database = Database(url)
        ingested = await impact_consume(server.url, database, events, batch_size)
        await database.dispose()
        raw_rate, impact_rate = events / raw, events / ingested
        print(f"raw nats-py JetStream consumption : {raw_rate:10.0f} events/s ({raw:.2f}s)")
        print(f"impact end-to-end into projections: {impact_rate:10.0f} events/s ({ingested:.2f}s)")
        print(f"ratio impact / raw                : {impact_rate / raw_rate:10.1%}  (goal >= 50 %)")
    finally:
        server.stop()


async def fill(database: Database, count: int) -> float:
    started = time.perf_counter()
    fact_rows, activity_rows = [], []
    for envelope in synthetic_events(count, seed=11):
        rows = facts_of(envelope)
        fact_rows += rows.facts
        activity_rows += rows.activity
        if len(fact_rows) >= 20_000:
            await _insert(database, fact_rows, activity_rows)
            fact_rows, activity_rows = [], []
    await _insert(database, fact_rows, activity_rows)
    return time.perf_counter() - started


async def _insert(database: Database, fact_rows: list, activity_rows: list) -> None:
    # The consumer's own flush: the same executemany of facts and activity, and the same
    # folding into the aggregate tables (sums, member sets, loan cohort), just bigger batches.
    async with database.transaction() as session:
        await session.run_sync(lambda s: LIVE.flush(s.connection(), fact_rows, activity_rows))


async def timed(client: httpx.AsyncClient, path: str, params: dict, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = await client.get(path, params=params)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return samples


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


async def bench_queries(workdir: Path, count: int, runs: int) -> None:
    from services.impact.app import create_app

    server = NatsServer(workdir / "nats-q").start()
    try:
        settings = Settings(
            env="test", var_dir=workdir / "var", nats_url=server.url, log_level="WARNING"
        )
        url = settings.database_url_for("impact")
        await upgrade_async("impact", url, None)
        database = Database(url)
        filled = await fill(database, count)
        async with database.transaction() as session:
            facts = await session.scalar(select(func.count()).select_from(tables.facts))
        await database.dispose()
        print(
            f"bulk-filled {count} events ({facts} fact rows) in {filled:.1f}s: facts_of() and "
            "the consumer's flush (facts, activity, aggregates) in big batches, NOT through NATS"
        )
        app = create_app(settings)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://i") as c,
        ):
            for path, params in (
                ("/report", {"period": "2026"}),
                ("/report", {"period": "2026-06"}),
                (
                    "/indicators/environment.co2e_avoided_by_loans",
                    {"period": "month", "from": "2026-01-01", "to": "2026-12-31"},
                ),
                (
                    "/indicators/exchange.loans_by_category",
                    {
                        "period": "week",
                        "from": "2026-03-02",
                        "to": "2026-03-29",
                        "neighbourhood": "centre",
                    },
                ),
            ):
                samples = await timed(c, path, params, runs)
                print(
                    f"GET {path} {params}: p50 {statistics.median(samples) * 1000:.0f} ms, "
                    f"p95 {p95(samples) * 1000:.0f} ms over {runs} runs"
                )
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    """Run both impact benches (`python -m bench impact` passes no argv: the defaults)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--facts", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--batch", type=int, default=BATCH_SIZE, help="consumer batch size")
    args = parser.parse_args(argv)
    asyncio.run(_run(args))
    return 0


async def _run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-impact-") as tmp:
        workdir = Path(tmp)
        await bench_ingestion(workdir, args.events, args.batch)
        if args.facts:
            await bench_queries(workdir, args.facts, args.queries)


if __name__ == "__main__":
    sys.exit(main())
