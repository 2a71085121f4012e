"""`sharitories up`: run the whole platform on one machine.

Starts an embedded nats-server (unless NATS_URL already answers), migrates every
service, starts each one under uvicorn, prints the URLs and waits. Ctrl-C (or SIGTERM, or
any child dying) stops every process it started, and nothing is left behind.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field

from libs.common.golive import refuse_unsafe_production
from libs.common.migrations import migrate_all
from libs.common.natsserver import NatsServer, answers
from libs.common.settings import SERVICES, Settings

APPS: tuple[str, ...] = ("portal", *SERVICES)  # the portal is the residents' web front


@dataclass
class Platform:
    settings: Settings
    services: tuple[str, ...] = APPS
    nats: NatsServer | None = None
    children: dict[str, subprocess.Popen] = field(default_factory=dict)

    def urls(self) -> dict[str, str]:
        host = self.settings.host
        return {s: f"http://{host}:{self.settings.port_for(s)}" for s in self.services}

    def start_nats(self) -> str:
        if answers(self.settings.nats_url):
            print(f"Using the NATS server already at {self.settings.nats_url}")
            return self.settings.nats_url
        port = int(self.settings.nats_url.rsplit(":", 1)[-1])
        self.nats = NatsServer(self.settings.var_dir / "nats", port=port).start()
        print(f"Started embedded nats-server -js at {self.nats.url} (data in var/nats)")
        return self.nats.url

    def start_services(self, nats_url: str) -> None:
        env = {**os.environ, "NATS_URL": nats_url}
        for service in self.services:
            self.children[service] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    f"services.{service}.app:create_app",
                    "--host",
                    self.settings.host,
                    "--port",
                    str(self.settings.port_for(service)),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                env=env,
                # Children get their own process group: we stop them, in order, ourselves.
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        pending = dict(self.urls())
        while pending and time.monotonic() < deadline:
            for service, url in list(pending.items()):
                if self.children[service].poll() is not None:
                    raise RuntimeError(f"{service} exited during start-up")
                try:
                    with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
                        if r.status == 200:
                            del pending[service]
                except (OSError, http.client.HTTPException):
                    pass  # not listening yet, or not speaking HTTP yet: ask again
            time.sleep(0.3)
        return not pending

    def stop(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        for child in self.children.values():
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.children.clear()
        if self.nats:
            self.nats.stop()
            self.nats = None


def load_demo(platform: Platform, settings: Settings) -> None:
    """Load the demo territory on first start (idempotent: later starts find it there)."""
    from sharitories.demo import DemoError, load_demo_sync

    print("Loading the demo territory of Valmont through the services' APIs…")
    try:
        summary = load_demo_sync(platform.urls(), settings)
    except DemoError as exc:
        print(f"Demo data not loaded: {exc}")
        return
    from sharitories.demo import DEMO_PASSWORD, ORGANISATIONS, RESIDENTS, STAFF

    if summary.get("already_loaded"):
        print("Demo territory already loaded.")
    else:
        counts = ", ".join(
            f"{v} {k.replace('_', ' ')}"
            for k, v in summary.items()
            if isinstance(v, int) and not isinstance(v, bool)
        )
        print(f"Demo territory ready: {counts}")
    print(
        f"Portal log-ins (password {DEMO_PASSWORD!r}): resident {RESIDENTS[0][0]}@valmont.example,"
        f" organisation {ORGANISATIONS[0][0]}@valmont.example, staff {STAFF}@valmont.example"
    )


def run(settings: Settings, *, after_ready=None) -> int:
    """Run the platform in the foreground until interrupted; returns an exit code."""
    platform = Platform(settings)
    if settings.env == "production":
        refuse_unsafe_production(services=platform.services)  # before NATS, before any port
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        nats_url = platform.start_nats()
        print("Migrating databases…")
        migrate_all(settings, platform.services)
        platform.start_services(nats_url)
        if not platform.wait_ready():
            print("Some services did not become ready in 60 s; see the logs above.")
            return 1
        if settings.demo:
            load_demo(platform, settings)
        if after_ready:
            after_ready(platform)
        print("\nSharitories is running:")
        for service, url in platform.urls().items():
            print(f"  {service:<13} {url}   (API docs: {url}/docs)")
        print("\nPress Ctrl-C to stop.")
        while not stopping:
            for service, child in platform.children.items():
                if child.poll() is not None:
                    print(
                        f"{service} stopped unexpectedly (exit {child.returncode}); "
                        "stopping the platform."
                    )
                    return 1
            time.sleep(0.5)
        return 0
    finally:
        print("\nStopping…")
        platform.stop()
        print("Stopped.")
