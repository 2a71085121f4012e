"""Loans: the database side of the state machine in domain.py.

Every transition is a conditional update (`WHERE state = <the state we decided from>`),
records who made it and when, and writes its `exchange.loan.*` event to the outbox in the
same transaction. No double booking: see `_ensure_item_free` and the PostgreSQL exclusion
constraint over planned periods (migration 0004). Deposits and overdue reminders live here
too: they belong to the loan.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.clock import clock
from libs.common.contracts import exchange as contracts
from libs.common.db import insert_ignoring_duplicates
from libs.common.events import make_event
from libs.common.ids import new_id
from libs.common.outbox import record
from libs.common.problems import Conflict, Forbidden, Invalid, NotFound
from libs.common.runtime import ServiceRuntime
from services.exchange.db import items, loan_reminders, loan_transitions, loans, members
from services.exchange.domain import (
    CONTACT_VISIBLE,
    OCCUPYING,
    OPEN_ENDED,
    DepositInvalid,
    LoanRuleBroken,
    LoanState,
    check_request,
    days_late,
    days_lent,
    loan_days,
    next_state,
    parties_of,
    settle_deposit,
)
from services.exchange.members import get_member, member_for, private_view

EVENTS = {
    LoanState.REQUESTED: contracts.LoanRequested,
    LoanState.ACCEPTED: contracts.LoanAccepted,
    LoanState.DECLINED: contracts.LoanDeclined,
    LoanState.CANCELLED: contracts.LoanCancelled,
    LoanState.PICKED_UP: contracts.LoanPickedUp,
    LoanState.OVERDUE: contracts.LoanOverdue,
    LoanState.DISPUTED: contracts.LoanDisputed,
    LoanState.RETURNED: contracts.LoanReturned,
}
DOUBLE_BOOKED = (
    "This item is already lent or promised for an overlapping period: it is booked "
    "from {start}. Another request for it was accepted first."
)


# The loan flow's statements are built once, with bound parameters: building and keying
# a statement per request costs more than SQLite takes to run it.
_LOAN = select(loans).where(loans.c.id == bindparam("loan_id"))
_ITEM_WITH_LENDER = (
    select(items, members.c.neighbourhood.label("lender_neighbourhood"))
    .join(members, members.c.id == items.c.owner_id)
    .where(items.c.id == bindparam("item_id"))
)
# Another loan holding the item on a day of [starts_on, due_on]: its planned period
# overlaps, or it is still out past its due day (held until checked in).
_HOLDER = (
    select(loans.c.id, loans.c.starts_on)
    .where(
        loans.c.item_id == bindparam("item_id"),
        loans.c.id != bindparam("loan_id"),
        loans.c.state.in_([s.value for s in OCCUPYING]),
        loans.c.starts_on <= bindparam("due_on"),
        or_(
            loans.c.due_on >= bindparam("starts_on"),
            loans.c.state.in_([s.value for s in OPEN_ENDED]),
        ),
    )
    .limit(1)
)
_MOVE = update(loans).where(
    loans.c.id == bindparam("where_id"), loans.c.state == bindparam("where_state")
)
_INSERT_LOAN = insert(loans)
DEADLOCK = "40P01"  # PostgreSQL's SQLSTATE for deadlock_detected
_INSERT_TRANSITION = insert(loan_transitions)


def _problem(exc: LoanRuleBroken) -> Exception:
    kind = Forbidden if exc.forbidden else Conflict
    return kind(str(exc), code=exc.code, params=exc.params)


async def get_loan(session: AsyncSession, loan_id: str) -> dict[str, Any]:
    row = (await session.execute(_LOAN, {"loan_id": loan_id})).first()
    if row is None:
        raise NotFound(f"No loan {loan_id}.", code="loans.not_found")
    return row._asdict()


async def _event(
    session: AsyncSession,
    *,
    runtime: ServiceRuntime,
    loan: dict[str, Any],
    state: LoanState,
    actor: str,
) -> None:
    facts = {
        "loan_id": loan["id"],
        "item_id": loan["item_id"],
        "category": loan["category"],
        "lender_id": loan["lender_id"],
        "borrower_id": loan["borrower_id"],
        "lender_neighbourhood": loan["lender_neighbourhood"],
        "borrower_neighbourhood": loan["borrower_neighbourhood"],
        "starts_on": loan["starts_on"],
        "due_on": loan["due_on"],
        "days": loan_days(loan["starts_on"], loan["due_on"]),
        "requested_at": loan["requested_at"],
        "deposit_cents": loan["deposit_cents"],
        "deposit_state": loan["deposit_state"],
        "deposit_kept_cents": loan["deposit_kept_cents"],
    }
    if state is LoanState.RETURNED:
        facts["days_lent"] = days_lent(loan["picked_up_on"], loan["returned_on"])
        facts["condition"] = loan["return_condition"]
    await record(
        session,
        make_event(
            EVENTS[state](**facts),
            aggregate_id=loan["id"],
            territory=runtime.territory(loan["lender_neighbourhood"]),
            actor=actor,
        ),
    )


async def _log(session, *, loan_id, from_state, to_state, actor_id, note=None, at=None) -> None:
    await session.execute(
        _INSERT_TRANSITION,
        {
            "id": new_id(),
            "loan_id": loan_id,
            "from_state": from_state,
            "to_state": to_state,
            "actor_id": actor_id,
            "at": at or clock.now(),
            "note": note,
        },
    )


async def request_loan(
    *,
    session: AsyncSession,
    runtime: ServiceRuntime,
    principal: Principal,
    item_id: str,
    starts_on: date,
    due_on: date,
    message: str,
    today: date,
) -> dict[str, Any]:
    """The caller asks to borrow an item for a period (both days included)."""
    me = await member_for(session, runtime=runtime, principal=principal)
    borrower_id, borrower_neighbourhood = me["id"], me["neighbourhood"]
    item = (await session.execute(_ITEM_WITH_LENDER, {"item_id": item_id})).first()
    if item is None:
        raise NotFound(f"No item {item_id}.", field="body.item_id", code="items.not_found")
    try:
        check_request(
            borrower_id=borrower_id,
            owner_id=item.owner_id,
            item_listed=item.listed,
            starts_on=starts_on,
            due_on=due_on,
            max_loan_days=item.max_loan_days,
            today=today,
        )
    except LoanRuleBroken as exc:
        raise _problem(exc) from exc
    except ValueError as exc:
        field = "body.starts_on" if "starts_on is in the past" in str(exc) else "body.due_on"
        raise Invalid(
            f"Invalid loan period: {exc}.",
            field=field,
            code=getattr(exc, "code", "loans.bad_period"),
            params=getattr(exc, "params", {}),
        ) from exc
    now = clock.now()
    loan = {
        "id": new_id(),
        "item_id": item_id,
        "lender_id": item.owner_id,
        "borrower_id": borrower_id,
        "category": item.category,
        "lender_neighbourhood": item.lender_neighbourhood,
        "borrower_neighbourhood": borrower_neighbourhood,
        "state": LoanState.REQUESTED.value,
        "starts_on": starts_on,
        "due_on": due_on,
        "message": message,
        "requested_at": now,
        "updated_at": now,
        "picked_up_on": None,
        "returned_on": None,
        "return_condition": None,
        "return_notes": None,
        "deposit_cents": item.deposit_cents,
        "deposit_state": "none",
        "deposit_kept_cents": None,
        "deposit_reason": None,
    }
    await session.execute(_INSERT_LOAN, loan)
    await _log(
        session,
        loan_id=loan["id"],
        from_state=None,
        to_state=loan["state"],
        actor_id=borrower_id,
        at=now,
    )
    await _event(session, runtime=runtime, loan=loan, state=LoanState.REQUESTED, actor=borrower_id)
    return loan


async def _ensure_item_free(session: AsyncSession, *, loan: dict[str, Any]) -> None:
    """Refuse to occupy an item another loan already holds.

    On SQLite this check and the update that follows run in one BEGIN IMMEDIATE
    transaction, so no other writer can slip between them. On PostgreSQL it only gives
    the clear message early; the exclusion constraint is what actually decides.
    """
    holder = (
        await session.execute(
            _HOLDER,
            {
                "item_id": loan["item_id"],
                "loan_id": loan["id"],
                "starts_on": loan["starts_on"],
                "due_on": loan["due_on"],
            },
        )
    ).first()
    if holder is not None:
        raise Conflict(
            DOUBLE_BOOKED.format(start=holder.starts_on.isoformat()),
            code="loans.double_booked",
            params={"starts_on": holder.starts_on.isoformat()},
        )


async def transition(
    session: AsyncSession,
    *,
    runtime: ServiceRuntime,
    principal: Principal,
    loan_id: str,
    action: str,
    today: date,
    condition: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Make `action` on the loan as `principal`; 403/409 when the rules say no."""
    loan = await get_loan(session, loan_id)
    state = LoanState(loan["state"])
    try:
        target = next_state(
            action=action,
            state=state,
            parties=parties_of(
                actor_id=principal.sub,
                lender_id=loan["lender_id"],
                borrower_id=loan["borrower_id"],
                is_staff=principal.is_staff,
            ),
            today=today,
            due_on=loan["due_on"],
            picked_up=loan["picked_up_on"] is not None,
        )
    except LoanRuleBroken as exc:
        raise _problem(exc) from exc
    now = clock.now()
    changes: dict[str, Any] = {"state": target.value, "updated_at": now}
    if target is LoanState.PICKED_UP:
        changes["picked_up_on"] = today
    if target is LoanState.RETURNED:
        changes["returned_on"] = today
        changes["return_condition"] = condition
        changes["return_notes"] = note
    if target is LoanState.ACCEPTED:
        await _ensure_item_free(session, loan=loan)
    try:
        result = await session.execute(
            _MOVE, {"where_id": loan_id, "where_state": state.value, **changes}
        )
    except DBAPIError as exc:
        # PostgreSQL's exclusion constraint: a concurrent accept of the same item won. Two
        # accepts in flight can also each wait on the other's entry for that check; then
        # PostgreSQL aborts one of them (deadlock) and the other wins.
        lost = isinstance(exc, IntegrityError) or getattr(exc.orig, "sqlstate", None) == DEADLOCK
        if not lost:
            raise
        raise Conflict(
            DOUBLE_BOOKED.format(start=loan["starts_on"].isoformat()),
            code="loans.double_booked",
            params={"starts_on": loan["starts_on"].isoformat()},
        ) from exc
    if result.rowcount != 1:
        raise Conflict(
            "This loan changed meanwhile; reload it and try again.", code="loans.changed"
        )
    loan.update(changes)
    await _log(
        session,
        loan_id=loan_id,
        from_state=state.value,
        to_state=target.value,
        actor_id=principal.sub,
        note=note,
        at=now,
    )
    await _event(session, runtime=runtime, loan=loan, state=target, actor=principal.sub)
    return loan


