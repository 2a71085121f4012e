"""Items: listed by their owner, searched by category, text, neighbourhood and free dates,
edited, withdrawn (not while lent or promised), and their calendar of booked periods."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.clock import clock
from libs.common.contracts.exchange import ItemListed, ItemWithdrawn
from libs.common.events import make_event
from libs.common.ids import new_id
from libs.common.outbox import record
from libs.common.problems import Conflict, Forbidden, NotFound
from libs.common.runtime import ServiceRuntime
from services.exchange.db import items, loans
from services.exchange.domain import OCCUPYING, OPEN_ENDED, LoanState
from services.exchange.members import member_for

_OCCUPYING = [s.value for s in OCCUPYING]
_OPEN_ENDED = [s.value for s in OPEN_ENDED]


async def get(*, session: AsyncSession, item_id: str) -> dict[str, Any]:
    row = (await session.execute(select(items).where(items.c.id == item_id))).first()
    if row is None:
        raise NotFound(f"No item {item_id}.", code="items.not_found")
    return row._asdict()


async def list_item(
    *, session: AsyncSession, runtime: ServiceRuntime, principal: Principal, **fields: Any
) -> dict[str, Any]:
    """List an item to lend; it shows the owner's neighbourhood, never their address."""
    me = await member_for(session, runtime=runtime, principal=principal)
    item = {
        "id": new_id(),
        "owner_id": me["id"],
        **fields,
        "neighbourhood": me["neighbourhood"],
        "listed": True,
        "created_at": clock.now(),
    }
    await session.execute(items.insert().values(**item))
    await record(
        session,
        make_event(
            ItemListed(
                item_id=item["id"],
                owner_id=me["id"],
                category=item["category"],
                neighbourhood=me["neighbourhood"],
                deposit_cents=item["deposit_cents"],
                max_loan_days=item["max_loan_days"],
            ),
            aggregate_id=item["id"],
            territory=runtime.territory(me["neighbourhood"]),
            actor=me["id"],
        ),
    )
    return item


async def search(
    *,
    session: AsyncSession,
    category: str | None,
    q: str | None,
    neighbourhood: str | None,
    available_from: date | None,
    available_to: date | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Listed items by category, text, neighbourhood and free dates, newest first."""
    query = select(items).where(items.c.listed.is_(True))
    if category:
        query = query.where(items.c.category == category)
    if neighbourhood:
        query = query.where(items.c.neighbourhood == neighbourhood)
    if q:
        pattern = f"%{q}%"
        query = query.where(or_(items.c.title.ilike(pattern), items.c.description.ilike(pattern)))
    if available_from or available_to:
        # Free on those days: no loan planned over them, none still out past its due day.
        first_day = available_from or available_to
        last_day = available_to or available_from
        held = exists().where(
            and_(
                loans.c.item_id == items.c.id,
                loans.c.state.in_(_OCCUPYING),
                loans.c.starts_on <= last_day,
                or_(loans.c.due_on >= first_day, loans.c.state.in_(_OPEN_ENDED)),
            )
        )
        query = query.where(~held)
    query = query.order_by(items.c.created_at.desc(), items.c.id).limit(limit).offset(offset)
    return [r._asdict() for r in await session.execute(query)]


async def bookings(
    *, session: AsyncSession, item_id: str, first: date, last: date | None, today: date
) -> list[dict[str, Any]]:
    """The periods an item is promised or out from `first` to `last`; who holds it is not
    shown."""
    await get(session=session, item_id=item_id)
    query = select(loans.c.starts_on, loans.c.due_on, loans.c.state).where(
        loans.c.item_id == item_id,
        loans.c.state.in_(_OCCUPYING),
        or_(loans.c.due_on >= first, loans.c.state.in_(_OPEN_ENDED)),
    )
    if last is not None:
        query = query.where(loans.c.starts_on <= last)
    rows = await session.execute(query.order_by(loans.c.starts_on))
    return [
        {
            "starts_on": r.starts_on,
            "due_on": r.due_on,
            "state": "booked"
            if r.state == LoanState.ACCEPTED
            else ("late" if r.state == LoanState.OVERDUE or r.due_on < today else "out"),
        }
        for r in rows
    ]


async def edit(
    *, session: AsyncSession, principal: Principal, item_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    item = await get(session=session, item_id=item_id)
    if item["owner_id"] != principal.sub:
        raise Forbidden("Only the owner may edit this item.", code="items.not_owner")
    if changes:
        await session.execute(update(items).where(items.c.id == item_id).values(**changes))
    return {**item, **changes}


async def withdraw(
    *, session: AsyncSession, runtime: ServiceRuntime, principal: Principal, item_id: str
) -> dict[str, Any]:
    """Take an item off the listings (owner or staff); not while it is lent or promised."""
    item = await get(session=session, item_id=item_id)
    if item["owner_id"] != principal.sub and not principal.is_staff:
        raise Forbidden("Only the owner or staff may withdraw this item.", code="items.not_owner")
    if not item["listed"]:
        raise Conflict("This item is already withdrawn.", code="items.withdrawn")
    held = await session.scalar(
        select(func.count())
        .select_from(loans)
        .where(loans.c.item_id == item_id, loans.c.state.in_(_OCCUPYING))
    )
    if held:
        raise Conflict(
            "This item is lent or promised; it can be withdrawn once returned.",
            code="items.on_loan",
        )
    await session.execute(update(items).where(items.c.id == item_id).values(listed=False))
    await record(
        session,
        make_event(
            ItemWithdrawn(
                item_id=item_id, category=item["category"], neighbourhood=item["neighbourhood"]
            ),
            aggregate_id=item_id,
            territory=runtime.territory(item["neighbourhood"]),
            actor=principal.sub,
        ),
    )
    return {**item, "listed": False}
