"""Reusable bench harness: serve an app on a free port, drive it with concurrent clients.

    with BenchEnv() as env, bare_endpoint(concurrency=50) as bare:   # the baseline
        env.migrate("exchange")
        with env.serve("services.exchange.app:create_app") as url:
            rounds = alternate(
                lambda: bare(2000),
                lambda n: asyncio.run(run_load(url, scenario, total=1000, concurrency=50)),
                rounds=3,
            )
    print(rounds.table())                          # each round's ratio, and the median

An app runs under uvicorn either as a subprocess (default: the load generator and the
server do not share an event loop or the GIL) or in-process in a background thread.
A scenario is `async def scenario(client: httpx.AsyncClient, n: int) -> int` that makes
one logical operation (it may send several requests) and returns the request count;
latency is measured per operation. Throughput, p50 and p99 come out of `LoadResult`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from libs.common.natsserver import NatsServer, free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
Scenario = Callable[[httpx.AsyncClient, int], Awaitable[int]]


def bare_app():
    """The baseline: a FastAPI app with one trivial JSON endpoint and nothing else."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict:
        return {"ok": True}

    return app


def bare_pg_app():
    """The PostgreSQL baseline: a FastAPI app whose one endpoint writes a row, nothing else.

    One transaction per request inserting one row through an asyncpg pool (no ORM, no
    auth, no outbox): what any endpoint that persists something on PostgreSQL pays.
    `BARE_DATABASE_URL` names the database, `BARE_TABLE` the scratch table (dropped after).
    """
    import asyncpg
    from fastapi import FastAPI

    url = os.environ["BARE_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    table = os.environ["BARE_TABLE"]
    state: dict = {}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        pool = state["pool"] = await asyncpg.create_pool(url, min_size=10, max_size=10)
        await pool.execute(
            f'CREATE TABLE IF NOT EXISTS "{table}" (id bigserial PRIMARY KEY, payload text)'
        )
        try:
            yield
        finally:
            await pool.execute(f'DROP TABLE IF EXISTS "{table}"')
            await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/ping")
    async def ping() -> dict:
        return {"ok": True}

    @app.post("/write")
    async def write(body: dict) -> dict:
        async with state["pool"].acquire() as conn, conn.transaction():
            await conn.execute(f'INSERT INTO "{table}" (payload) VALUES ($1)', str(body))
        return {"ok": True}

    return app


async def bare_write(client: httpx.AsyncClient, n: int) -> int:
    """PostgreSQL baseline scenario: one POST that writes one row."""
    response = await client.post("/write", json={"n": n})
    response.raise_for_status()
    return 1


async def ping(client: httpx.AsyncClient, n: int) -> int:
    """Baseline scenario: one GET of the bare endpoint."""
    response = await client.get("/ping")
    response.raise_for_status()
    return 1


@contextlib.contextmanager
def bare_endpoint(*, concurrency: int, database_url: str | None = None):
    """Serve the baseline and warm it up; yields `measure(total) -> LoadResult`.

    With `database_url` (PostgreSQL) the bare endpoint writes a row in its own transaction
    (`bare_pg_app`), the equivalent of a write on that database; else a GET of `/ping`."""
    if database_url:
        env = {"BARE_DATABASE_URL": database_url, "BARE_TABLE": f"bench_bare_{os.getpid()}"}
        factory, scenario, name = "bench.harness:bare_pg_app", bare_write, "bare PG POST /write"
    else:
        env, factory, scenario, name = {}, "bench.harness:bare_app", ping, "bare GET /ping"
    with serve_app(factory, env=env) as url:
        asyncio.run(run_load(url, scenario, total=300, concurrency=concurrency))

        def measure(total: int) -> LoadResult:
            return asyncio.run(
                run_load(url, scenario, total=total, concurrency=concurrency, name=name)
            )

        yield measure


@dataclass
class Rounds:
    """Alternating rounds of the baseline and the app, each ratio taken within its round.

    Two cores shared by the server, the clients, nats-server and whatever else the machine
    runs: one long measurement of each side lets a burst of background work land on one side
    only (the same commit gave 24 % and 43 %). Alternating short rounds and quoting the
    median ratio, with its range, keeps such a burst to one round."""

    pairs: list[tuple[LoadResult, LoadResult]] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [app.requests_per_second / bare.requests_per_second for bare, app in self.pairs]

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def errors(self) -> int:
        return sum(app.errors for _, app in self.pairs)

    def median_pair(self) -> tuple[LoadResult, LoadResult]:
        """The round whose ratio is the median (the lower one for an even count)."""
        ratios = self.ratios
        order = sorted(range(len(self.pairs)), key=ratios.__getitem__)
        return self.pairs[order[(len(order) - 1) // 2]]

    def table(self) -> str:
        lines = []
        for n, (bare, app) in enumerate(self.pairs, 1):
            lines.append(f"round {n}")
            lines.extend(report([app], baseline=bare).splitlines()[(0 if n == 1 else 1) :])
        ratios = ", ".join(f"{r:.0%}" for r in self.ratios)
        lines.append(f"ratios by round: {ratios}; median {self.median_ratio:.0%}")
        return "\n".join(lines)


def alternate(
    bare: Callable[[], LoadResult], app: Callable[[int], LoadResult], *, rounds: int
) -> Rounds:
    """`rounds` times: the baseline, then the app (`app(round_index)`)."""
    result = Rounds()
    for n in range(rounds):
        base = bare()
        result.pairs.append((base, app(n)))
    return result


def _wait_until_up(url: str, path: str, timeout: float, process=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the app exited with code {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + path, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url}{path} did not answer 200 within {timeout} s")


@contextlib.contextmanager
def serve_app(
    factory: str,
    *,
    env: dict[str, str] | None = None,
    mode: str = "subprocess",
    ready_path: str = "/ping",
    timeout: float = 120.0,  # a loaded machine imports slowly
) -> Iterator[str]:
    """Serve `module:callable` (an app factory) under uvicorn on a free port; yields its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {**os.environ, **(env or {})}
    if mode == "subprocess":
        command = [sys.executable, "-m", "uvicorn", "--factory", factory]
        command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        command += ["--no-access-log", "--lifespan", "on"]
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=environment)
        try:
            _wait_until_up(url, ready_path, timeout, process)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return
    if mode != "inprocess":
        raise ValueError(f"unknown mode {mode!r}")
    import importlib

    import uvicorn

    saved = dict(os.environ)
    os.environ.update(env or {})
    module, _, name = factory.partition(":")
    app = getattr(importlib.import_module(module), name)()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    config.access_log = False
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        _wait_until_up(url, ready_path, timeout)
        yield url
    finally:
        server.should_exit = True
        thread.join(15)
        os.environ.clear()
        os.environ.update(saved)


class BenchEnv(contextlib.ExitStack):
    """A temp dir with SQLite files (or DATABASE_URL if given), and an embedded nats-server."""

    def __init__(self, *, database_url: str | None = None) -> None:
        super().__init__()
        self.database_url = database_url

    def __enter__(self) -> BenchEnv:
        super().__enter__()
        self.tmp = Path(self.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        self.nats = NatsServer(self.tmp / "nats").start()
        self.callback(self.nats.stop)
        self.schema_prefix = f"bench{os.getpid()}_" if self.database_url else ""
        self.env = {
            "SHARITORIES_ENV": "dev",
            "SHARITORIES_VAR_DIR": str(self.tmp / "var"),
            "NATS_URL": self.nats.url,
            "LOG_LEVEL": "WARNING",
            "DATABASE_SCHEMA_PREFIX": self.schema_prefix,
        }
        if self.database_url:
            self.env["DATABASE_URL"] = self.database_url
        return self

    def settings(self):
        from libs.common.settings import Settings

        return Settings(
            env="dev",
            var_dir=self.tmp / "var",
            nats_url=self.nats.url,
            database_url=self.database_url,
            database_schema_prefix=self.schema_prefix,
        )

    def migrate(self, service: str) -> None:
        from libs.common.migrations import upgrade

        settings = self.settings()
        upgrade(service, settings.database_url_for(service), settings.schema_for(service))
        if self.database_url:
            self.callback(self._drop_schema, settings.schema_for(service))

    def _drop_schema(self, schema: str) -> None:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        async def drop() -> None:
            engine = create_async_engine(self.settings().database_url_for("bench"))
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await engine.dispose()

        with contextlib.suppress(Exception):
            asyncio.run(drop())

    def serve(self, factory: str, **kw):
        return serve_app(factory, env=self.env, **kw)


@dataclass
class LoadResult:
    name: str
    operations: int
    requests: int
    seconds: float
    latencies: list[float] = field(repr=False)
    errors: int = 0
    # CPU seconds the load generator itself spent (the server runs in its own process): the
    # client shares the two cores, and near a core of its own it is what limits req/s.
    client_cpu: float = 0.0

    @property
    def client_us_per_request(self) -> float:
        return self.client_cpu / self.requests * 1e6 if self.requests else float("nan")

    @property
    def ops_per_second(self) -> float:
        return self.operations / self.seconds

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p99_ms(self) -> float:
        return self.percentile(99) * 1000


async def run_load(
    base_url: str,
    scenario: Scenario,
    *,
    total: int,
    concurrency: int = 50,
    name: str = "",
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """Run `total` operations of `scenario` from `concurrency` concurrent clients.

    Each client is its own httpx.AsyncClient with one keep-alive connection (one shared
    pool of 50 connections costs httpx more than the server it measures)."""
    latencies: list[float] = []
    counter = iter(range(total))
    requests = errors = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal requests, errors
        for n in counter:
            start = time.perf_counter()
            try:
                sent = await scenario(client, n)
            except Exception:
                errors += 1
                continue
            latencies.append(time.perf_counter() - start)
            requests += sent

    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=base_url,
                    limits=httpx.Limits(max_connections=1),
                    timeout=60,
                    headers=headers,
                )
            )
            for _ in range(concurrency)
        ]
        # Open every connection before the clock starts (any answer will do).
        await asyncio.gather(*(c.get("/healthz") for c in clients), return_exceptions=True)
        start, start_cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(c) for c in clients))
        seconds = time.perf_counter() - start
        client_cpu = time.process_time() - start_cpu
    return LoadResult(
        name or scenario.__name__,
        len(latencies),
        requests,
        seconds,
        latencies,
        errors,
        client_cpu,
    )


def report(results: list[LoadResult], *, baseline: LoadResult) -> str:
    lines = [
        f"{'scenario':<28}{'ops':>7}{'req/s':>9}{'ops/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}{'req/s vs bare':>15}  client: core, cpu/req"
    ]
    for r in [baseline, *results]:
        ratio = r.requests_per_second / baseline.requests_per_second
        busy = r.client_cpu / r.seconds if r.seconds else 0.0
        lines.append(
            f"{r.name:<28}{r.operations:>7}{r.requests_per_second:>9.0f}{r.ops_per_second:>9.0f}"
            f"{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{r.errors:>8}{ratio:>14.0%}"
            f"{busy:>11.0%} {r.client_us_per_request:.0f} µs/req"
        )
    return "\n".join(lines)