async def record_deposit(
    *,
    session: AsyncSession,
    principal: Principal,
    loan_id: str,
    state: str,
    amount_cents: int | None,
    reason: str,
) -> dict[str, Any]:
    """Hold, return or keep (with a reason) the loan's deposit; lender or staff."""
    loan = await get_loan(session, loan_id)
    parties = parties_of(
        actor_id=principal.sub,
        lender_id=loan["lender_id"],
        borrower_id=loan["borrower_id"],
        is_staff=principal.is_staff,
    )
    if not parties:
        raise Forbidden(
            "Only the lender, the borrower and staff may see this loan.", code="loans.not_yours"
        )
    held = loan["deposit_cents"] if loan["deposit_state"] == "held" else 0
    try:
        target, amount = settle_deposit(
            current=loan["deposit_state"],
            target=state,
            loan_state=LoanState(loan["state"]),
            parties=parties,
            amount_cents=amount_cents,
            expected_cents=loan["deposit_cents"],
            held_cents=held,
            reason=reason,
        )
    except LoanRuleBroken as exc:
        raise _problem(exc) from exc
    except DepositInvalid as exc:
        raise Invalid(
            str(exc), field=f"body.{exc.field}", code=exc.code, params=exc.params
        ) from exc
    changes: dict[str, Any] = {"deposit_state": target, "updated_at": clock.now()}
    if target == "held":
        changes["deposit_cents"] = amount
    if target == "kept":
        changes["deposit_kept_cents"] = amount
        changes["deposit_reason"] = reason.strip()
    if target == "returned":
        changes["deposit_kept_cents"] = 0
    result = await session.execute(
        update(loans)
        .where(loans.c.id == loan_id, loans.c.deposit_state == loan["deposit_state"])
        .values(**changes)
    )
    if result.rowcount != 1:
        raise Conflict(
            "This loan changed meanwhile; reload it and try again.", code="loans.changed"
        )
    return {**loan, **changes}


