"""Pytest fixtures for the whole project: real nats-server, real databases, real apps.

- `nats_server`: a fresh `nats-server -js` on a free port in a temporary directory, per
  test (it starts in ~0.1 s, and a fresh stream keeps tests independent).
- `db_backend`: parametrises a test over SQLite and PostgreSQL. PostgreSQL is used when
  `TEST_DATABASE_URL` is set or 127.0.0.1:5432 answers (as on CI); otherwise that case is
  skipped with the reason. Each test gets its own PostgreSQL schemas, dropped afterwards.
- `service_factory`: migrate and start a service app (its lifespan, broker, relay) and
  talk to it over HTTP in-process with httpx.
- `production_secrets`: sets every secret the production check requires (an app built
  with `env="production"` refuses to start without them).
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from libs.common.auth import mint_token
from libs.common.migrations import upgrade_async
from libs.common.natsserver import NatsServer
from libs.common.runtime import ServiceRuntime
from libs.common.settings import REPO_ROOT, Settings

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str | None:
    """The PostgreSQL URL for tests, or None when no server answers."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        from libs.common.settings import async_url

        return async_url(url)
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return DEFAULT_PG_URL
    except OSError:
        return None


def shared_dir() -> Path | None:
    """`../shared` beside the repository (or SHARITORIES_SHARED), if present."""
    path = Path(os.environ.get("SHARITORIES_SHARED", REPO_ROOT.parent / "shared"))
    return path if path.is_dir() else None


def require_shared(sub: str = "") -> Path:
    base = shared_dir()
    if base is None or not (base / sub).exists():
        pytest.skip(f"../shared/{sub} is absent (a user's clone): this test needs the shared data")
    return base / sub


# Values that pass the production check (libs/common/golive.py): tests of production
# behaviour set them, since every app refuses to start in production without them.
PRODUCTION_SECRETS: dict[str, str] = {
    "JWT_SECRET": "test-production-jwt-secret-0123456789abcdef",
    "METRICS_TOKEN": "test-production-metrics-token-0123456789ab",
    "PORTAL_SESSION_SECRET": "test-production-session-secret-0123456789",
    "CROWDFUNDING_WEBHOOK_SECRET": "test-production-webhook-secret-0123456789",
    "BUDGET_BALLOT_SECRET": "test-production-ballot-secret-0123456789ab",
    "CROWDFUNDING_PAYMENT_PROVIDER": "sandbox",
    "CROWDFUNDING_SANDBOX_IN_PRODUCTION": "true",
}


@pytest.fixture
def production_secrets(monkeypatch) -> dict[str, str]:
    """Set every secret production requires, so that `env="production"` apps start."""
    monkeypatch.delenv("JWT_JWKS_URL", raising=False)
    for name, value in PRODUCTION_SECRETS.items():
        monkeypatch.setenv(name, value)
    return dict(PRODUCTION_SECRETS)


@pytest.fixture
def nats_server(tmp_path) -> NatsServer:
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_backend(request) -> str:
    if request.param == "postgresql" and postgres_url() is None:
        pytest.skip("PostgreSQL is not reachable (set TEST_DATABASE_URL or run one on :5432)")
    return request.param


@pytest.fixture
async def settings_factory(tmp_path, db_backend) -> AsyncIterator[Callable[..., Settings]]:
    """Build Settings for a test: its own SQLite files or its own PostgreSQL schemas."""
    prefix = f"t{uuid.uuid4().hex[:10]}_"

    def make(**overrides) -> Settings:
        values = {
            "env": "test",
            "var_dir": tmp_path / "var",
            "database_url": postgres_url() if db_backend == "postgresql" else None,
            "database_schema_prefix": prefix,
            "outbox_poll_seconds": 0.05,
            "log_level": "WARNING",
        }
        values.update(overrides)
        return Settings(**values)

    yield make
    if db_backend == "postgresql":
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(postgres_url())
        async with engine.begin() as conn:
            rows = await conn.execute(
                text(
                    "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE :p"
                ),
                {"p": prefix + "%"},
            )
            for (schema,) in rows.all():
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await engine.dispose()


@dataclass
class RunningService:
    """A service app started with its lifespan, reachable in-process over HTTP."""

    name: str
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings

    @property
    def runtime(self) -> ServiceRuntime:
        return self.app.state.runtime

    def auth(
        self,
        sub: str = "alice",
        *roles: str,
        neighbourhood: str | None = "centre",
        verified: bool = True,
        **claims,
    ) -> dict[str, str]:
        """Authorization header for a member with `roles` (default: resident)."""
        token = mint_token(
            self.settings,
            sub=sub,
            roles=roles or ("resident",),
            neighbourhood=neighbourhood,
            verified=verified,
            **claims,
        )
        return {"Authorization": f"Bearer {token}"}

    async def flush_outbox(self, timeout: float = 10.0) -> None:
        """Wait until the relay has published every pending event."""
        from libs.common.outbox import pending_count

        async with asyncio.timeout(timeout):
            while await pending_count(self.runtime.db):
                self.runtime.relay.wake()
                await asyncio.sleep(0.02)


@pytest.fixture
async def service_factory(settings_factory, nats_server) -> AsyncIterator[Callable]:
    """`await service_factory(name, create_app, **settings)` → a started RunningService."""
    async with AsyncExitStack() as stack:

        async def start(
            name: str, create_app: Callable[[Settings], FastAPI], **overrides
        ) -> RunningService:
            settings = settings_factory(nats_url=nats_server.url, **overrides)
            await upgrade_async(name, settings.database_url_for(name), settings.schema_for(name))
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            async with asyncio.timeout(20):
                await app.state.runtime.broker_ready.wait()
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
            )
            return RunningService(name, app, client, settings)

        yield start
