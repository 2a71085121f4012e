"""Rewards after the campaign (Goteo's fulfilment): the holder marks each backer's reward
delivered, the backer confirms receipt. Each step happens once (a conditional update)
and leaves with its event; only a captured pledge with a reward has anything to deliver.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.contracts.crowdfunding import RewardDelivered, RewardReceived
from libs.common.events import make_event
from libs.common.outbox import record
from libs.common.problems import Conflict, NotFound
from libs.common.runtime import ServiceRuntime
from services.crowdfunding import domain
from services.crowdfunding.campaigns import ensure_holder, get_campaign
from services.crowdfunding.db import campaigns, pledges, rewards, utc
from services.crowdfunding.pledges import get_pledge, pledge_view


def _deliverable(row: Any) -> Any:
    if not row.reward_id:
        raise Conflict("This pledge has no reward to deliver.", code="rewards.none_to_deliver")
    if row.status != domain.CAPTURED:
        raise Conflict(
            f"A {row.status} pledge has no reward to deliver.",
            pledge_status=row.status,  # `status` is the problem's HTTP status (RFC 9457)
            code="rewards.none_to_deliver",
        )
    return row


async def _emit(session, runtime: ServiceRuntime, row, contract, *, actor: str) -> None:
    campaign = await get_campaign(session, row.campaign_id)
    event = make_event(
        contract(
            pledge_id=row.id,
            campaign_id=row.campaign_id,
            reward_id=row.reward_id,
            backer_id=row.backer_id,
        ),
        aggregate_id=row.campaign_id,
        territory=runtime.territory(campaign.neighbourhood),
        actor=actor,
    )
    await record(session, event)


async def _stamp_once(
    session, runtime: ServiceRuntime, row, column: str, contract, *, now, actor: Principal
) -> dict:
    """Date the step on a deliverable pledge once; only the first call publishes its event."""
    _deliverable(row)
    done = await session.execute(
        update(pledges)
        .where(pledges.c.id == row.id, pledges.c[column].is_(None))
        .values({column: now})
    )
    if done.rowcount == 1:
        await _emit(session, runtime, row, contract, actor=actor.sub)
    return pledge_view(await get_pledge(session, row.id))


async def mark_delivered(
    session: AsyncSession,
    *,
    runtime: ServiceRuntime,
    pledge_id: str,
    principal: Principal,
    now: datetime,
) -> dict:
    row = await get_pledge(session, pledge_id)
    # Who asks comes first: a stranger learns nothing of the pledge's state.
    ensure_holder(await get_campaign(session, row.campaign_id), principal)
    return await _stamp_once(
        session, runtime, row, "reward_delivered_at", RewardDelivered, now=now, actor=principal
    )


async def confirm_received(
    session: AsyncSession,
    *,
    runtime: ServiceRuntime,
    pledge_id: str,
    principal: Principal,
    now: datetime,
) -> dict:
    row = await get_pledge(session, pledge_id)
    if row.backer_id != principal.sub:
        raise NotFound(f"No pledge {pledge_id}.", code="pledges.not_found")
    return await _stamp_once(
        session, runtime, row, "reward_received_at", RewardReceived, now=now, actor=principal
    )


async def backer_pledges(session: AsyncSession, *, backer_id: str) -> list[dict]:
    """A backer's pledges, newest first, with their campaign's title and reward's title."""
    rows = await session.execute(
        select(
            pledges,
            campaigns.c.title.label("campaign_title"),
            campaigns.c.state.label("campaign_state"),
            campaigns.c.deadline.label("campaign_deadline"),
            rewards.c.title.label("reward_title"),
        )
        .join(campaigns, campaigns.c.id == pledges.c.campaign_id)
        .outerjoin(rewards, rewards.c.id == pledges.c.reward_id)
        .where(pledges.c.backer_id == backer_id)
        .order_by(pledges.c.created_at.desc(), pledges.c.id)
    )
    out = []
    for row in rows.all():
        view = pledge_view(row)
        view["campaign_deadline"] = utc(view["campaign_deadline"])
        out.append(view)
    return out


async def edit_reward(
    session: AsyncSession,
    *,
    campaign_id: str,
    reward_id: str,
    principal: Principal,
    changes: dict,
) -> dict:
    """Title and description may be fixed any time; price and stock only before the review
    (backers and the reviewer rely on them)."""
    campaign = await get_campaign(session, campaign_id)
    ensure_holder(campaign, principal)
    domain.ensure_generic_edit(
        kind=campaign.kind, changes=changes, owned=domain.ENERGY_REWARD_FIELDS
    )
    terms = {k: v for k, v in changes.items() if k in ("min_cents", "stock")}
    if terms and campaign.state not in (domain.DRAFT, domain.REJECTED):
        raise Conflict(
            "A reward's minimum and stock are fixed once the campaign is submitted.",
            state=campaign.state,
            code="rewards.locked",
        )
    if "stock" in changes:
        changes["remaining"] = changes["stock"]
    if not changes:
        raise Conflict("Nothing to change.", code="rewards.nothing_to_change")
    done = await session.execute(
        update(rewards)
        .where(rewards.c.id == reward_id, rewards.c.campaign_id == campaign_id)
        .values(**changes)
    )
    if done.rowcount != 1:
        raise NotFound(f"No reward {reward_id} in this campaign.", code="rewards.not_found")
    row = (await session.execute(select(rewards).where(rewards.c.id == reward_id))).one()
    return dict(row._mapping)
