"""HTTP API of the exchange service: members, items, loans (routes in api_*.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from libs.common.auth import CurrentPrincipal, Staff
from libs.common.clock import Today
from libs.common.clock import today as today  # the one clock's dependency, as `api.today`
from libs.common.runtime import Runtime
from libs.common.types import CivicDate
from services.exchange import items as item_flow
from services.exchange import loans as loan_flow
from services.exchange import members
from services.exchange.domain import (
    CATEGORIES,
    Category,
)
from services.exchange.schemas import (
    ActedLoan,
    BookedPeriod,
    DepositIn,
    ItemIn,
    ItemOut,
    ItemPatch,
    LoanIn,
    LoanOut,
    LoanRow,
    LoanView,
    MemberIn,
    MemberOut,
    MemberProfile,
    MyLoan,
    NoteIn,
    ProfileIn,
    ReturnIn,
    SweepOut,
)

router = APIRouter()

# ------------------------------------------------------------------------ members


# Creates the member on first use: a write transaction, though a GET.
@router.get(
    "/members/me",
    tags=["members"],
    response_model=MemberProfile,
    response_model_exclude_unset=True,
)
async def my_profile(runtime: Runtime, principal: CurrentPrincipal) -> dict:
    """The caller's member profile (created from the token on first use)."""
    async with runtime.unit_of_work() as session:
        return await members.own_profile(session=session, runtime=runtime, principal=principal)


