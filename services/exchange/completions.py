"""Time-bank services: listed (an offer or a request), searched, closed, and completed.

A completion is the receiver's confirmation, optionally paying in minutes. It is idempotent
per (receiver, Idempotency-Key): a replay answers the first completion. The completion
emits `exchange.service.completed` (with route km and passengers for a carpool, the category
for a repair), which the impact service counts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.clock import clock
from libs.common.contracts.exchange import ServiceCompleted, ServiceListed
from libs.common.events import make_event
from libs.common.ids import new_id
from libs.common.outbox import record
from libs.common.problems import Conflict, Forbidden, NotFound
from libs.common.runtime import ServiceRuntime
from services.exchange import ledger
from services.exchange.carpools import _problem
from services.exchange.db import completions, services
from services.exchange.domain import ServiceRuleBroken, check_listing, provider_of
from services.exchange.members import get_member, member_for


async def get_service(session: AsyncSession, service_id: str) -> dict[str, Any]:
    row = (await session.execute(select(services).where(services.c.id == service_id))).first()
    if row is None:
        raise NotFound(f"No service {service_id}.", code="services.not_found")
    return row._asdict()


async def list_service(
    *,
    session: AsyncSession,
    runtime: ServiceRuntime,
    principal: Principal,
    kind: str,
    direction: str,
    title: str,
    description: str,
    minutes_estimate: int | None,
    route_km: float | None,
) -> dict[str, Any]:
    """Offer or request a service; it shows the member's neighbourhood."""
    try:
        check_listing(kind=kind, route_km=route_km)
    except ServiceRuleBroken as exc:
        raise _problem(exc) from exc
    me = await member_for(session, runtime=runtime, principal=principal)
    row = {
        "id": new_id(),
        "member_id": me["id"],
        "kind": kind,
        "direction": direction,
        "title": title,
        "description": description,
        "minutes_estimate": minutes_estimate,
        "route_km": route_km,
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
                kind=kind,
                direction=direction,
                neighbourhood=me["neighbourhood"],
            ),
            aggregate_id=row["id"],
            territory=runtime.territory(me["neighbourhood"]),
            actor=me["id"],
        ),
    )
    return row


async def search(
    *,
    session: AsyncSession,
    kind: str | None,
    direction: str | None,
    neighbourhood: str | None,
    q: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Open services by kind, direction, neighbourhood and text, newest first."""
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
    return [r._asdict() for r in await session.execute(query)]


async def close(*, session: AsyncSession, principal: Principal, service_id: str) -> dict[str, Any]:
    """The member who listed the service (or staff) stops offering or requesting it."""
    service = await get_service(session, service_id)
    if service["member_id"] != principal.sub and not principal.is_staff:
        raise Forbidden(
            "Only the member who listed this service or staff may close it.",
            code="services.not_yours",
        )
    await session.execute(update(services).where(services.c.id == service_id).values(open=False))
    return {**service, "open": False}


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
