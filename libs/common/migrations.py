"""Alembic migrations, one history per service, run programmatically.

Each service has `services/<name>/migrations/` whose `env.py` calls `run_env(metadata)`.
On PostgreSQL the service's schema is created first and holds its `alembic_version`.

Concurrent runs (two `sharitories migrate`, or an init container per pod) serialise on
one PostgreSQL advisory lock taken before anything else: the second waits, then finds
the schema at head and does nothing. A service is ready (`/readyz`, consumers) only once
its schema is at the head its code knows, or ahead of it (a newer release migrated first).
"""

from __future__ import annotations

import asyncio

from alembic import command, context
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import create_async_engine

from libs.common.db import is_sqlite
from libs.common.settings import REPO_ROOT, Settings

# Key of the advisory lock every migration run takes (any constant shared by all runs).
MIGRATION_LOCK_KEY = 0x5348_4152_4954  # "SHARIT"
APPS: tuple[str, ...] = ("portal", "exchange", "crowdfunding", "budget", "impact")


def migrations_dir(app: str):
    return REPO_ROOT / "services" / app / "migrations"


def script_directory(app: str) -> ScriptDirectory | None:
    location = migrations_dir(app)
    return ScriptDirectory(str(location)) if location.is_dir() else None


def at_head(script: ScriptDirectory, current: set[str]) -> bool:
    """True if `current` (the database's revisions) is at or beyond the code's heads."""
    if not current:
        return False
    for revision in current:
        try:
            script.get_revision(revision)
        except CommandError:
            return True  # a revision this code does not know: a newer release migrated
    return set(script.get_heads()) <= current


async def current_revisions(connection) -> set[str]:
    """The revisions recorded in the connection's schema (raises if there is no table)."""
    rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
    return {row[0] for row in rows}


def alembic_config(service: str, url: str, schema: str | None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(REPO_ROOT / "services" / service / "migrations"))
    config.attributes["url"] = url
    config.attributes["schema"] = None if is_sqlite(url) else schema
    return config


def upgrade(service: str, url: str, schema: str | None = None, revision: str = "head") -> None:
    """Bring a service's database to `revision` (blocking; runs its own event loop)."""
    if is_sqlite(url):
        from pathlib import Path

        from sqlalchemy.engine import make_url

        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(service, url, schema or service), revision)


async def upgrade_async(service: str, url: str, schema: str | None = None) -> None:
    await asyncio.to_thread(upgrade, service, url, schema)


def migrate_all(settings: Settings, services: tuple[str, ...] = APPS) -> None:
    for service in services:
        upgrade(service, settings.database_url_for(service), settings.schema_for(service))


def run_env(target_metadata) -> None:
    """The body of every service's migrations/env.py (online mode, async engine)."""
    config = context.config
    url = config.attributes["url"]
    schema = config.attributes.get("schema")

    def do_migrations(connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            render_as_batch=is_sqlite(url),
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            if not is_sqlite(url):
                # Session-level lock: held across the commits below, released on close.
                await connection.execute(
                    text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                await connection.commit()
            try:
                if schema:
                    await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                    await connection.execute(text(f'SET search_path TO "{schema}", public'))
                    await connection.commit()
                await connection.run_sync(do_migrations)
                await connection.commit()
            finally:
                if not is_sqlite(url):
                    await connection.rollback()
                    await connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                    await connection.commit()
        await engine.dispose()

    asyncio.run(run())
