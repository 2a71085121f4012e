"""Idempotent inbox: a consumer remembers every event it has applied.

`first_delivery` inserts (consumer, event_id) in the consumer's own transaction, next to
its projection update. A redelivered or re-published event finds the row and is skipped,
so it changes nothing, whatever JetStream's duplicate window did.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.db import insert_ignoring_duplicates, insert_many
from libs.common.messaging import inbox


async def first_delivery(session: AsyncSession, consumer: str, event_id: str) -> bool:
    """True the first time `consumer` sees `event_id`, False ever after."""
    statement = insert_ignoring_duplicates(session, inbox, "consumer", "event_id").values(
        consumer=consumer, event_id=event_id, processed_at=datetime.now(UTC)
    )
    result = await session.execute(statement)
    return result.rowcount == 1


async def first_deliveries(session: AsyncSession, consumer: str, event_ids: list[str]) -> set[str]:
    """The ids among `event_ids` that `consumer` sees for the first time, now recorded.

    Two statements whatever the batch size: a cached SELECT, and one driver-level
    executemany of the new rows (a multi-row VALUES would be compiled anew for every batch,
    an ORM executemany builds a parameter dict per row). A concurrent twin inserting the
    same id makes the INSERT fail: the caller then falls back to `first_delivery`, one
    event at a time.
    """
    unique = list(dict.fromkeys(event_ids))
    if not unique:
        return set()
    seen = set(
        (
            await session.scalars(
                select(inbox.c.event_id).where(
                    inbox.c.consumer == consumer, inbox.c.event_id.in_(unique)
                )
            )
        ).all()
    )
    fresh = [i for i in unique if i not in seen]
    if fresh:
        now = datetime.now(UTC)
        rows = [(consumer, i, now) for i in fresh]
        await session.run_sync(lambda s: insert_many(s.connection(), inbox, _COLUMNS, rows))
    return set(fresh)


_COLUMNS = ("consumer", "event_id", "processed_at")
