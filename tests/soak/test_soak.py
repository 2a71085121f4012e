"""Soak: the compose topology without Docker, under load, through three faults.

Three `nats-server` processes from the wheel as one JetStream cluster (R3 streams),
PostgreSQL, two uvicorn replicas of every service, residents listing items over both
exchange replicas. Faults, one after the other, load running:

1. impact's schema is migrated late (impact started before its migration);
2. the SHARITORIES stream's leader node is killed (SIGKILL), then restarted;
3. one impact replica is killed (SIGKILL) with a batch in hand.

Then: every event the producers published was applied by impact exactly once (0 lost,
0 double-counted), nothing was dead-lettered, and impact caught up within 20 s of each
fault. The figures are printed (`make soak` shows them).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field

import httpx
import nats
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.common.auth import mint_token
from libs.common.broker import nats_servers
from libs.common.events import DEAD_LETTER_STREAM, STREAM
from libs.common.migrations import upgrade
from libs.common.natsserver import NatsCluster, free_port, wait_for_jetstream
from libs.common.settings import REPO_ROOT, SERVICES, Settings
from libs.common.testing import postgres_url

CATCH_UP_SECONDS = 20.0
WORKERS = 6


@dataclass
class Replica:
    service: str
    port: int
    process: asyncio.subprocess.Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Load:
    urls: list[str]
    settings: Settings
    ok: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    running: bool = False
    _tasks: list[asyncio.Task] = field(default_factory=list)

    def start(self) -> None:
        self.running = True
        self._tasks = [asyncio.create_task(self._worker(i)) for i in range(WORKERS)]

    async def stop(self) -> None:
        self.running = False
        await asyncio.gather(*self._tasks)

    async def _worker(self, index: int) -> None:
        token = mint_token(
            self.settings, sub=f"soak-{index}", roles=["resident"], neighbourhood="centre"
        )
        headers = {"Authorization": f"Bearer {token}"}
        body = {"title": "Drill", "category": "drill", "condition": "good", "max_loan_days": 7}
        n = 0
        async with httpx.AsyncClient(timeout=10) as client:
            while self.running:
                url = self.urls[(index + n) % len(self.urls)]  # both replicas, in turn
                n += 1
                try:
                    response = await client.post(f"{url}/items", json=body, headers=headers)
                    if response.status_code == 201:
                        self.ok += 1
                        continue
                    self.errors.append(f"{response.status_code} {response.text[:200]}")
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                self.failed += 1
                await asyncio.sleep(0.1)


class Platform:
    def __init__(self, tmp_path, database_url: str) -> None:
        self.database_url = database_url
        self.prefix = f"soak{uuid.uuid4().hex[:6]}_"
        self.cluster = NatsCluster(tmp_path / "nats")
        self.replicas: list[Replica] = []
        self.logs = tmp_path / "logs"
        self.logs.mkdir()

    @property
    def settings(self) -> Settings:
        return Settings(
            env="dev",
            database_url=self.database_url,
            database_schema_prefix=self.prefix,
            nats_url=self.cluster.url,
        )

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "SHARITORIES_ENV": "dev",
            "DATABASE_URL": self.database_url,
            "DATABASE_SCHEMA_PREFIX": self.prefix,
            "DATABASE_POOL_SIZE": "2",
            "NATS_URL": self.cluster.url,
            "NATS_STREAM_REPLICAS": "3",
            "CONSUMER_ACK_WAIT_SECONDS": "10",
            "LOG_LEVEL": "WARNING",
            "CROWDFUNDING_SETTLEMENT_INTERVAL": "0",
        }

    def migrate(self, service: str) -> None:
        settings = self.settings
        upgrade(service, settings.database_url_for(service), settings.schema_for(service))

    async def start(self, service: str) -> Replica:
        port = free_port()
        # The child keeps the file open; the test only reads it after a failure.
        log = open(self.logs / f"{service}-{port}.log", "wb")  # noqa: ASYNC230
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"services.{service}.app:create_app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            env=self.env(),
            cwd=REPO_ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        replica = Replica(service, port, process)
        self.replicas.append(replica)
        return replica

    async def wait_answering(self, replica: Replica, path: str, timeout: float = 90) -> None:
        async with httpx.AsyncClient(timeout=2) as client, asyncio.timeout(timeout):
            while True:
                assert replica.process.returncode is None, f"{replica.service} exited"
                try:
                    if (await client.get(replica.url + path)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.3)

    async def stop(self) -> None:
        for replica in self.replicas:
            if replica.process.returncode is None:
                replica.process.send_signal(signal.SIGTERM)
        for replica in self.replicas:
            try:
                await asyncio.wait_for(replica.process.wait(), 15)
            except TimeoutError:
                replica.process.kill()
                await replica.process.wait()
        self.cluster.stop()
        engine = create_async_engine(self.database_url)
        async with engine.begin() as conn:
            for app in (*SERVICES, "portal"):
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.prefix}{app}" CASCADE'))
        await engine.dispose()

    # --- what the database and the stream say -------------------------------------------

    async def produced(self, conn) -> tuple[set[str], int]:
        """Event ids written by every producer's outbox, and how many are unpublished."""
        ids: set[str] = set()
        pending = 0
        for service in SERVICES:
            schema = self.prefix + service
            rows = (
                await conn.execute(
                    text(f'SELECT event_id, published_at IS NULL FROM "{schema}".outbox')
                )
            ).all()
            ids.update(r[0] for r in rows)
            pending += sum(1 for r in rows if r[1])
        return ids, pending

    async def applied(self, conn) -> list[str]:
        schema = self.prefix + "impact"
        rows = await conn.execute(
            text(f"SELECT event_id FROM \"{schema}\".inbox WHERE consumer = 'impact'")
        )
        return [r[0] for r in rows]

    async def caught_up(self, engine) -> bool:
        async with engine.connect() as conn:
            produced, pending = await self.produced(conn)
            try:
                applied = set(await self.applied(conn))
            except Exception:
                return False  # impact's schema is not there yet
        return pending == 0 and produced <= applied

    async def stream_leader(self) -> str:
        nc = await nats.connect(servers=nats_servers(self.cluster.url))
        try:
            return (await nc.jetstream().stream_info(STREAM)).cluster.leader
        finally:
            await nc.close()

    async def dead_letters(self) -> int:
        nc = await nats.connect(servers=nats_servers(self.cluster.url))
        try:
            return (await nc.jetstream().stream_info(DEAD_LETTER_STREAM)).state.messages
        finally:
            await nc.close()


