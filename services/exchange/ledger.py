"""The time-credit ledger in the database: double entry, idempotent, limits under locks.

A transfer locks both accounts in a fixed order (account id; SELECT ... FOR UPDATE on
PostgreSQL, the BEGIN IMMEDIATE write lock on SQLite), then looks up its idempotency key,
checks the limits with domain.check_transfer and writes one transfer row, two entries and
both balances. The accounts table's CHECK constraints are a last guard on the limits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.clock import clock
from libs.common.contracts.exchange import CreditsTransferred
from libs.common.events import make_event
from libs.common.ids import new_id
from libs.common.outbox import record
from libs.common.problems import Conflict, Forbidden, NotFound
from libs.common.runtime import ServiceRuntime
from services.exchange.db import accounts, entries, members, transfers
from services.exchange.domain import LedgerRuleBroken, Limits, check_limits, check_transfer
from services.exchange.members import get_member, member_for

T = TypeVar("T")


def request_hash(**body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def retrying_idempotency_race(
    runtime: ServiceRuntime, work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    """Run `work` in a unit of work; if a concurrent twin with the same idempotency key
    committed first (unique violation), run it once more: it then finds the twin."""
    try:
        async with runtime.unit_of_work() as session:
            return await work(session)
    except IntegrityError:
        async with runtime.unit_of_work() as session:
            return await work(session)


async def lock_accounts(session: AsyncSession, account_ids: list[str]) -> dict[str, Any]:
    """Lock the accounts in id order (deadlock-free) and return them by id."""
    rows = await session.execute(
        select(accounts)
        .where(accounts.c.id.in_(account_ids))
        .order_by(accounts.c.id)
        .with_for_update()
    )
    found = {r.id: r for r in rows}
    for account_id in account_ids:
        if account_id not in found:
            raise NotFound(f"No time account for member {account_id}.", code="credits.no_account")
    return found


async def get_transfer(session: AsyncSession, transfer_id: str) -> dict[str, Any]:
    row = (await session.execute(select(transfers).where(transfers.c.id == transfer_id))).first()
    if row is None:
        raise NotFound(f"No transfer {transfer_id}.", code="credits.transfer_not_found")
    return row._asdict()


async def transfer_for(
    *, session: AsyncSession, principal: Principal, transfer_id: str
) -> dict[str, Any]:
    """A transfer, shown only to its parties (payer, payee, initiator) and staff."""
    found = await get_transfer(session, transfer_id)
    parties = {found["from_account"], found["to_account"], found["initiator_id"]}
    if principal.sub not in parties and not principal.is_staff:
        raise Forbidden(
            "Only the parties and staff may see this transfer.", code="credits.not_your_transfer"
        )
    return found


async def transfer(
    session: AsyncSession,
    *,
    runtime: ServiceRuntime,
    initiator_id: str,
    idempotency_key: str,
    from_account: str,
    to_account: str,
    minutes: int,
    reason: str,
    memo: str = "",
    reverses: str | None = None,
    service_id: str | None = None,
    entered_by: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Move minutes between two accounts; returns (transfer, created).

    The same idempotency key with the same body returns the first transfer (created is
    False); with a different body it is a 409.
    """
    fingerprint = request_hash(
        from_account=from_account,
        to_account=to_account,
        minutes=minutes,
        reason=reason,
        memo=memo,
        reverses=reverses,
        service_id=service_id,
    )
    locked = await lock_accounts(session, sorted({from_account, to_account}))
    existing = (
        await session.execute(
            select(transfers).where(
                transfers.c.initiator_id == initiator_id,
                transfers.c.idempotency_key == idempotency_key,
            )
        )
    ).first()
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise Conflict(
                "This Idempotency-Key was already used for a different transfer; "
                "use a new key for a new transfer.",
                code="credits.key_reused",
            )
        return existing._asdict(), False
    try:
        after_from, after_to = check_transfer(
            minutes=minutes,
            source=from_account,
            target=to_account,
            balances={a: r.balance for a, r in locked.items()},
            limits={a: Limits(r.debit_limit, r.credit_limit) for a, r in locked.items()},
        )
    except LedgerRuleBroken as exc:
        raise Conflict(str(exc), code=exc.code, params=exc.params) from exc
    row = {
        "id": new_id(),
        "initiator_id": initiator_id,
        "idempotency_key": idempotency_key,
        "request_hash": fingerprint,
        "from_account": from_account,
        "to_account": to_account,
        "minutes": minutes,
        "reason": reason,
        "memo": memo,
        "reverses": reverses,
        "service_id": service_id,
        "entered_by": entered_by,
        "created_at": clock.now(),
    }
    await session.execute(insert(transfers).values(**row))
    await session.execute(
        insert(entries),
        [
            {
                "id": new_id(),
                "transfer_id": row["id"],
                "account_id": from_account,
                "minutes": -minutes,
                "balance_after": after_from,
            },
            {
                "id": new_id(),
                "transfer_id": row["id"],
                "account_id": to_account,
                "minutes": minutes,
                "balance_after": after_to,
            },
        ],
    )
    for account_id, balance in ((from_account, after_from), (to_account, after_to)):
        await session.execute(
            update(accounts).where(accounts.c.id == account_id).values(balance=balance)
        )
    hoods = dict(
        (
            await session.execute(
                select(members.c.id, members.c.neighbourhood).where(
                    members.c.id.in_([from_account, to_account])
                )
            )
        ).all()
    )
    await record(
        session,
        make_event(
            CreditsTransferred(
                transfer_id=row["id"],
                minutes=minutes,
                from_account=from_account,
                to_account=to_account,
                from_neighbourhood=hoods.get(from_account),
                to_neighbourhood=hoods.get(to_account),
                reason=reason,
                reverses=reverses,
            ),
            aggregate_id=row["id"],
            territory=runtime.territory(hoods.get(from_account)),
            actor=entered_by or initiator_id,
        ),
    )
    return row, True


