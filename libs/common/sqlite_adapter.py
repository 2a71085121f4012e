"""How SQLAlchemy's aiosqlite adapter talks to SQLite here: inline inside transactions.

aiosqlite runs every call on its own thread, and SQLAlchemy's adapter makes four calls
per statement (open a cursor, execute, fetch, close). A thread hop is cheap when the
event loop is idle, but under load the thread waits for the GIL, which the busy loop
hands over only every switch interval (5 ms). On the single-writer path every hop is
spent holding the write lock, so those waits, not SQLite, bounded our throughput.

So a transaction's statements, commit and rollback run inline on the event loop: SQLite
answers them in microseconds from its page cache, and in WAL mode nothing inside a
transaction waits for another connection (readers never wait; the writer holds the lock).
BEGIN IMMEDIATE itself is tried inline without waiting; only when another process (a
CLI, a second replica) holds the lock does it wait on aiosqlite's thread, under the busy
timeout. A read that may scan a lot (a report) asks to be offloaded
(`Database.read(offload=True)`) and stays on aiosqlite's thread, one hop per statement,
so the event loop keeps serving meanwhile. Statements outside a transaction (the
connect-time PRAGMAs) also use the thread.

It relies on aiosqlite's `Connection._execute(fn)` and `_conn` (stable from 0.17 to 0.22)
and on SQLAlchemy's adapter classes; the test suite runs every service on it.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

from sqlalchemy.dialects.sqlite import aiosqlite as sa_aiosqlite
from sqlalchemy.util import EMPTY_DICT

BEGIN_WRITE = "BEGIN IMMEDIATE"
BEGIN_READ = "BEGIN"
BUSY_TIMEOUT_MS = 30_000


def _run(conn: sqlite3.Connection, operation: str, parameters, many: bool):
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _try_begin_write(conn: sqlite3.Connection) -> bool:
    """BEGIN IMMEDIATE without waiting; False if another connection holds the lock."""
    conn.execute("PRAGMA busy_timeout=0")
    try:
        conn.execute(BEGIN_WRITE)
        return True
    except sqlite3.OperationalError as error:
        if "locked" not in str(error) and "busy" not in str(error):
            raise
        return False
    finally:
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


# Per-connection flags live on the aiosqlite Connection: SQLAlchemy's adapter has slots.
def _inline(adapt_connection) -> bool:
    return getattr(adapt_connection._connection, "sharitories_inline", False)


def _set_inline(adapt_connection, value: bool) -> None:
    adapt_connection._connection.sharitories_inline = value


def next_begin_reads(adapt_connection, *, read: bool = True, offload: bool = False) -> None:
    """Whether the next transaction on this connection only reads (BEGIN, no write lock),
    and whether such a read runs on aiosqlite's thread. Any other begins BEGIN IMMEDIATE."""
    adapt_connection._connection.sharitories_read = read
    adapt_connection._connection.sharitories_offload = offload


def begin(dialect, dbapi_connection) -> None:
    """The dialect's do_begin: BEGIN IMMEDIATE (writes serialised by SQLite), or BEGIN for a
    connection marked by `next_begin_reads`; the mark lasts one transaction. Straight to the
    driver's cursor: an execution context for this one fixed statement costs more than it."""
    if not getattr(dialect, "sharitories_serialised", False):
        _default_begin(dialect, dbapi_connection)
        return
    adapt_connection = dbapi_connection.dbapi_connection  # the pool's proxy hands us
    conn = adapt_connection._connection
    read = getattr(conn, "sharitories_read", False)
    conn.sharitories_read = False
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(BEGIN_READ if read else BEGIN_WRITE)
    finally:
        cursor.close()


def serialise_writes(dialect) -> None:
    """Make this engine's dialect (not every aiosqlite engine: Alembic's keeps its own
    transaction handling) begin transactions as `begin` says."""
    dialect.sharitories_serialised = True


class InlineWriteCursor(sa_aiosqlite.AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # no aiosqlite cursor: a statement runs whole, in one call
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description = None
        self._rowcount = -1
        self._lastrowid = None

    @property
    def description(self):
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self):
        return self._lastrowid

    async def _async_soft_close(self) -> None:
        return None

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        adapt = self._adapt_connection
        conn = self._connection
        if _inline(adapt):
            result = _run(conn._conn, operation, parameters, many)
        elif operation == BEGIN_WRITE and not many:
            async with adapt._execute_mutex:
                if not _try_begin_write(conn._conn):
                    await conn._execute(_run, conn._conn, operation, None, False)
            _set_inline(adapt, True)
            result = (None, [], -1, None)
        elif operation == BEGIN_READ and not getattr(conn, "sharitories_offload", False):
            result = _run(conn._conn, operation, None, False)
            _set_inline(adapt, True)
        else:
            async with adapt._execute_mutex:
                result = await conn._execute(_run, conn._conn, operation, parameters, many)
        self._description, rows, self._rowcount, self._lastrowid = result
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._run(operation, seq_of_parameters, many=True)


def _open_transaction(adapt_connection) -> bool:
    conn = adapt_connection._connection._connection  # None once closed
    return conn is not None and conn.in_transaction


class InlineWriteConnection(sa_aiosqlite.AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = InlineWriteCursor

    def commit(self) -> None:
        if _inline(self):
            _set_inline(self, False)
            try:
                self._connection._conn.commit()
            except Exception as error:
                self._handle_exception(error)
            return
        if _open_transaction(self):
            super().commit()

    def rollback(self) -> None:
        if _inline(self):
            _set_inline(self, False)
            try:
                self._connection._conn.rollback()
            except Exception as error:
                self._handle_exception(error)
            return
        # The pool resets every returned connection with a rollback; with no transaction
        # open that is a no-op, not worth a thread hop (often taken under the write lock).
        if _open_transaction(self):
            super().rollback()


_default_begin = sa_aiosqlite.SQLiteDialect_aiosqlite.do_begin


def install() -> None:
    """Make SQLAlchemy's aiosqlite dialect use these classes (idempotent).

    Connections must be opened with check_same_thread=False: aiosqlite's thread opens
    them and the event loop's thread writes through them, never both at once.
    """
    sa_aiosqlite.AsyncAdapt_aiosqlite_connection = InlineWriteConnection
    sa_aiosqlite.SQLiteDialect_aiosqlite.do_begin = begin
