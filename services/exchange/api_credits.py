"""HTTP API of the time bank: accounts, transfers, corrections, services and completions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel
from sqlalchemy import insert, or_, select, update

from libs.common.auth import CurrentPrincipal, VerifiedMember, require_verified
from libs.common.clock import clock
from libs.common.contracts.exchange import ServiceKind, ServiceListed
from libs.common.events import make_event
from libs.common.ids import new_id
from libs.common.outbox import record
from libs.common.problems import Conflict, Forbidden, Invalid
from libs.common.runtime import Runtime
from services.exchange import completions as completions_flow
from services.exchange import ledger
from services.exchange.api import Staff
from services.exchange.db import accounts, services
from services.exchange.members import get_member, member_for
from services.exchange.schemas import (
    AccountOut,
    CompletionIn,
    CompletionReceipt,
    CorrectionIn,
    LimitsIn,
    ServiceIn,
    ServiceOut,
    TransferIn,
    TransferOut,
    TransferReceipt,
)

router = APIRouter()
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=8,
        max_length=200,
        description="A fresh random key per intended transfer; resend it on retry.",
    ),
]


def replayed(model: type[BaseModel]) -> dict:
    """Resending an Idempotency-Key answers the first result again, with 200 instead of 201."""
    return {
        200: {
            "description": "A replay: the first result, unchanged (`replayed` true)",
            "model": model,
        }
    }


# ------------------------------------------------------------------------ accounts


# Creates the member (and account) on first use: a write transaction, though a GET.
@router.get("/accounts/me", tags=["time credits"], response_model=AccountOut)
async def my_account(runtime: Runtime, principal: CurrentPrincipal) -> dict:
    """The caller's time account: balance and limits in minutes, recent entries."""
    async with runtime.unit_of_work() as session:
        me = await member_for(session, runtime=runtime, principal=principal)
        return await ledger.account_view(session, account_id=me["id"])


