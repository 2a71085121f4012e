"""Members: created from the caller's token on first use, or by staff; each has an account.

A profile shows the member's ratings: feedback.py writes them, this module only counts them
(feedback and loans build on members, not the other way round)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.clock import clock
from libs.common.contracts.exchange import MemberJoined
from libs.common.db import insert_ignoring_duplicates
from libs.common.events import make_event
from libs.common.outbox import record
from libs.common.problems import Conflict, Invalid, NotFound
from libs.common.runtime import ServiceRuntime
from services.exchange.db import accounts, members, ratings
from services.exchange.domain import (
    DEFAULT_LIMITS,
    ORGANISATION_LIMITS,
    MemberKind,
)

# Built once, with a bound parameter: every request looks its caller up.
_MEMBER = select(members).where(members.c.id == bindparam("member_id"))


async def find_member(session: AsyncSession, member_id: str) -> dict[str, Any] | None:
    row = (await session.execute(_MEMBER, {"member_id": member_id})).first()
    return row._asdict() if row else None


async def get_member(session: AsyncSession, member_id: str) -> dict[str, Any]:
    member = await find_member(session, member_id)
    if member is None:
        raise NotFound(f"No member {member_id}.", code="members.not_found")
    return member


async def create_member(
    session: AsyncSession,
    *,
    runtime: ServiceRuntime,
    member_id: str,
    kind: MemberKind,
    neighbourhood: str,
    created_by: str,
    display_name: str | None = None,
    address: str | None = None,
    contact: str | None = None,
) -> bool:
    """Insert the member and its time account; False if it already existed (a no-op)."""
    result = await session.execute(
        insert_ignoring_duplicates(session, members).values(
            id=member_id,
            kind=kind,
            neighbourhood=neighbourhood,
            display_name=display_name,
            address=address,
            contact=contact,
            created_at=clock.now(),
            created_by=created_by,
        )
    )
    if result.rowcount != 1:
        return False
    limits = ORGANISATION_LIMITS if kind == "organisation" else DEFAULT_LIMITS
    await session.execute(
        insert(accounts).values(
            id=member_id,
            owner_id=member_id,
            balance=0,
            debit_limit=limits.debit_limit,
            credit_limit=limits.credit_limit,
        )
    )
    await record(
        session,
        make_event(
            MemberJoined(member_id=member_id, kind=kind, neighbourhood=neighbourhood),
            aggregate_id=member_id,
            territory=runtime.territory(neighbourhood),
            actor=created_by,
        ),
    )
    return True


async def member_for(
    session: AsyncSession, *, runtime: ServiceRuntime, principal: Principal
) -> dict[str, Any]:
    """The caller's member row, created from the token's claims on first use."""
    member = await find_member(session, principal.sub)
    if member is not None:
        return member
    if not principal.neighbourhood:
        raise Invalid(
            "Your token carries no neighbourhood; ask staff to register you as a member.",
            field="token.neighbourhood",
            code="members.no_neighbourhood",
        )
    await create_member(
        session,
        runtime=runtime,
        member_id=principal.sub,
        kind=principal.kind,
        neighbourhood=principal.neighbourhood,
        created_by=principal.sub,
    )
    return await get_member(session, principal.sub)


async def update_profile(session: AsyncSession, *, member_id: str, **values: Any) -> None:
    if values:
        await session.execute(update(members).where(members.c.id == member_id).values(**values))


def public_view(member: dict[str, Any]) -> dict[str, Any]:
    """What anyone may see of a member: no name, no address, no contact."""
    return {"id": member["id"], "kind": member["kind"], "neighbourhood": member["neighbourhood"]}


def private_view(member: dict[str, Any]) -> dict[str, Any]:
    return {
        **public_view(member),
        "display_name": member["display_name"],
        "address": member["address"],
        "contact": member["contact"],
    }


async def ratings_of(*, session: AsyncSession, member_id: str) -> dict[str, Any]:
    """How many ratings the member received, and their average score (2 decimals)."""
    row = (
        await session.execute(
            select(func.count(), func.avg(ratings.c.score)).where(ratings.c.ratee_id == member_id)
        )
    ).one()
    return {"count": row[0], "average": round(float(row[1]), 2) if row[1] is not None else None}


async def own_profile(
    *, session: AsyncSession, runtime: ServiceRuntime, principal: Principal
) -> dict[str, Any]:
    """The caller's profile, private details and ratings (created from the token on first
    use)."""
    me = await member_for(session, runtime=runtime, principal=principal)
    return {**private_view(me), "ratings": await ratings_of(session=session, member_id=me["id"])}


async def edit_profile(
    *, session: AsyncSession, runtime: ServiceRuntime, principal: Principal, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change the caller's name, address or contact; their private view after."""
    await member_for(session, runtime=runtime, principal=principal)
    await update_profile(session, member_id=principal.sub, **changes)
    return private_view(await get_member(session, principal.sub))


async def register(
    *,
    session: AsyncSession,
    runtime: ServiceRuntime,
    staff_id: str,
    member_id: str,
    kind: MemberKind,
    neighbourhood: str,
    display_name: str | None,
    address: str | None,
    contact: str | None,
) -> dict[str, Any]:
    """Staff register a member (a resident without an account, an organisation); a 409
    if the id is taken."""
    created = await create_member(
        session,
        runtime=runtime,
        member_id=member_id,
        kind=kind,
        neighbourhood=neighbourhood,
        created_by=staff_id,
        display_name=display_name,
        address=address,
        contact=contact,
    )
    if not created:
        raise Conflict(f"Member {member_id} already exists.", field="body.id")
    return private_view(await get_member(session, member_id))


async def profile_of(
    *, session: AsyncSession, principal: Principal, member_id: str
) -> dict[str, Any]:
    """A member's profile with ratings: staff see everything, others the public view."""
    member = await get_member(session, member_id)
    view = private_view(member) if principal.is_staff else public_view(member)
    return {**view, "ratings": await ratings_of(session=session, member_id=member_id)}
