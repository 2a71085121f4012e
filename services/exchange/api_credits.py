"""HTTP API of the time bank: accounts, transfers, corrections, services and completions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel

from libs.common.auth import CurrentPrincipal, VerifiedMember, require_verified
from libs.common.contracts.exchange import ServiceKind
from libs.common.runtime import Runtime
from services.exchange import completions as completions_flow
from services.exchange import ledger
from services.exchange.api import Staff
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
        return await ledger.own_account(session=session, runtime=runtime, principal=principal)


@router.get("/accounts/{account_id}", tags=["time credits"], response_model=AccountOut)
async def show_account(account_id: str, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    async with runtime.db.read() as session:
        return await ledger.account_for(session=session, principal=principal, account_id=account_id)


@router.put("/accounts/{account_id}/limits", tags=["time credits"], response_model=AccountOut)
async def set_limits(account_id: str, body: LimitsIn, runtime: Runtime, staff: Staff) -> dict:
    """Staff: change an account's limits (never below what its balance already uses)."""
    async with runtime.unit_of_work() as session:
        return await ledger.set_limits(session=session, account_id=account_id, **body.model_dump())


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
        return await ledger.pay(
            session=session,
            runtime=runtime,
            principal=principal,
            idempotency_key=idempotency_key,
            **body.model_dump(),
        )

    return _transfer_response(response, await ledger.retrying_idempotency_race(runtime, work))


@router.get("/transfers/{transfer_id}", tags=["time credits"], response_model=TransferOut)
async def show_transfer(transfer_id: str, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    async with runtime.db.read() as session:
        return await ledger.transfer_for(
            session=session, principal=principal, transfer_id=transfer_id
        )


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
    async with runtime.unit_of_work() as session:
        return await completions_flow.list_service(
            session=session, runtime=runtime, principal=principal, **body.model_dump()
        )


@router.get("/services", tags=["services"], response_model=list[ServiceOut])
async def search_services(
    runtime: Runtime,
    kind: ServiceKind | None = None,
    direction: Literal["offer", "request"] | None = None,
    neighbourhood: str | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict]:
    async with runtime.db.read() as session:
        return await completions_flow.search(
            session=session,
            kind=kind,
            direction=direction,
            neighbourhood=neighbourhood,
            q=q,
            limit=limit,
        )


@router.get("/services/{service_id}", tags=["services"], response_model=ServiceOut)
async def show_service(service_id: str, runtime: Runtime) -> dict:
    async with runtime.db.read() as session:
        return await completions_flow.get_service(session, service_id)


@router.post("/services/{service_id}/close", tags=["services"], response_model=ServiceOut)
async def close_service(service_id: str, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    async with runtime.unit_of_work() as session:
        return await completions_flow.close(
            session=session, principal=principal, service_id=service_id
        )


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
