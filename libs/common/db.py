"""Async database access (SQLAlchemy 2): SQLite by default, PostgreSQL in production.

On PostgreSQL each service lives in its own schema of the configured database, so one
server hosts the whole platform and a service never sees another's tables. On SQLite
every write transaction starts with BEGIN IMMEDIATE: writers are serialised by the
database itself, which is what our check-and-write rules rely on there.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from sqlalchemy import Date, Table, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from libs.common import sqlite_adapter


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def insert_ignoring_duplicates(session: AsyncSession, table: Table, *conflict_columns: str):
    """INSERT … ON CONFLICT DO NOTHING in the session's dialect (built once per table)."""
    return _insert_ignoring(session.bind.dialect.name, table, conflict_columns)


@functools.cache
def _insert_ignoring(dialect: str, table: Table, conflict_columns: tuple[str, ...]):
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns) or None)


def insert_many(
    conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple], tail: str = ""
) -> None:
    """INSERT `rows` (tuples in `columns` order) with ONE driver-level executemany.

    For the consumers' batches: no per-row SQL compilation nor parameter dicts. Values
    still pass the dialect's bind processors (dates become text on SQLite), converted
    column by column. `tail` follows the VALUES (an ON CONFLICT clause).
    """
    if not rows:
        return
    processors = _bind_processors(conn, table, columns)
    if any(processors):
        by_column: list = list(zip(*rows, strict=True))
        for i, process in enumerate(processors):
            if process is not None:
                by_column[i] = map(process, by_column[i])
        rows = list(zip(*by_column, strict=True))
    names = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({_placeholders(conn, len(columns))}){tail}'
    conn.exec_driver_sql(sql, rows)


def _placeholders(conn: Connection, count: int) -> str:
    if conn.dialect.paramstyle == "qmark":
        return ", ".join("?" * count)
    if conn.dialect.paramstyle == "numeric_dollar":
        return ", ".join(f"${i}" for i in range(1, count + 1))
    if conn.dialect.paramstyle == "format":
        return ", ".join(["%s"] * count)
    raise NotImplementedError(conn.dialect.paramstyle)


def _bind_processors(conn: Connection, table: Table, columns: Sequence[str]) -> list:
    """The dialect's bind processors of `columns` (None where a value goes as it is)."""
    dialect = conn.dialect
    out = []
    for c in columns:
        column_type = table.c[c].type
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        # A batch holds few distinct days: convert each once. Not datetimes: two aware
        # ones at the same instant are equal but may be written with different offsets.
        if process is not None and isinstance(column_type, Date):
            process = _memo(process)
        out.append(process)
    return out


def _memo(process):
    seen: dict = {}

    def convert(value):
        try:
            return seen[value]
        except KeyError:
            seen[value] = out = process(value)
            return out

    return convert


def create_engine(url: str, *, schema: str | None = None, pool_size: int = 10) -> AsyncEngine:
    """An engine for `url`; on PostgreSQL, `schema` becomes the search path."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            from pathlib import Path

            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _serialise_sqlite_writes(engine)
        return engine
    connect_args = {}
    if schema:
        # public stays on the path for extensions installed there (btree_gist).
        connect_args["server_settings"] = {"search_path": f'"{schema}", public'}
    return create_async_engine(
        url,
        connect_args=connect_args,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_pre_ping=True,
    )


def _serialise_sqlite_writes(engine: AsyncEngine) -> None:
    sqlite_adapter.install()
    # pysqlite's own transaction handling would issue a deferred BEGIN; take it over so
    # that every transaction takes the write lock up front (SQLAlchemy's documented recipe,
    # with BEGIN emitted by the dialect: see sqlite_adapter.begin).
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL never corrupts the database; a power cut may lose the last
        # commits, which is the embedded default's trade-off (production runs PostgreSQL).
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={sqlite_adapter.BUSY_TIMEOUT_MS}")
        cursor.close()

    # BEGIN comes from the dialect (sqlite_adapter.begin), not from a "begin" event: any
    # connection event listener makes SQLAlchemy dispatch events around every statement,
    # a measurable share of a small write request.
    sqlite_adapter.serialise_writes(sync_engine.dialect)


class Database:
    """One service's database: an engine, a session factory and its schema."""

    def __init__(self, url: str, *, schema: str | None = None, pool_size: int = 10) -> None:
        self.url = url
        self.schema = None if is_sqlite(url) else schema
        self.engine = create_engine(url, schema=self.schema, pool_size=pool_size)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Queue this process's transactions on an asyncio
        # lock, woken in order on release, rather than on SQLite's busy handler, which
        # sleeps with back-off and starves throughput under contention. Other processes
        # (a CLI, a second replica) still meet the busy timeout.
        self._sqlite_writer = asyncio.Lock() if is_sqlite(url) else None

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        if self._sqlite_writer is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with self._sqlite_writer, self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self, *, offload: bool = False) -> AsyncIterator[AsyncSession]:
        """A read-only snapshot: on SQLite it neither waits for nor blocks the writer.

        Anything decided from it must be re-checked (or guarded by a constraint) in the
        write transaction that acts on it. `offload=True` for a read that may scan a lot
        (a report): on SQLite it then runs off the event loop, which keeps serving.
        """
        if self._sqlite_writer is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            sqlite_adapter.next_begin_reads(raw.dbapi_connection, offload=offload)
            try:
                async with (
                    AsyncSession(bind=connection, expire_on_commit=False) as session,
                    session.begin(),
                ):
                    yield session
            finally:
                # Unused (no statement ran) the mark would make the connection's next
                # transaction, perhaps a write, begin without the write lock.
                if raw.dbapi_connection is not None:
                    sqlite_adapter.next_begin_reads(raw.dbapi_connection, read=False)

    @asynccontextmanager
    async def probe(self) -> AsyncIterator[AsyncSession]:
        """A session for a few index probes (a cache check): on SQLite a read on the event
        loop (no thread hop); on PostgreSQL autocommit, each statement its own snapshot (no
        BEGIN, no COMMIT). Not for reads that must agree with each other: use `read`."""
        if self._sqlite_writer is not None:
            async with self.read() as session:
                yield session
            return
        async with self.engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            async with AsyncSession(autocommit) as session:
                yield session

    async def ping(self, timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout), self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
