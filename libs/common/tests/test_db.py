"""The database layer: SQLite serialises writers; migrations run on both backends."""

import asyncio

from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, inspect, select

from libs.common.db import Database
from libs.common.migrations import upgrade_async

md = MetaData()
seats = Table("seats", md, Column("id", Integer, primary_key=True), Column("who", String(20)))


async def test_sqlite_check_then_write_is_serialised(tmp_path):
    """Every SQLite transaction takes the write lock at BEGIN, so a read-then-write is atomic."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(md.create_all)

    async def take_last_seat(who: str) -> bool:
        async with db.transaction() as session:
            taken = await session.scalar(select(func.count()).select_from(seats))
            await asyncio.sleep(0.01)  # widen the race window
            if taken:
                return False
            await session.execute(insert(seats).values(who=who))
            return True

    results = await asyncio.gather(*(take_last_seat(f"r{i}") for i in range(20)))
    assert results.count(True) == 1
    async with db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(seats)) == 1
    await db.dispose()


async def test_service_migrations_create_outbox_and_inbox(settings_factory):
    settings = settings_factory()
    for service in ("exchange", "crowdfunding", "budget", "impact"):
        url, schema = settings.database_url_for(service), settings.schema_for(service)
        await upgrade_async(service, url, schema)
        await upgrade_async(service, url, schema)  # a second run is a no-op
        db = Database(url, schema=schema)
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert {"outbox", "inbox", "alembic_version"} <= set(tables), service
        await db.dispose()


async def test_sqlite_reads_do_not_wait_for_the_writer(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(md.create_all)
    async with db.transaction() as writer:
        await writer.execute(insert(seats).values(who="w"))
        # The writer holds the write lock; a snapshot read still answers, without the row.
        async with asyncio.timeout(2), db.read() as reader:
            assert await reader.scalar(select(func.count()).select_from(seats)) == 0
    async with db.read() as reader:
        assert await reader.scalar(select(func.count()).select_from(seats)) == 1
    await db.dispose()
