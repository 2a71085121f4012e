"""One thread hop per SQLite statement instead of four.

aiosqlite runs every call in its own thread, and SQLAlchemy's adapter makes four calls
per statement (open a cursor, execute, fetch, close). Each hop waits for the event loop
to come round again, and on the single-writer SQLite path those waits add up to most of
a request's time. This cursor runs the whole statement in one call on aiosqlite's thread
and keeps the rows, as the adapter does for non-streaming results.

It relies on aiosqlite's `Connection._execute(fn)` (stable from 0.17 to 0.22); the test
suite runs every service on it.
"""

from __future__ import annotations

import collections
from typing import Any

from sqlalchemy.dialects.sqlite import aiosqlite as sa_aiosqlite
from sqlalchemy.util import EMPTY_DICT


def _run(conn, operation: str, parameters, many: bool):
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


class OneHopCursor(sa_aiosqlite.AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # no aiosqlite cursor: statements run whole on its thread
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

    async def _hop(self, operation: Any, parameters: Any, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            conn = self._connection
            result = await conn._execute(_run, conn._conn, operation, parameters, many)
        self._description, rows, self._rowcount, self._lastrowid = result
        self._rows = collections.deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._hop(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._hop(operation, seq_of_parameters, many=True)


def install() -> None:
    """Make SQLAlchemy's aiosqlite connections use the one-hop cursor (idempotent)."""
    sa_aiosqlite.AsyncAdapt_aiosqlite_connection._cursor_cls = OneHopCursor
