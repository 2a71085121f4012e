"""Report snapshots: a built report or series is kept until the events that change it arrive.

Building a report over a million events takes a few hundred milliseconds (distinct people per
cell, the suppression pass); reading it again should not. A snapshot is the built output with
the projection's version it was built at: the version (db.state, +1 in every transaction that
changes facts or aggregates, with the random token of that database) and the number of
parked events. While both are unchanged the
snapshot IS the report, to the byte; any new event makes every snapshot stale, and the next
request builds it again (then keeps it).

The version is read BEFORE building, in the same read transaction: a snapshot may hold data
newer than its version (an event committed meanwhile), never older, so it is never served
stale. Snapshots live in the process (a bounded LRU): nothing to migrate, nothing to purge,
a restarted process starts cold.

A hit is checked with `current` in a light read of its own (`Database.probe`), before the
offloaded read a build needs. Measured on a loaded 2-core machine (issue 18): an offloaded
SQLite read hops to aiosqlite's thread for every statement and each hop may wait
milliseconds for a core; a PostgreSQL transaction costs two more round trips (BEGIN,
COMMIT) than its one statement. Those waits, not the snapshot, were a warm call's tail.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.impact import db

T = TypeVar("T")
ENABLED = True  # the bench switches it off to time the builds themselves
CAPACITY = 128  # reports and series kept (a year report is ~100 kB, kept as data and bytes)

_kept: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()


async def version(session: AsyncSession) -> Hashable | None:
    """The projection's version as seen by `session`; None when it is not tracked."""
    st = db.state
    row = (
        await session.execute(
            select(
                st.c.token,
                st.c.version,
                select(func.count()).select_from(db.parked_events).scalar_subquery(),
            ).where(st.c.key == db.PROJECTION_VERSION)
        )
    ).one_or_none()
    return None if row is None else tuple(row)


async def current(session: AsyncSession, key: Hashable) -> Any | None:
    """The snapshot of `key` if it is still current as seen by `session`, else None."""
    if not ENABLED or key not in _kept:  # nothing kept: no need to read the version
        return None
    now = await version(session)
    known = _kept.get(key)  # after the read: another request may have replaced it meanwhile
    if now is None or known is None or known[0] != now:
        return None
    _kept.move_to_end(key)
    return known[1]


async def kept(session: AsyncSession, key: Hashable, build: Callable[[], Awaitable[T]]) -> T:
    """The snapshot of `key` if it is current, else `build()` (kept for the next reader).

    What `build` returns is shared by every later reader: treat it as read-only."""
    if not ENABLED:
        return await build()
    current = await version(session)
    if current is None:
        return await build()
    known = _kept.get(key)
    if known is not None and known[0] == current:
        _kept.move_to_end(key)
        return known[1]
    value = await build()
    _kept[key] = (current, value)
    _kept.move_to_end(key)
    while len(_kept) > CAPACITY:
        _kept.popitem(last=False)
    return value


def forget() -> None:
    """Drop every snapshot (tests that change the projection behind the version's back)."""
    _kept.clear()