@router.get("/accounts/{account_id}", tags=["time credits"], response_model=AccountOut)
async def show_account(account_id: str, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    if account_id != principal.sub and not principal.is_staff:
        raise Forbidden(
            "Only the account's owner and staff may see it.", code="credits.not_your_account"
        )
    async with runtime.db.read() as session:
        return await ledger.account_view(session, account_id=account_id)


@router.put("/accounts/{account_id}/limits", tags=["time credits"], response_model=AccountOut)
async def set_limits(account_id: str, body: LimitsIn, runtime: Runtime, staff: Staff) -> dict:
    """Staff: change an account's limits (never below what its balance already uses)."""
    async with runtime.unit_of_work() as session:
        locked = await ledger.lock_accounts(session, [account_id])
        balance = locked[account_id].balance
        if balance < -body.debit_limit or balance > body.credit_limit:
            raise Conflict(
                f"The balance ({balance} minutes) is outside these limits.",
                code="credits.balance_outside_limits",
                params={"balance_minutes": balance},
            )
        await session.execute(
            update(accounts).where(accounts.c.id == account_id).values(**body.model_dump())
        )
        return await ledger.account_view(session, account_id=account_id)


# ----------------------------------------------------------------------- transfers


def _transfer_response(response: Response, result: tuple[dict, bool]) -> dict:
    transfer, created = result
    response.status_code = 201 if created else 200
    return {**transfer, "replayed": not created}


@router.post(
    "/transfers",
    status_code=201,
    tags=["time credits"],
    response_model=TransferReceipt,
    responses=replayed(TransferReceipt),
)
async def make_transfer(
    body: TransferIn,
    idempotency_key: IdempotencyKey,
    response: Response,
    runtime: Runtime,
    principal: VerifiedMember,
) -> dict:
    """Pay minutes to another member (verified accounts; 403 verification-required else).
    Resending the same Idempotency-Key never pays twice (200 with the first transfer);
    reusing it for a different transfer is a 409.

    Staff enter a paper transfer with `on_behalf_of` (the payer) and reason "paper"."""

    async def work(session):
        if body.on_behalf_of:
            if not principal.is_staff:
                raise Forbidden(
                    "Only staff may enter a transfer on someone's behalf.",
                    code="credits.staff_only",
                )
            payer, reason, entered_by = body.on_behalf_of, "paper", principal.sub
            await get_member(session, payer)
        else:
            payer = (await member_for(session, runtime=runtime, principal=principal))["id"]
            reason, entered_by = body.reason, None
        await get_member(session, body.to_member)
        return await ledger.transfer(
            session,
            runtime=runtime,
            initiator_id=principal.sub,
            idempotency_key=idempotency_key,
            from_account=payer,
            to_account=body.to_member,
            minutes=body.minutes,
            reason=reason,
            memo=body.memo,
            entered_by=entered_by,
        )

    return _transfer_response(response, await ledger.retrying_idempotency_race(runtime, work))


@router.get("/transfers/{transfer_id}", tags=["time credits"], response_model=TransferOut)
async def show_transfer(transfer_id: str, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    async with runtime.db.read() as session:
        transfer = await ledger.get_transfer(session, transfer_id)
    parties = {transfer["from_account"], transfer["to_account"], transfer["initiator_id"]}
    if principal.sub not in parties and not principal.is_staff:
        raise Forbidden(
            "Only the parties and staff may see this transfer.", code="credits.not_your_transfer"
        )
    return transfer


@router.post(
    "/transfers/{transfer_id}/reverse",
    status_code=201,
    tags=["time credits"],
    response_model=TransferReceipt,
    responses=replayed(TransferReceipt),
)
async def reverse_transfer(
    transfer_id: str, body: CorrectionIn, response: Response, runtime: Runtime, staff: Staff
) -> dict:
    """Staff: correct a transfer with a reversing entry (the original is never edited)."""

    async def work(session):
        return await ledger.reverse(
            session, runtime=runtime, staff_id=staff.sub, transfer_id=transfer_id, memo=body.memo
        )

    return _transfer_response(response, await ledger.retrying_idempotency_race(runtime, work))


# ------------------------------------------------------------------------ services


@router.post("/services", status_code=201, tags=["services"], response_model=ServiceOut)
async def list_service(body: ServiceIn, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    """Offer or request a service (repair, gardening, carpool with its route km, ...)."""
    if body.kind == "carpool" and body.route_km is None:
        raise Invalid(
            "A carpool needs its route length in km.",
            field="body.route_km",
            code="services.route_km_missing",
        )
    async with runtime.unit_of_work() as session:
        me = await member_for(session, runtime=runtime, principal=principal)
        row = {
            "id": new_id(),
            "member_id": me["id"],
            **body.model_dump(),
            "neighbourhood": me["neighbourhood"],
            "open": True,
            "created_at": clock.now(),
        }
        await session.execute(insert(services).values(**row))
        await record(
            session,
            make_event(
                ServiceListed(
                    service_id=row["id"],
                    member_id=me["id"],
                    kind=body.kind,
                    direction=body.direction,
                    neighbourhood=me["neighbourhood"],
                ),
                aggregate_id=row["id"],
                territory=runtime.territory(me["neighbourhood"]),
                actor=me["id"],
            ),
        )
        return row


@router.get("/services", tags=["services"], response_model=list[ServiceOut])
async def search_services(
    runtime: Runtime,
    kind: ServiceKind | None = None,
    direction: Literal["offer", "request"] | None = None,
    neighbourhood: str | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict]:
    query = select(services).where(services.c.open.is_(True))
    if kind:
        query = query.where(services.c.kind == kind)
    if direction:
        query = query.where(services.c.direction == direction)
    if neighbourhood:
        query = query.where(services.c.neighbourhood == neighbourhood)
    if q:
        pattern = f"%{q}%"
        query = query.where(
            or_(services.c.title.ilike(pattern), services.c.description.ilike(pattern))
        )
    query = query.order_by(services.c.created_at.desc()).limit(limit)
    async with runtime.db.read() as session:
        return [r._asdict() for r in await session.execute(query)]


@router.get("/services/{service_id}", tags=["services"], response_model=ServiceOut)
async def show_service(service_id: str, runtime: Runtime) -> dict:
    async with runtime.db.read() as session:
        return await completions_flow.get_service(session, service_id)


@router.post("/services/{service_id}/close", tags=["services"], response_model=ServiceOut)
async def close_service(service_id: str, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    async with runtime.unit_of_work() as session:
        service = await completions_flow.get_service(session, service_id)
        if service["member_id"] != principal.sub and not principal.is_staff:
            raise Forbidden(
                "Only the member who listed this service or staff may close it.",
                code="services.not_yours",
            )
        await session.execute(
            update(services).where(services.c.id == service_id).values(open=False)
        )
        return {**service, "open": False}


@router.post(
    "/services/{service_id}/completions",
    status_code=201,
    tags=["services"],
    response_model=CompletionReceipt,
    responses=replayed(CompletionReceipt),
)
async def complete_service(
    service_id: str,
    body: CompletionIn,
    idempotency_key: IdempotencyKey,
    response: Response,
    runtime: Runtime,
    principal: CurrentPrincipal,
) -> dict:
    """The member who received the service confirms it, optionally paying in minutes.

    For an offer the caller is the receiver and the lister the provider; for a request the
    lister (the caller) is the receiver and names the provider. Paying in minutes needs a
    verified account; confirming without credits does not."""
    if body.settle_in_credits:
        require_verified(principal)

    async def work(session):
        return await completions_flow.complete(
            session=session,
            runtime=runtime,
            principal=principal,
            service_id=service_id,
            idempotency_key=idempotency_key,
            **body.model_dump(),
        )

    completion, created = await ledger.retrying_idempotency_race(runtime, work)
    response.status_code = 201 if created else 200
    return {**completion, "replayed": not created}
