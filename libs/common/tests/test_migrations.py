"""Migrations: concurrent runs serialise, every app is migrated, nothing runs ahead of them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.common.migrations import APPS, at_head, script_directory, upgrade_async
from libs.common.settings import REPO_ROOT
from libs.common.testing import postgres_url


def _migrate_command(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sharitories.cli", "migrate"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "LOG_LEVEL": "WARNING", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def _revisions(url: str, schema: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version'))
            return {r[0] for r in rows}
    finally:
        await engine.dispose()


async def test_five_concurrent_migrate_runs_on_postgresql_all_succeed():
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL is not reachable (set TEST_DATABASE_URL or run one on :5432)")
    prefix = f"m{uuid.uuid4().hex[:8]}_"
    env = {"DATABASE_URL": url, "DATABASE_SCHEMA_PREFIX": prefix}
    try:
        runs = [_migrate_command(env) for _ in range(5)]
        outputs = [(run.wait(timeout=300), run.stdout.read()) for run in runs]
        assert [code for code, _ in outputs] == [0] * 5, outputs
        for app in APPS:
            current = await _revisions(url, prefix + app)
            assert at_head(script_directory(app), current), (app, current)
    finally:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            for app in APPS:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{prefix}{app}" CASCADE'))
        await engine.dispose()


def test_migrate_without_arguments_migrates_every_app_portal_included(tmp_path):
    run = _migrate_command({"SHARITORIES_VAR_DIR": str(tmp_path), "DATABASE_URL": ""})
    output = run.communicate(timeout=300)[0]
    assert run.returncode == 0, output
    assert sorted(p.stem for p in tmp_path.glob("*.db")) == sorted(APPS)


def test_migrate_refuses_an_unknown_app(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "sharitories.cli", "migrate", "payroll"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "SHARITORIES_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    assert "payroll" in run.stderr
    assert not list(tmp_path.glob("*.db"))


def test_a_database_ahead_of_the_code_counts_as_at_head():
    script = script_directory("exchange")
    head = script.get_current_head()
    assert at_head(script, {head})
    assert at_head(script, {"f00dfeed_from_a_newer_release"})
    assert not at_head(script, set())
    first = [r.revision for r in script.walk_revisions()][-1]
    if first != head:
        assert not at_head(script, {first})


async def test_readyz_is_503_until_the_schema_is_at_head(settings_factory, nats_server):
    from services.exchange.app import create_app

    settings = settings_factory(nats_url=nats_server.url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://exchange") as client:
            async with asyncio.timeout(20):
                await app.state.runtime.broker_ready.wait()
            before = await client.get("/readyz")
            assert before.status_code == 503
            assert before.json()["checks"]["schema"] == "not migrated to head"
            await upgrade_async(
                "exchange", settings.database_url_for("exchange"), settings.schema_for("exchange")
            )
            after = await client.get("/readyz")
            assert after.status_code == 200, after.text
