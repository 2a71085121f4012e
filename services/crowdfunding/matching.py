"""Match pools: the city's money that doubles residents' pledges.

A match is reserved in the pledge's own transaction by conditional updates, one per
counter (the pool's budget, the project's cap, the backer's cap). Each update grants
`min(wanted, cap - reserved)` and records what it granted in `last_grant_cents`, which
it returns: SQL evaluates every SET expression on the row as it was, and PostgreSQL
re-evaluates them on the latest row version when another transaction updated it first,
so the counters never exceed their caps, whatever the concurrency (and a CHECK
constraint on the pool says so again). Counters are always taken in the same order
(project, backer, pool) so that concurrent pledges cannot deadlock.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, case, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.contracts.crowdfunding import MatchPoolCreated
from libs.common.db import insert_ignoring_duplicates
from libs.common.events import make_event
from libs.common.ids import new_id
from libs.common.outbox import record
from libs.common.problems import Conflict, Forbidden, NotFound
from libs.common.runtime import ServiceRuntime
from services.crowdfunding import domain
from services.crowdfunding.db import (
    budget_leftovers,
    campaigns,
    match_pools,
    pool_backers,
    pool_campaigns,
)


async def create_pool(
    session: AsyncSession,
    *,
    runtime: ServiceRuntime,
    principal: Principal,
    name: str,
    budget_cents: int,
    match_factor: Decimal,
    cap_per_pledge_cents: int | None,
    cap_per_project_cents: int | None,
    cap_per_backer_cents: int | None,
    residents_only: bool,
    neighbourhoods: list[str] | None,
    categories: list[str] | None,
    now: datetime,
    from_budget_edition: str | None = None,
) -> Any:
    pool_id = new_id()
    await session.execute(
        insert(match_pools).values(
            id=pool_id,
            name=name,
            budget_cents=budget_cents,
            match_factor=str(match_factor),
            cap_per_pledge_cents=cap_per_pledge_cents,
            cap_per_project_cents=cap_per_project_cents,
            cap_per_backer_cents=cap_per_backer_cents,
            residents_only=residents_only,
            neighbourhoods=neighbourhoods,
            categories=categories,
            from_budget_edition=from_budget_edition,
            created_by=principal.sub,
            created_at=now,
        )
    )
    event = make_event(
        MatchPoolCreated(
            pool_id=pool_id,
            name=name,
            budget_cents=budget_cents,
            match_factor=str(match_factor),
            from_budget_edition=from_budget_edition,
        ),
        aggregate_id=pool_id,
        territory=runtime.territory(None),
        actor=principal.sub,
    )
    await record(session, event)
    return await get_pool(session, pool_id)


async def get_pool(session: AsyncSession, pool_id: str) -> Any:
    row = (
        await session.execute(select(match_pools).where(match_pools.c.id == pool_id))
    ).one_or_none()
    if row is None:
        raise NotFound(f"No match pool {pool_id}.", code="pools.not_found")
    return row


def pool_view(row: Any) -> dict:
    data = dict(row._mapping)
    data.pop("last_grant_cents", None)
    data["available_cents"] = row.budget_cents - row.reserved_cents
    return data


async def list_pools(session: AsyncSession) -> list[dict]:
    rows = await session.execute(select(match_pools).order_by(match_pools.c.created_at))
    return [pool_view(r) for r in rows.all()]


def campaign_is_eligible(pool: Any, campaign: Any) -> bool:
    return (pool.neighbourhoods is None or campaign.neighbourhood in pool.neighbourhoods) and (
        pool.categories is None or campaign.category in pool.categories
    )


async def attach(session: AsyncSession, *, campaign_id: str, pool_id: str) -> None:
    """Staff put a campaign under a pool (before it ends)."""
    pool = await get_pool(session, pool_id)
    campaign = (
        await session.execute(select(campaigns).where(campaigns.c.id == campaign_id))
    ).one_or_none()
    if campaign is None:
        raise NotFound(f"No campaign {campaign_id}.", code="campaigns.not_found")
    if not campaign_is_eligible(pool, campaign):
        raise Forbidden(
            "This campaign's neighbourhood or category is not eligible to the pool.",
            code="pools.not_eligible",
        )
    result = await session.execute(
        update(campaigns)
        .where(
            campaigns.c.id == campaign_id,
            campaigns.c.state.in_([domain.DRAFT, domain.SUBMITTED, domain.APPROVED, domain.LIVE]),
        )
        .values(match_pool_id=pool_id)
    )
    if result.rowcount != 1:
        raise Conflict(
            "Only a campaign that has not ended can join a match pool.", code="pools.campaign_ended"
        )


def _grant(table, where: list, *, cap, wanted: int):
    """UPDATE … SET reserved += min(wanted, cap - reserved) RETURNING the grant."""
    room = cap - table.c.reserved_cents
    wanted_sql = literal(wanted, BigInteger())
    give = case((room <= 0, literal(0, BigInteger())), (room < wanted_sql, room), else_=wanted_sql)
    return (
        update(table)
        .where(*where)
        .values(last_grant_cents=give, reserved_cents=table.c.reserved_cents + give)
        .returning(table.c.last_grant_cents)
    )


async def reserve(
    session: AsyncSession,
    *,
    campaign: Any,
    backer_id: str,
    backer_is_resident: bool,
    amount_cents: int,
) -> tuple[str | None, int]:
    """Reserve the match of one pledge; returns (pool id, matched cents)."""
    if not campaign.match_pool_id:
        return None, 0
    pool = await get_pool(session, campaign.match_pool_id)
    if not campaign_is_eligible(pool, campaign) or (pool.residents_only and not backer_is_resident):
        return None, 0
    wanted = domain.match_wanted(
        amount_cents,
        factor=Decimal(pool.match_factor),
        cap_per_pledge_cents=pool.cap_per_pledge_cents,
    )
    if wanted == 0:
        return None, 0
    granted = wanted
    taken: list[tuple[Any, list]] = []
    if pool.cap_per_project_cents is not None:
        key = [pool_campaigns.c.pool_id == pool.id, pool_campaigns.c.campaign_id == campaign.id]
        await session.execute(
            insert_ignoring_duplicates(session, pool_campaigns).values(
                pool_id=pool.id, campaign_id=campaign.id
            )
        )
        granted = await session.scalar(
            _grant(pool_campaigns, key, cap=pool.cap_per_project_cents, wanted=granted)
        )
        taken.append((pool_campaigns, key))
    if granted and pool.cap_per_backer_cents is not None:
        key = [pool_backers.c.pool_id == pool.id, pool_backers.c.backer_id == backer_id]
        await session.execute(
            insert_ignoring_duplicates(session, pool_backers).values(
                pool_id=pool.id, backer_id=backer_id
            )
        )
        got = await session.scalar(
            _grant(pool_backers, key, cap=pool.cap_per_backer_cents, wanted=granted)
        )
        await _give_back(session, taken, granted - got)
        granted = got
        taken.append((pool_backers, key))
    if granted:
        got = await session.scalar(
            _grant(
                match_pools,
                [match_pools.c.id == pool.id],
                cap=match_pools.c.budget_cents,
                wanted=granted,
            )
        )
        await _give_back(session, taken, granted - got)
        granted = got
    return (pool.id, granted) if granted else (None, 0)


async def _give_back(session: AsyncSession, counters: list, cents: int) -> None:
    if cents <= 0:
        return
    for table, key in counters:
        await session.execute(
            update(table).where(*key).values(reserved_cents=table.c.reserved_cents - cents)
        )


async def return_match(session: AsyncSession, *, pledge: Any, campaign_id: str) -> None:
    """The pledge will not be captured: its match goes back to the pool."""
    if not pledge.match_pool_id or pledge.matched_cents <= 0:
        return
    pool = await get_pool(session, pledge.match_pool_id)
    counters = [(match_pools, [match_pools.c.id == pool.id])]
    if pool.cap_per_project_cents is not None:
        counters.append(
            (
                pool_campaigns,
                [pool_campaigns.c.pool_id == pool.id, pool_campaigns.c.campaign_id == campaign_id],
            )
        )
    if pool.cap_per_backer_cents is not None:
        counters.append(
            (
                pool_backers,
                [pool_backers.c.pool_id == pool.id, pool_backers.c.backer_id == pledge.backer_id],
            )
        )
    await _give_back(session, counters, pledge.matched_cents)


async def release_match(session: AsyncSession, *, pledge: Any) -> None:
    """The pledge was captured: its match is now spent."""
    if not pledge.match_pool_id or pledge.matched_cents <= 0:
        return
    await session.execute(
        update(match_pools)
        .where(match_pools.c.id == pledge.match_pool_id)
        .values(released_cents=match_pools.c.released_cents + pledge.matched_cents)
    )


async def record_leftover(
    session: AsyncSession,
    *,
    edition_id: str,
    envelope_id: str,
    district: str | None,
    leftover_cents: int,
    now: datetime,
) -> None:
    await session.execute(
        insert_ignoring_duplicates(session, budget_leftovers).values(
            edition_id=edition_id,
            envelope_id=envelope_id,
            district=district,
            leftover_cents=leftover_cents,
            recorded_at=now,
        )
    )


async def list_leftovers(session: AsyncSession) -> list[dict]:
    rows = await session.execute(
        select(budget_leftovers).order_by(
            budget_leftovers.c.recorded_at, budget_leftovers.c.envelope_id
        )
    )
    return [dict(r._mapping) for r in rows]


async def claim_leftover(session: AsyncSession, *, edition_id: str, envelope_id: str, pool_id: str):
    """Turn one leftover into one pool, once: a conditional update."""
    result = await session.execute(
        update(budget_leftovers)
        .where(
            budget_leftovers.c.edition_id == edition_id,
            budget_leftovers.c.envelope_id == envelope_id,
            budget_leftovers.c.pool_id.is_(None),
        )
        .values(pool_id=pool_id)
    )
    if result.rowcount != 1:
        raise Conflict(
            "This leftover is unknown or already became a match pool.", code="pools.leftover_used"
        )


async def get_leftover(session: AsyncSession, *, edition_id: str, envelope_id: str) -> Any:
    row = (
        await session.execute(
            select(budget_leftovers).where(
                budget_leftovers.c.edition_id == edition_id,
                budget_leftovers.c.envelope_id == envelope_id,
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound("No such budget leftover.", code="pools.leftover_not_found")
    return row


async def pool_from_leftover(
    session: AsyncSession,
    *,
    runtime: ServiceRuntime,
    principal: Principal,
    now: datetime,
    edition_id: str,
    envelope_id: str,
    **terms: Any,
) -> Any:
    """Turn a participatory budget's leftover into a match pool, once: the pool's budget is
    the leftover, its neighbourhood the envelope's district (none: the whole city)."""
    leftover = await get_leftover(session, edition_id=edition_id, envelope_id=envelope_id)
    row = await create_pool(
        session,
        runtime=runtime,
        principal=principal,
        now=now,
        budget_cents=leftover.leftover_cents,
        neighbourhoods=[leftover.district] if leftover.district else None,
        from_budget_edition=edition_id,
        **terms,
    )
    await claim_leftover(session, edition_id=edition_id, envelope_id=envelope_id, pool_id=row.id)
    return row
