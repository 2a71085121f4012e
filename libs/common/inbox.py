"""Idempotent inbox: a consumer remembers every event it has applied.

`first_delivery` inserts (consumer, event_id) in the consumer's own transaction, next to
its projection update. A redelivered or re-published event finds the row and is skipped,
so it changes nothing, whatever JetStream's duplicate window did.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.messaging import inbox


async def first_delivery(session: AsyncSession, consumer: str, event_id: str) -> bool:
    """True the first time `consumer` sees `event_id`, False ever after."""
    dialect = session.bind.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(inbox)
        .values(consumer=consumer, event_id=event_id, processed_at=datetime.now(UTC))
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
    )
    result = await session.execute(statement)
    return result.rowcount == 1


async def first_deliveries(session: AsyncSession, consumer: str, event_ids: list[str]) -> set[str]:
    """The ids among `event_ids` that `consumer` sees for the first time (one statement)."""
    unique = list(dict.fromkeys(event_ids))
    if not unique:
        return set()
    dialect = session.bind.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = datetime.now(UTC)
    statement = (
        insert(inbox)
        .values([{"consumer": consumer, "event_id": i, "processed_at": now} for i in unique])
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(inbox.c.event_id)
    )
    return set((await session.scalars(statement)).all())
