"""Server-side sessions: the cookie carries a random token, the database what it opens.

Logging out deletes the row, so a copied cookie is worthless afterwards; changing the
password deletes every row of the account. A session ends after PORTAL_SESSION_IDLE_MINUTES
without a request, and PORTAL_SESSION_HOURS after the log-in whatever happens.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.portal.db import sessions

# last_seen is written at most this often: a page load must not cost a write each time.
TOUCH_EVERY = timedelta(seconds=60)


def now() -> datetime:
    """The current instant (UTC). Tests move time by replacing this function."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Lifetime:
    idle: timedelta
    absolute: timedelta

    def alive(self, *, created_at: datetime, last_seen: datetime, at: datetime) -> bool:
        return at - last_seen < self.idle and at - created_at < self.absolute


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone


async def open_session(db: AsyncSession, *, account_id: str) -> str:
    """A new session for the account; returns the token to put in the cookie."""
    token = secrets.token_urlsafe(32)
    at = now()
    await db.execute(
        sessions.insert().values(
            token_hash=_hash(token), account_id=account_id, created_at=at, last_seen=at
        )
    )
    return token


async def resume(db: AsyncSession, *, token: str, lifetime: Lifetime) -> str | None:
    """The account a live session belongs to (its last_seen moved on), else None.

    An expired session is deleted on the way."""
    row = (await db.execute(select(sessions).where(sessions.c.token_hash == _hash(token)))).first()
    if row is None:
        return None
    at = now()
    created_at, last_seen = _aware(row.created_at), _aware(row.last_seen)
    if not lifetime.alive(created_at=created_at, last_seen=last_seen, at=at):
        await db.execute(delete(sessions).where(sessions.c.token_hash == row.token_hash))
        return None
    if at - last_seen >= TOUCH_EVERY:
        await db.execute(
            update(sessions).where(sessions.c.token_hash == row.token_hash).values(last_seen=at)
        )
    return row.account_id


async def revoke(db: AsyncSession, *, token: str) -> None:
    await db.execute(delete(sessions).where(sessions.c.token_hash == _hash(token)))


async def revoke_all(db: AsyncSession, *, account_id: str) -> int:
    """End every session of the account (password changed); returns how many."""
    result = await db.execute(delete(sessions).where(sessions.c.account_id == account_id))
    return result.rowcount or 0


async def forget_expired(db: AsyncSession, *, lifetime: Lifetime) -> None:
    """Delete sessions that can no longer be resumed (kept small, no background job)."""
    at = now()
    await db.execute(
        delete(sessions).where(
            (sessions.c.last_seen <= at - lifetime.idle)
            | (sessions.c.created_at <= at - lifetime.absolute)
        )
    )
