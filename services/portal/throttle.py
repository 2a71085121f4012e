"""Log-in throttling, per account and per client address, shared by every replica (DB).

The first failures are free (typos happen); after that each failure makes the next attempt
wait twice as long: 1 s, 2 s, 4 s… up to 15 minutes. While a key waits, attempts are
answered 429 with `Retry-After` and the password is not even checked, so guessing gets
nowhere. A success forgets the account's failures. The address's failures are not
forgotten on success (an attacker would log in to their own account between guesses);
they, like the account's, are forgotten an hour after the last failure.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.db import insert_ignoring_duplicates
from services.portal.accounts import normalise_email
from services.portal.db import login_failures

ACCOUNT_FREE = 5  # failures before an account's log-ins start to wait
ADDRESS_FREE = 20  # an address may be a library's or the town hall's, shared by many
LONGEST_WAIT = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)


def now() -> datetime:
    """The current instant (UTC). Tests move time by replacing this function."""
    return datetime.now(UTC)


def wait_after(failures: int, *, free: int) -> timedelta:
    """How long the next attempt waits after `failures` failures in a row."""
    if failures < free:
        return timedelta(0)
    exponent = failures - free
    if exponent >= 20:  # 2**20 s is far past the cap; keeps the arithmetic small
        return LONGEST_WAIT
    return min(timedelta(seconds=2**exponent), LONGEST_WAIT)


def account_key(email: str) -> str:
    # Whether or not an account has this e-mail: the answer must not tell.
    return f"account:{normalise_email(email)[:320]}"


def address_key(address: str | None) -> str:
    return f"address:{address or 'unknown'}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone


async def retry_after(db: AsyncSession, *, keys: list[str]) -> int:
    """Seconds to wait before the next attempt may be checked (0: go ahead)."""
    rows = await db.execute(
        select(login_failures.c.blocked_until).where(login_failures.c.key.in_(keys))
    )
    at = now()
    waits = [(_aware(until) - at).total_seconds() for (until,) in rows if until is not None]
    longest = max(waits, default=0.0)
    return math.ceil(longest) if longest > 0 else 0


async def record_failure(db: AsyncSession, *, key: str, free: int) -> int:
    """Count a failure for `key` (atomically, whatever the replica); returns the count."""
    at = now()
    # Keys nobody failed on for an hour are dropped: sprayed e-mails do not pile up.
    await db.execute(
        delete(login_failures).where(login_failures.c.last_failure_at < at - FORGET_AFTER)
    )
    await db.execute(
        insert_ignoring_duplicates(db, login_failures, "key").values(
            key=key, failures=0, last_failure_at=at, blocked_until=None
        )
    )
    await db.execute(
        update(login_failures)
        .where(login_failures.c.key == key)
        .values(
            failures=case(
                (login_failures.c.last_failure_at < at - FORGET_AFTER, 1),
                else_=login_failures.c.failures + 1,
            ),
            last_failure_at=at,
        )
    )
    failures = (
        await db.execute(select(login_failures.c.failures).where(login_failures.c.key == key))
    ).scalar_one()
    wait = wait_after(failures, free=free)
    await db.execute(
        update(login_failures)
        .where(login_failures.c.key == key)
        .values(blocked_until=at + wait if wait else None)
    )
    return failures


async def forget(db: AsyncSession, *, key: str) -> None:
    await db.execute(delete(login_failures).where(login_failures.c.key == key))


async def take_turn(db: AsyncSession, *, key: str, limit: int, window: timedelta) -> int:
    """Count one action for `key` (at most `limit` per `window`, shared by replicas):
    0 when counted, else the seconds until the window ends (nothing counted).

    Same table as the log-in failures (a key per account, "comment:<id>"); `failures` is
    the count in the window and `last_failure_at` when the window started. Windows longer
    than FORGET_AFTER would be cut short by record_failure's clean-up."""
    at = now()
    fresh = login_failures.c.last_failure_at <= at - window
    await db.execute(
        insert_ignoring_duplicates(db, login_failures, "key").values(
            key=key, failures=0, last_failure_at=at, blocked_until=None
        )
    )
    counted = await db.execute(
        update(login_failures)
        .where(login_failures.c.key == key)
        .where(fresh | (login_failures.c.failures < limit))
        .values(
            failures=case((fresh, 1), else_=login_failures.c.failures + 1),
            last_failure_at=case((fresh, at), else_=login_failures.c.last_failure_at),
        )
    )
    if counted.rowcount:
        return 0
    started = (
        await db.execute(
            select(login_failures.c.last_failure_at).where(login_failures.c.key == key)
        )
    ).scalar_one()
    return max(1, math.ceil((_aware(started) + window - at).total_seconds()))