async def overdue_loans(session: AsyncSession, *, today: date) -> list[str]:
    rows = await session.execute(
        select(loans.c.id).where(loans.c.state == LoanState.PICKED_UP.value, loans.c.due_on < today)
    )
    return list(rows.scalars())


async def loan_view(
    session: AsyncSession, *, loan: dict[str, Any], principal: Principal, history: bool = True
) -> dict[str, Any]:
    """A loan as its parties (and staff) see it; contact details only once accepted."""
    is_lender = principal.sub == loan["lender_id"]
    is_borrower = principal.sub == loan["borrower_id"]
    if not (is_lender or is_borrower or principal.is_staff):
        raise Forbidden(
            "Only the lender, the borrower and staff may see this loan.", code="loans.not_yours"
        )
    moves = (
        []
        if not history
        else await session.execute(
            select(
                loan_transitions.c.from_state,
                loan_transitions.c.to_state,
                loan_transitions.c.actor_id,
                loan_transitions.c.at,
            )
            .where(loan_transitions.c.loan_id == loan["id"])
            .order_by(loan_transitions.c.at, loan_transitions.c.id)
        )
    )
    reminders = await session.execute(
        select(loan_reminders.c.on, loan_reminders.c.days_late)
        .where(loan_reminders.c.loan_id == loan["id"])
        .order_by(loan_reminders.c.on.desc())
        .limit(30)
    )
    view = {
        **loan,
        "days": loan_days(loan["starts_on"], loan["due_on"]),
        "history": [r._asdict() for r in moves] if history else None,
        "counterparty": None,
        "reminders": [r._asdict() for r in reminders],
    }
    if LoanState(loan["state"]) in CONTACT_VISIBLE and (is_lender or is_borrower):
        other = loan["borrower_id"] if is_lender else loan["lender_id"]
        view["counterparty"] = private_view(await get_member(session, other))
    return view


