"""Support for the cross-service tests: the whole platform as real processes.

`running_platform(tmp_path)` runs `python -m sharitories.cli up` (embedded nats-server, every
service under uvicorn, SQLite under tmp_path/var) on free ports, yields the service URLs and
the Settings that sign dev tokens for it, and stops everything with Ctrl-C afterwards.
`settled_report(...)` polls the impact report until the projection stops moving.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from libs.common.natsserver import free_port
from libs.common.settings import DEFAULT_PORTS, SERVICES, Settings


def free_offset() -> int:
    """A port offset such that every service port is free."""
    for _ in range(50):
        offset = free_port() - 8000
        if offset < 1000 or offset + 8010 > 65000:
            continue
        socks: list[socket.socket] = []
        try:
            for port in DEFAULT_PORTS.values():
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port + offset))
            return offset
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    pytest.skip("could not find free ports")


@dataclass
class Platform:
    urls: dict[str, str]
    settings: Settings
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_platform(
    tmp_path: Path, *, timeout: float = 90.0, demo: bool = False
) -> Iterator[Platform]:
    """`sharitories up` (what `make run` starts) on free ports; `demo` loads Valmont."""
    timeout += 300 if demo else 0  # the demo loads two years of history first
    offset = free_offset()
    var_dir = tmp_path / "var"
    env = {
        **os.environ,
        "SHARITORIES_VAR_DIR": str(var_dir),
        "SHARITORIES_PORT_OFFSET": str(offset),
        "NATS_URL": f"nats://127.0.0.1:{free_port()}",
        "PYTHONUNBUFFERED": "1",
        "SHARITORIES_DEMO": "1" if demo else "0",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_URL", None)
    log = tmp_path / "platform.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "sharitories.cli", "up"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    platform = Platform(
        urls={s: f"http://127.0.0.1:{DEFAULT_PORTS[s] + offset}" for s in (*SERVICES, "portal")},
        settings=Settings(var_dir=var_dir, port_offset=offset, nats_url=env["NATS_URL"]),
        log=log,
    )
    try:
        deadline = time.monotonic() + timeout
        while "Press Ctrl-C" not in platform.output():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the platform did not start:\n{platform.output()}")
            time.sleep(0.2)
        yield platform
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def report(impact_url: str, period: str) -> dict[str, Any]:
    response = httpx.get(
        f"{impact_url}/report", params={"period": period, "format": "json"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def settled_report(
    impact_url: str,
    period: str,
    *,
    ready: Callable[[dict], bool] = lambda r: True,
    quiet_polls: int = 3,
    interval: float = 0.5,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """The report once `ready(report)` holds and the fact count has not moved for
    `quiet_polls` polls in a row (every producer's outbox drained into the projection)."""
    deadline = time.monotonic() + timeout
    last, same = None, 0
    while True:
        current = report(impact_url, period)
        facts = current["projection"]["facts"]
        same = same + 1 if facts == last else 0
        last = facts
        if ready(current) and same >= quiet_polls:
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"the impact report did not settle: {current['projection']}")
        time.sleep(interval)


def drained(platform: Platform, timeout: float = 120.0) -> None:
    """Wait until every producer's outbox is published and the impact consumer has nothing
    pending or unacknowledged: after that, the report cannot move any more."""
    import asyncio
    import sqlite3

    import nats

    async def impact_pending() -> int:
        nc = await nats.connect(platform.settings.nats_url)
        try:
            info = await nc.jetstream().consumer_info("SHARITORIES", "impact")
            return info.num_pending + info.num_ack_pending
        finally:
            await nc.close()

    def outbox_pending() -> int:
        total = 0
        for service in ("exchange", "crowdfunding", "budget", "portal"):
            path = platform.settings.var_dir / f"{service}.db"
            if path.exists():
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                    total += db.execute(
                        "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                    ).fetchone()[0]
        return total

    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 3:
        quiet = quiet + 1 if outbox_pending() == 0 and asyncio.run(impact_pending()) == 0 else 0
        if time.monotonic() > deadline:
            raise AssertionError("the platform's events did not drain into the impact service")
        time.sleep(0.5)


def value(rep: dict[str, Any], key: str) -> Any:
    return rep["indicators"][key]["value"]
