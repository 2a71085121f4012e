"""`sharitories up` (what `make run` starts) brings the platform up and leaves nothing behind."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from libs.common.natsserver import answers, free_port
from libs.common.settings import DEFAULT_PORTS, SERVICES


def free_offset() -> int:
    """A port offset such that every service port is free."""
    for _ in range(50):
        offset = free_port() - 8000
        if offset < 1000 or offset + 8010 > 65000:
            continue
        try:
            socks = []
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


def read_until(process, marker: str, timeout: float) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"never saw {marker!r}; output:\n{''.join(seen)}")


def descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == parent:
                found.append(int(entry))
                frontier.append(int(entry))
    return found


def test_up_serves_every_service_and_ctrl_c_stops_everything(tmp_path):
    offset = free_offset()
    nats_url = f"nats://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "SHARITORIES_VAR_DIR": str(tmp_path / "var"),
        "SHARITORIES_PORT_OFFSET": str(offset),
        "NATS_URL": nats_url,
        "DATABASE_URL": "",
        "PYTHONUNBUFFERED": "1",
        "SHARITORIES_DEMO": "0",
    }
    env.pop("DATABASE_URL")
    for attempt in ("first start", "second start reuses var/"):
        process = subprocess.Popen(
            [sys.executable, "-m", "sharitories.cli", "up"],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            output = read_until(process, "Press Ctrl-C", timeout=90)
            assert "embedded nats-server" in output, attempt
            children = descendants(process.pid)
            assert len(children) >= len(SERVICES) + 1
            for service in SERVICES:
                url = f"http://127.0.0.1:{DEFAULT_PORTS[service] + offset}/readyz"
                with urllib.request.urlopen(url, timeout=5) as response:
                    assert response.status == 200, (attempt, service)
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
            assert process.wait(30) == 0
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        alive = [
            pid
            for pid in children
            if os.path.exists(f"/proc/{pid}") and "zombie" not in open(f"/proc/{pid}/status").read()
        ]
        assert alive == [], f"{attempt}: processes left behind: {alive}"
        assert not answers(nats_url)
    assert (tmp_path / "var" / "exchange.db").exists()
