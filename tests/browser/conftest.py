"""The whole platform in one process for browser tests: four services, the portal, NATS.

Every app runs under its own uvicorn server on a free port, all in one background event
loop; each has its own SQLite file in a temporary directory and they talk through a real
embedded nats-server. In-process (not subprocesses) so that a test can move the
crowdfunding clock past a campaign's deadline, as the service's own tests do.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import urllib.request
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from libs.common.migrations import upgrade
from libs.common.natsserver import NatsServer, free_port
from libs.common.settings import Settings
from tests.browser import PAGE_TIMEOUT_MS
from tests.browser.town import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    PASSWORD,
    STAFF_EMAIL,
    STAFF_PASSWORD,
    axe_ready,
    log_in,
    town,
)

SERVICES = ("exchange", "crowdfunding", "budget", "impact", "portal")


@dataclass
class Platform:
    root: Path
    ports: dict[str, int] = field(default_factory=dict)
    nats: NatsServer | None = None
    loop: asyncio.AbstractEventLoop | None = None
    servers: list[uvicorn.Server] = field(default_factory=list)
    apps: dict[str, Any] = field(default_factory=dict)
    thread: threading.Thread | None = None

    def url(self, service: str = "portal") -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start(self) -> Platform:
        from services.budget.app import create_app as budget_app
        from services.crowdfunding.app import create_app as crowdfunding_app
        from services.exchange.app import create_app as exchange_app
        from services.impact.app import create_app as impact_app
        from services.portal.app import create_app as portal_app
        from services.portal.config import PortalSettings

        self.nats = NatsServer(self.root / "nats").start()
        settings = Settings(
            env="test",
            var_dir=self.root / "var",
            database_url=None,
            nats_url=self.nats.url,
            outbox_poll_seconds=0.05,
            log_level="WARNING",
        )
        self.ports = {s: free_port() for s in SERVICES}
        for service in SERVICES:
            upgrade(service, settings.database_url_for(service), settings.schema_for(service))
        portal = PortalSettings(
            **{f"{s}_url": self.url(s) for s in SERVICES if s != "portal"},
            bootstrap_staff=f"{STAFF_EMAIL}:{STAFF_PASSWORD}",
        )
        factories = {
            "exchange": exchange_app,
            "crowdfunding": crowdfunding_app,
            "budget": budget_app,
            "impact": impact_app,
        }
        self.apps = {s: make(settings) for s, make in factories.items()}
        self.apps["portal"] = portal_app(settings, portal=portal)
        self.servers = [
            uvicorn.Server(
                uvicorn.Config(
                    self.apps[s],
                    host="127.0.0.1",
                    port=self.ports[s],
                    log_level="warning",
                    access_log=False,
                    lifespan="on",
                )
            )
            for s in SERVICES
        ]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="platform", daemon=True)
        self.thread.start()
        self._wait_ready()
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(asyncio.gather(*(s.serve() for s in self.servers)))

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(SERVICES)
        while pending:
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"not ready after {timeout} s: {sorted(pending)}")
            for service in list(pending):
                try:
                    with urllib.request.urlopen(self.url(service) + "/readyz", timeout=1) as r:
                        if r.status == 200:
                            pending.discard(service)
                except OSError:
                    pass
            time.sleep(0.1)

    def call(self, coro: Coroutine) -> Any:
        """Run a coroutine on the platform's loop (e.g. against an app's database)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def stop(self) -> None:
        for server in self.servers:
            server.should_exit = True
        if self.thread:
            self.thread.join(timeout=30)
        if self.nats:
            self.nats.stop()


def chromium_path() -> str | None:
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    return path if os.path.exists(path) else None


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="package")
def platform(tmp_path_factory):
    """All four services and the portal, started once for all the browser tests (each module
    names its own people and projects, so they share it without clashing). Package scope
    (this directory has an __init__.py for it): it stops, and the sync Playwright with it,
    after the last browser test, before the suite's asyncio tests that follow."""
    if chromium_path() is None:
        pytest.skip(
            "Debian's chromium is not installed (apt-get install chromium); .ci/run does it"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright (python) is not installed: pip install -e '.[dev]'")
    with pytest.MonkeyPatch.context() as patch:
        # Show single events on the dashboard: this scenario has one loan and one ballot.
        patch.setenv("IMPACT_MIN_CELL", "1")
        from services.impact.config import get_impact_settings

        get_impact_settings.cache_clear()
        running = Platform(tmp_path_factory.mktemp("platform")).start()
        try:
            yield running
        finally:
            running.stop()
            get_impact_settings.cache_clear()


@pytest.fixture(scope="package")
def browser(platform):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_page(browser, platform):
    """`new_page()` → a page in a fresh context (its own cookies), French by default."""
    contexts = []

    def make(locale: str = "fr-FR"):
        context = browser.new_context(
            base_url=platform.url(), locale=locale, viewport={"width": 1100, "height": 900}
        )
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def shot():
    """`shot(page, name)` saves a full-page screenshot to tests/artifacts/<name>.png."""

    def take(page, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    return take


def account_maker(platform):
    """`make(email, address)`: a resident already checked at the town hall, on `platform`."""
    from services.portal import accounts
    from services.portal.territory import directory

    def make(email: str, address: str, roles=("resident",)) -> str:
        async def create():
            async with platform.apps["portal"].state.runtime.db.transaction() as session:
                account = await accounts.sign_up(
                    session,
                    directory=directory(),
                    email=email,
                    display_name=email.split("@")[0].title(),
                    password=PASSWORD,
                    address=address,
                    roles=roles,
                    status=accounts.VERIFIED,
                )
                return account.id

        return platform.call(create())

    return make


@pytest.fixture(scope="package")
def verified_account(platform):
    """`verified_account(email, address)`: a resident already checked at the town hall."""
    return account_maker(platform)


@pytest.fixture
def login():
    return log_in
