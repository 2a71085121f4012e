"""The exchange's unit of work: `runtime.unit_of_work()`, queued in-process on SQLite.

On SQLite every transaction takes the database write lock up front (BEGIN IMMEDIATE) and
a writer that finds it taken sleeps in SQLite's busy handler, with growing back-off: under
50 concurrent requests that sleep, not the work, dominated the p99. Queuing this
process's writers on an asyncio.Lock first lets each one start as soon as the previous
one commits. The database still serialises everything (other processes, the outbox
relay); this only removes the polling. PostgreSQL is untouched: its row locks and the
exclusion constraint do the work there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from weakref import WeakKeyDictionary

from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.runtime import ServiceRuntime

_writers: WeakKeyDictionary[ServiceRuntime, asyncio.Lock] = WeakKeyDictionary()


@asynccontextmanager
async def unit_of_work(runtime: ServiceRuntime) -> AsyncIterator[AsyncSession]:
    if not runtime.db.is_sqlite:
        async with runtime.unit_of_work() as session:
            yield session
        return
    lock = _writers.setdefault(runtime, asyncio.Lock())
    async with lock, runtime.unit_of_work() as session:
        yield session