async def pay(
    *,
    session: AsyncSession,
    runtime: ServiceRuntime,
    principal: Principal,
    idempotency_key: str,
    to_member: str,
    minutes: int,
    memo: str,
    reason: str,
    on_behalf_of: str | None,
) -> tuple[dict[str, Any], bool]:
    """The caller pays minutes to another member; (transfer, created).

    Staff enter a resident's paper slip with `on_behalf_of` (the payer): its reason is
    "paper" and the transfer records who entered it."""
    if on_behalf_of:
        if not principal.is_staff:
            raise Forbidden(
                "Only staff may enter a transfer on someone's behalf.",
                code="credits.staff_only",
            )
        payer, reason, entered_by = on_behalf_of, "paper", principal.sub
        await get_member(session, payer)
    else:
        payer = (await member_for(session, runtime=runtime, principal=principal))["id"]
        entered_by = None
    await get_member(session, to_member)
    return await transfer(
        session,
        runtime=runtime,
        initiator_id=principal.sub,
        idempotency_key=idempotency_key,
        from_account=payer,
        to_account=to_member,
        minutes=minutes,
        reason=reason,
        memo=memo,
        entered_by=entered_by,
    )


async def reverse(
    session: AsyncSession,
    *,
    runtime: ServiceRuntime,
    staff_id: str,
    transfer_id: str,
    memo: str,
) -> tuple[dict[str, Any], bool]:
    """A correction: a new transfer the other way, naming the one it reverses."""
    original = await get_transfer(session, transfer_id)
    if original["reason"] == "correction":
        raise Conflict(
            "A correction cannot itself be reversed; enter a new transfer.",
            code="credits.reverse_correction",
        )
    already = (
        await session.execute(select(transfers).where(transfers.c.reverses == transfer_id))
    ).first()
    if already is not None and already.initiator_id != staff_id:
        raise Conflict(
            f"Transfer {transfer_id} was already reversed by {already.id}.",
            code="credits.already_reversed",
        )
    return await transfer(
        session,
        runtime=runtime,
        initiator_id=staff_id,
        idempotency_key=f"reverse:{transfer_id}",
        from_account=original["to_account"],
        to_account=original["from_account"],
        minutes=original["minutes"],
        reason="correction",
        memo=memo,
        reverses=transfer_id,
        entered_by=staff_id,
    )


async def account_view(session: AsyncSession, *, account_id: str, limit: int = 50) -> dict:
    row = (await session.execute(select(accounts).where(accounts.c.id == account_id))).first()
    if row is None:
        raise NotFound(f"No time account for member {account_id}.", code="credits.no_account")
    recent = await session.execute(
        select(
            entries.c.transfer_id,
            entries.c.minutes,
            entries.c.balance_after,
            transfers.c.reason,
            transfers.c.memo,
            transfers.c.created_at,
        )
        .join(transfers, transfers.c.id == entries.c.transfer_id)
        .where(entries.c.account_id == account_id)
        .order_by(transfers.c.created_at.desc(), entries.c.id.desc())
        .limit(limit)
    )
    return {
        "id": row.id,
        "owner_id": row.owner_id,
        "balance": row.balance,
        "debit_limit": row.debit_limit,
        "credit_limit": row.credit_limit,
        "entries": [r._asdict() for r in recent],
    }


async def own_account(
    *, session: AsyncSession, runtime: ServiceRuntime, principal: Principal
) -> dict[str, Any]:
    """The caller's account (the member and account created from the token on first use)."""
    me = await member_for(session, runtime=runtime, principal=principal)
    return await account_view(session, account_id=me["id"])


async def account_for(
    *, session: AsyncSession, principal: Principal, account_id: str
) -> dict[str, Any]:
    """An account, shown only to its owner and staff."""
    if account_id != principal.sub and not principal.is_staff:
        raise Forbidden(
            "Only the account's owner and staff may see it.", code="credits.not_your_account"
        )
    return await account_view(session, account_id=account_id)


async def set_limits(
    *, session: AsyncSession, account_id: str, debit_limit: int, credit_limit: int
) -> dict[str, Any]:
    """Staff change an account's limits, never below what its balance already uses."""
    locked = await lock_accounts(session, [account_id])
    try:
        check_limits(
            balance=locked[account_id].balance,
            limits=Limits(debit_limit=debit_limit, credit_limit=credit_limit),
        )
    except LedgerRuleBroken as exc:
        raise Conflict(str(exc), code=exc.code, params=exc.params) from exc
    await session.execute(
        update(accounts)
        .where(accounts.c.id == account_id)
        .values(debit_limit=debit_limit, credit_limit=credit_limit)
    )
    return await account_view(session, account_id=account_id)
