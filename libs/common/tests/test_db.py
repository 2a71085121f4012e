"""The database layer: SQLite serialises writers; migrations run on both backends."""

import asyncio
import sqlite3

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


async def test_sqlite_read_mark_lasts_one_transaction(tmp_path):
    """A read begins without the write lock, and only that read: a write on the pooled
    connection after it, even after a read that ran no statement, locks at BEGIN."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(md.create_all)

    def another_writer_gets_in() -> bool:
        other = sqlite3.connect(tmp_path / "m.db", timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            other.close()

    async with db.read():
        pass  # no statement: no transaction began, the mark must not linger
    for _ in range(3):
        async with db.read() as reader:
            await reader.scalar(select(func.count()).select_from(seats))
            assert another_writer_gets_in()  # a read holds no write lock
        async with db.transaction() as writer:
            await writer.execute(select(1))
            assert not another_writer_gets_in()  # BEGIN IMMEDIATE: the lock is ours
    await db.dispose()


async def test_sqlite_writer_waits_for_another_process_without_stalling_the_loop(tmp_path):
    """A CLI or second replica holding the write lock: our BEGIN waits off the event loop."""
    import sqlite3

    path = tmp_path / "p.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    async with db.engine.begin() as conn:
        await conn.run_sync(md.create_all)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO seats (who) VALUES ('cli')")

    async def write() -> None:
        async with db.transaction() as session:
            await session.execute(insert(seats).values(who="service"))

    writing = asyncio.create_task(write())
    ticks = 0
    for _ in range(20):  # the loop keeps running while the writer waits for the lock
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 20 and not writing.done()
    other.execute("COMMIT")
    other.close()
    async with asyncio.timeout(5):
        await writing
    async with db.read() as reader:
        rows = (await reader.execute(select(seats.c.who).order_by(seats.c.id))).scalars().all()
    assert rows == ["cli", "service"]
    await db.dispose()


async def test_sqlite_failed_transaction_leaves_nothing_and_the_connection_works(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'f.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(md.create_all)
    for _ in range(3):  # the same pooled connection, again and again
        try:
            async with db.transaction() as session:
                await session.execute(insert(seats).values(id=1, who="a"))
                await session.execute(insert(seats).values(id=1, who="b"))  # duplicate key
        except Exception as exc:
            assert "UNIQUE" in str(exc)
        else:
            raise AssertionError("the duplicate key was accepted")
    async with db.transaction() as session:
        await session.execute(insert(seats).values(id=2, who="c"))
    for offload in (False, True):  # an offloaded snapshot sees the same data
        async with db.read(offload=offload) as reader:
            assert (await reader.execute(select(seats.c.who))).scalars().all() == ["c"]
    await db.dispose()