@router.patch("/members/me", tags=["members"], response_model=MemberOut)
async def edit_my_profile(body: ProfileIn, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    """Name, address and contact: private, shown only to the counterparty of an accepted
    loan."""
    async with runtime.unit_of_work() as session:
        return await members.edit_profile(
            session=session,
            runtime=runtime,
            principal=principal,
            changes=body.model_dump(exclude_unset=True),
        )


@router.post("/members", status_code=201, tags=["members"], response_model=MemberOut)
async def register_member(body: MemberIn, runtime: Runtime, staff: Staff) -> dict:
    """Staff register a member (a resident without an account, an organisation)."""
    async with runtime.unit_of_work() as session:
        return await members.register(
            session=session,
            runtime=runtime,
            staff_id=staff.sub,
            member_id=body.id,
            kind=body.kind,
            neighbourhood=body.neighbourhood,
            display_name=body.display_name,
            address=body.address,
            contact=body.contact,
        )


# Others see no name, address or contact: those keys are absent, not null.
@router.get(
    "/members/{member_id}",
    tags=["members"],
    response_model=MemberProfile,
    response_model_exclude_unset=True,
)
async def member_profile(member_id: str, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    """A member's public profile: kind, neighbourhood and ratings; staff see everything."""
    async with runtime.db.read() as session:
        return await members.profile_of(session=session, principal=principal, member_id=member_id)


# -------------------------------------------------------------------------- items


@router.get("/categories", tags=["items"], response_model=list[str])
async def categories() -> list[str]:
    """The item categories (keys the impact service maps to emission factors)."""
    return list(CATEGORIES)


@router.post("/items", status_code=201, tags=["items"], response_model=ItemOut)
async def list_item(body: ItemIn, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    """List an item to lend; it shows the owner's neighbourhood, never their address."""
    async with runtime.unit_of_work() as session:
        return await item_flow.list_item(
            session=session, runtime=runtime, principal=principal, **body.model_dump()
        )


@router.get("/items", tags=["items"], response_model=list[ItemOut])
async def search_items(
    runtime: Runtime,
    category: Category | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    neighbourhood: str | None = None,
    available_from: CivicDate | None = None,
    available_to: CivicDate | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[dict]:
    """Search listed items by category, text, neighbourhood and free dates."""
    async with runtime.db.read() as session:
        return await item_flow.search(
            session=session,
            category=category,
            q=q,
            neighbourhood=neighbourhood,
            available_from=available_from,
            available_to=available_to,
            limit=limit,
            offset=offset,
        )


@router.get("/items/{item_id}", tags=["items"], response_model=ItemOut)
async def show_item(item_id: str, runtime: Runtime) -> dict:
    async with runtime.db.read() as session:
        return await item_flow.get(session=session, item_id=item_id)


@router.get("/items/{item_id}/bookings", tags=["items"], response_model=list[BookedPeriod])
async def item_bookings(
    item_id: str,
    runtime: Runtime,
    today: Today,
    from_: Annotated[CivicDate | None, Query(alias="from")] = None,
    to: CivicDate | None = None,
) -> list[dict]:
    """The periods an item is promised or out (a calendar), from `from` (default today)
    to `to`; who holds it is not shown."""
    async with runtime.db.read() as session:
        return await item_flow.bookings(
            session=session, item_id=item_id, first=from_ or today, last=to, today=today
        )


@router.patch("/items/{item_id}", tags=["items"], response_model=ItemOut)
async def edit_item(
    item_id: str, body: ItemPatch, runtime: Runtime, principal: CurrentPrincipal
) -> dict:
    async with runtime.unit_of_work() as session:
        return await item_flow.edit(
            session=session,
            principal=principal,
            item_id=item_id,
            changes=body.model_dump(exclude_unset=True, exclude_none=True),
        )


@router.post("/items/{item_id}/withdraw", tags=["items"], response_model=ItemOut)
async def withdraw_item(item_id: str, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    """Take an item off the listings (owner or staff); not while it is lent or promised."""
    async with runtime.unit_of_work() as session:
        return await item_flow.withdraw(
            session=session, runtime=runtime, principal=principal, item_id=item_id
        )


# -------------------------------------------------------------------------- loans


@router.post("/loans", status_code=201, tags=["loans"], response_model=LoanRow)
async def request_loan(
    body: LoanIn, runtime: Runtime, principal: CurrentPrincipal, today: Today
) -> dict:
    """Ask to borrow an item for a period (both days included)."""
    async with runtime.unit_of_work() as session:
        return await loan_flow.request_loan(
            session=session,
            runtime=runtime,
            principal=principal,
            item_id=body.item_id,
            starts_on=body.starts_on,
            due_on=body.due_on,
            message=body.message,
            today=today,
        )


@router.get("/loans", tags=["loans"], response_model=list[MyLoan])
async def my_loans(
    runtime: Runtime,
    principal: CurrentPrincipal,
    today: Today,
    role: Literal["lender", "borrower"] | None = None,
    state: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict]:
    """The caller's loans, as lender and/or borrower; `days_late` for an item still out
    after its due day."""
    async with runtime.db.read() as session:
        return await loan_flow.mine(
            session=session,
            member_id=principal.sub,
            role=role,
            state=state,
            limit=limit,
            today=today,
        )


@router.get("/loans/{loan_id}", tags=["loans"], response_model=LoanView)
async def show_loan(loan_id: str, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    """A loan with its history; the counterparty's address and contact once accepted."""
    async with runtime.db.read() as session:
        loan = await loan_flow.get_loan(session, loan_id)
        return await loan_flow.loan_view(session, loan=loan, principal=principal)


async def _act(runtime, principal, loan_id, action, today, **extra) -> dict:
    async with runtime.unit_of_work() as session:
        loan = await loan_flow.transition(
            session,
            runtime=runtime,
            principal=principal,
            loan_id=loan_id,
            action=action,
            today=today,
            **extra,
        )
        return await loan_flow.loan_view(session, loan=loan, principal=principal, history=False)


@router.post("/loans/{loan_id}/accept", tags=["loans"], response_model=ActedLoan)
async def accept_loan(loan_id: str, runtime: Runtime, principal: CurrentPrincipal, today: Today):
    """Lender: accept a request. 409 if the item is already held for an overlapping time."""
    return await _act(runtime, principal, loan_id, "accept", today)


@router.post("/loans/{loan_id}/decline", tags=["loans"], response_model=ActedLoan)
async def decline_loan(loan_id: str, runtime: Runtime, principal: CurrentPrincipal, today: Today):
    """Lender: decline a request."""
    return await _act(runtime, principal, loan_id, "decline", today)


@router.post("/loans/{loan_id}/cancel", tags=["loans"], response_model=ActedLoan)
async def cancel_loan(loan_id: str, runtime: Runtime, principal: CurrentPrincipal, today: Today):
    """Either party, before pick-up (staff: a disputed loan whose item never left)."""
    return await _act(runtime, principal, loan_id, "cancel", today)


@router.post("/loans/{loan_id}/pick-up", tags=["loans"], response_model=ActedLoan)
async def pick_up_loan(loan_id: str, runtime: Runtime, principal: CurrentPrincipal, today: Today):
    """Either party: the item changed hands."""
    return await _act(runtime, principal, loan_id, "pick_up", today)


@router.post("/loans/{loan_id}/overdue", tags=["loans"], response_model=ActedLoan)
async def mark_overdue(loan_id: str, runtime: Runtime, principal: CurrentPrincipal, today: Today):
    """Lender or staff: the item is still out after its due date."""
    return await _act(runtime, principal, loan_id, "mark_overdue", today)


@router.post("/loans/{loan_id}/dispute", tags=["loans"], response_model=ActedLoan)
async def dispute_loan(
    loan_id: str, body: NoteIn, runtime: Runtime, principal: CurrentPrincipal, today: Today
):
    """Either party or staff: something went wrong; the item stays held until returned."""
    return await _act(runtime, principal, loan_id, "dispute", today, note=body.note)


@router.post("/loans/{loan_id}/return", tags=["loans"], response_model=ActedLoan)
async def return_loan(
    loan_id: str, body: ReturnIn, runtime: Runtime, principal: CurrentPrincipal, today: Today
):
    """Lender (or staff): check the item in, with a condition report. Frees the item."""
    return await _act(
        runtime, principal, loan_id, "return", today, condition=body.condition, note=body.notes
    )


@router.post("/loans/{loan_id}/deposit", tags=["loans"], response_model=LoanOut)
async def record_deposit(
    loan_id: str, body: DepositIn, runtime: Runtime, principal: CurrentPrincipal
) -> dict:
    """Lender (or staff): the deposit is held, returned, or kept (all or part) with a
    reason; both parties see it on the loan."""
    async with runtime.unit_of_work() as session:
        loan = await loan_flow.record_deposit(
            session=session,
            principal=principal,
            loan_id=loan_id,
            state=body.state,
            amount_cents=body.amount_cents,
            reason=body.reason,
        )
        return await loan_flow.loan_view(session, loan=loan, principal=principal, history=False)


@router.post("/loans/overdue-sweep", tags=["loans"], response_model=SweepOut)
async def sweep_overdue(runtime: Runtime, staff: Staff, today: Today) -> dict:
    """Staff: mark every past-due loan overdue now (the service also does it hourly)."""
    return {"marked_overdue": await loan_flow.sweep_overdue(runtime, actor=staff, today=today)}
