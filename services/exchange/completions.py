"""Completions of time-bank services: the receiver confirms, optionally paying in minutes.

Idempotent per (receiver, Idempotency-Key): a replay answers the first completion. The
completion emits `exchange.service.completed` (with route km and passengers for a carpool,
the category for a repair), which the impact service counts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.clock import clock
from libs.common.contracts.exchange import ServiceCompleted
from libs.common.events import make_event
from libs.common.ids import new_id
from libs.common.outbox import record
from libs.common.problems import Conflict, NotFound
from libs.common.runtime import ServiceRuntime
from services.exchange import ledger
from services.exchange.carpools import _problem
from services.exchange.db import completions, services
from services.exchange.domain import ServiceRuleBroken, provider_of
from services.exchange.members import get_member, member_for


async def get_service(session: AsyncSession, service_id: str) -> dict[str, Any]:
    row = (await session.execute(select(services).where(services.c.id == service_id))).first()
    if row is None:
        raise NotFound(f"No service {service_id}.", code="services.not_found")
    return row._asdict()


async def complete(
    *,
    session: AsyncSession,
    runtime: ServiceRuntime,
    principal: Principal,
    service_id: str,
    idempotency_key: str,
    provider_id: str | None,
    minutes: int,
    km: float | None,
    passengers: int | None,
    repaired_category: str | None,
    settle_in_credits: bool,
) -> tuple[dict[str, Any], bool]:
    """Record that the caller received the service; (completion, created)."""
    service = await get_service(session, service_id)
    me = await member_for(session, runtime=runtime, principal=principal)
    try:
        provider_id = provider_of(
            direction=service["direction"],
            lister_id=service["member_id"],
            caller_id=me["id"],
            named_provider=provider_id,
        )
    except ServiceRuleBroken as exc:
        raise _problem(exc) from exc
    provider = await get_member(session, provider_id)
    km = km if km is not None else service["route_km"]
    previous = (
        await session.execute(
            select(completions).where(
                completions.c.receiver_id == me["id"],
                completions.c.idempotency_key == idempotency_key,
            )
        )
    ).first()
    if previous is not None:
        same = (previous.service_id, previous.provider_id, previous.minutes) == (
            service_id,
            provider_id,
            minutes,
        )
        if not same:
            raise Conflict(
                "This Idempotency-Key was already used for another completion.",
                code="credits.key_reused",
            )
        return previous._asdict(), False
    transfer_id = None
    if settle_in_credits:
        transfer, _ = await ledger.transfer(
            session,
            runtime=runtime,
            initiator_id=me["id"],
            idempotency_key=f"completion:{idempotency_key}",
            from_account=me["id"],
            to_account=provider_id,
            minutes=minutes,
            reason="service",
            memo=service["title"][:500],
            service_id=service_id,
        )
        transfer_id = transfer["id"]
    row = {
        "id": new_id(),
        "service_id": service_id,
        "provider_id": provider_id,
        "receiver_id": me["id"],
        "minutes": minutes,
        "km": km if service["kind"] == "carpool" else None,
        "passengers": passengers if service["kind"] == "carpool" else None,
        "repaired_category": repaired_category if service["kind"] == "repair" else None,
        "transfer_id": transfer_id,
        "idempotency_key": idempotency_key,
        "created_at": clock.now(),
    }
    await session.execute(insert(completions).values(**row))
    await record(
        session,
        make_event(
            ServiceCompleted(
                service_id=service_id,
                kind=service["kind"],
                provider_id=provider_id,
                receiver_id=me["id"],
                provider_neighbourhood=provider["neighbourhood"],
                receiver_neighbourhood=me["neighbourhood"],
                minutes=minutes,
                km=row["km"],
                passengers=row["passengers"],
                repaired_category=row["repaired_category"],
                settled_in_credits=transfer_id is not None,
            ),
            aggregate_id=service_id,
            territory=runtime.territory(service["neighbourhood"]),
            actor=me["id"],
        ),
    )
    return row, True