SWEEPER = Principal(sub="exchange-overdue-sweep", roles=frozenset({"staff"}))


async def sweep_overdue(runtime: ServiceRuntime, *, actor: Principal, today: date) -> list[str]:
    """Mark every past-due loan that is still out overdue and remind both parties (once a
    day, shown on their loans); returns the loans marked."""
    async with runtime.db.read() as session:
        due = await overdue_loans(session, today=today)
    marked = []
    for loan_id in due:
        try:
            async with runtime.unit_of_work() as session:
                await transition(
                    session,
                    runtime=runtime,
                    principal=actor,
                    loan_id=loan_id,
                    action="mark_overdue",
                    today=today,
                )
            marked.append(loan_id)
        except Conflict:
            pass  # returned or disputed meanwhile
    async with runtime.unit_of_work() as session:
        await remind_late(session=session, today=today)
    return marked


async def remind_late(*, session: AsyncSession, today: date) -> None:
    """Record today's reminder for every overdue loan that has none yet."""
    late = await session.execute(
        select(loans.c.id, loans.c.state, loans.c.due_on).where(
            loans.c.state == LoanState.OVERDUE.value, loans.c.due_on < today
        )
    )
    rows = [
        {
            "id": new_id(),
            "loan_id": row.id,
            "on": today,
            "days_late": days_late(state=LoanState(row.state), due_on=row.due_on, today=today),
            "created_at": clock.now(),
        }
        for row in late
    ]
    if rows:
        await session.execute(insert_ignoring_duplicates(session, loan_reminders), rows)


def late_by(loan: dict[str, Any], *, today: date) -> int:
    return days_late(state=LoanState(loan["state"]), due_on=loan["due_on"], today=today)


async def mine(
    *,
    session: AsyncSession,
    member_id: str,
    role: str | None,
    state: str | None,
    limit: int,
    today: date,
) -> list[dict[str, Any]]:
    """The member's loans as lender and/or borrower (`role`), newest request first, with
    `days_late` for an item still out after its due day."""
    as_role = {
        "lender": loans.c.lender_id == member_id,
        "borrower": loans.c.borrower_id == member_id,
    }
    query = select(loans).where(as_role[role] if role else or_(*as_role.values()))
    if state:
        query = query.where(loans.c.state == state)
    query = query.order_by(loans.c.requested_at.desc()).limit(limit)
    found = [r._asdict() for r in await session.execute(query)]
    return [{**loan, "days_late": late_by(loan, today=today)} for loan in found]