async def wait_caught_up(platform: Platform, engine, since: float) -> float:
    """Seconds from `since` until impact has applied everything produced (or 120 s)."""
    deadline = time.monotonic() + 120
    while not await platform.caught_up(engine):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.25)
    return time.monotonic() - since


async def test_soak_three_faults_nothing_lost_nothing_doubled(tmp_path):
    database_url = postgres_url()
    if database_url is None:
        pytest.skip("PostgreSQL is not reachable (set TEST_DATABASE_URL or run one on :5432)")
    platform = Platform(tmp_path, database_url)
    engine = create_async_engine(database_url, pool_size=2)
    figures: dict[str, float | int | str] = {}
    load: Load | None = None
    try:
        platform.cluster.start()
        await wait_for_jetstream(platform.cluster.url)
        for service in ("exchange", "crowdfunding", "budget"):  # impact: later (fault 1)
            await asyncio.to_thread(platform.migrate, service)
        replicas = {s: [await platform.start(s) for _ in range(2)] for s in SERVICES}
        for service, pair in replicas.items():
            # impact is not ready before its migration (fault 1): it only has to answer.
            path = "/healthz" if service == "impact" else "/readyz"
            for replica in pair:
                await platform.wait_answering(replica, path)
        load = Load([r.url for r in replicas["exchange"]], platform.settings)

        # Fault 1: impact's schema arrives late, load running.
        load.start()
        await asyncio.sleep(10)
        await asyncio.to_thread(platform.migrate, "impact")
        fault = time.monotonic()
        await asyncio.sleep(5)
        await load.stop()
        figures["late migration: caught up after (s)"] = round(
            await wait_caught_up(platform, engine, fault), 1
        )

        # Fault 2: the stream leader dies (SIGKILL), load running.
        load.start()
        await asyncio.sleep(3)
        leader = await platform.stream_leader()
        platform.cluster.kill_node(platform.cluster.index_of(leader))
        fault = time.monotonic()
        figures["killed stream leader"] = leader
        await asyncio.sleep(7)
        await load.stop()
        figures["leader kill: caught up after (s)"] = round(
            await wait_caught_up(platform, engine, fault), 1
        )
        figures["new stream leader"] = await platform.stream_leader()
        platform.cluster.start_node(platform.cluster.index_of(leader))

        # Fault 3: an impact replica dies (SIGKILL) with a batch in hand, load running.
        load.start()
        await asyncio.sleep(3)
        victim = replicas["impact"][0]
        victim.process.kill()
        fault = time.monotonic()
        await asyncio.sleep(5)
        await load.stop()
        figures["consumer kill: caught up after (s)"] = round(
            await wait_caught_up(platform, engine, fault), 1
        )

        async with engine.connect() as conn:
            produced, pending = await platform.produced(conn)
            applied = await platform.applied(conn)
            listed = await conn.scalar(
                text(
                    f'SELECT count(*) FROM "{platform.prefix}impact".impact_fact '
                    "WHERE type = 'exchange.item.listed'"
                )
            )
        figures.update(
            {
                "items listed (HTTP 201)": load.ok,
                "failed requests": load.failed,
                "events produced": len(produced),
                "events unpublished": pending,
                "events applied by impact": len(applied),
                "lost": len(produced - set(applied)),
                "double-counted": len(applied) - len(set(applied)) + max(0, listed - load.ok),
                "item listings counted by impact": listed,
                "dead-lettered": await platform.dead_letters(),
            }
        )
    finally:
        if load is not None and load.running:
            await load.stop()
        if load is not None and load.errors:
            print("\nFirst failed requests:", *load.errors[:3], sep="\n  ")
        print("\nSoak figures:")
        for name, value in figures.items():
            print(f"  {name:40} {value}")
        await engine.dispose()
        await platform.stop()

    assert figures["events produced"] > 0 and figures["failed requests"] == 0
    assert figures["lost"] == 0
    assert figures["double-counted"] == 0
    assert figures["dead-lettered"] == 0
    assert figures["events unpublished"] == 0
    assert figures["item listings counted by impact"] == load.ok
    for name, value in figures.items():
        if name.endswith("caught up after (s)"):
            assert value <= CATCH_UP_SECONDS, (name, value)
