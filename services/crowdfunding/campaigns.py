"""Campaign use cases: drafts, rewards, review, launch, payout. One transaction each."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.contracts.crowdfunding import (
    CampaignApproved,
    CampaignDrafted,
    CampaignLaunched,
    CampaignPaidOut,
    CampaignRejected,
    CampaignSubmitted,
)
from libs.common.events import make_event
from libs.common.ids import new_id
from libs.common.outbox import record
from libs.common.problems import Conflict, Forbidden, Invalid, NotFound
from libs.common.runtime import ServiceRuntime
from libs.common.taxonomy import PUBLIC_CAMPAIGN_STATES
from services.crowdfunding import domain
from services.crowdfunding.db import campaigns, platform_settings, pledges, reviews, rewards, utc

COMMISSION_KEY = "commission_rate"


def campaign_view(row: Any) -> dict:
    data = dict(row._mapping)
    for key in ("launched_at", "deadline", "created_at", "settled_at", "paid_out_at"):
        data[key] = utc(data[key])
    data.pop("settle_lease_until", None)
    return data


def facts(row: Any, *, now: datetime) -> dict:
    deadline = utc(row.deadline) or now + timedelta(days=row.duration_days)
    return {
        "campaign_id": row.id,
        "holder_id": row.holder_id,
        "holder_kind": row.holder_kind,
        "category": row.category,
        "neighbourhood": row.neighbourhood,
        "goal_cents": row.goal_cents,
        "deadline": deadline,
    }


async def get_campaign(session: AsyncSession, campaign_id: str, *, share_lock: bool = False):
    query = select(campaigns).where(campaigns.c.id == campaign_id)
    if share_lock and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise NotFound(f"No campaign {campaign_id}.", code="campaigns.not_found")
    return row


def ensure_holder(row: Any, principal: Principal) -> None:
    if row.holder_id != principal.sub and not principal.has("staff"):
        raise Forbidden(
            "Only the campaign's holder (or staff) may do this.", code="campaigns.not_holder"
        )


async def _emit(session, runtime: ServiceRuntime, row, contract, *, actor, now, **extra):
    event = make_event(
        contract(**facts(row, now=now), **extra),
        aggregate_id=row.id,
        territory=runtime.territory(row.neighbourhood),
        actor=actor,
    )
    await record(session, event)


async def _move(session, campaign_id: str, *, current: str, target: str, **values) -> None:
    """The conditional state change: it only happens from the state we read."""
    domain.ensure_transition(current, target)
    result = await session.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign_id, campaigns.c.state == current)
        .values(state=target, **values)
    )
    if result.rowcount != 1:
        raise Conflict(
            "The campaign changed meanwhile; reload it and try again.", code="campaigns.changed"
        )


async def create_campaign(
    session: AsyncSession,
    *,
    runtime: ServiceRuntime,
    principal: Principal,
    title: str,
    description: str,
    category: str,
    neighbourhood: str | None,
    goal_cents: int,
    duration_days: int,
    now: datetime,
    origin: tuple[str, str] | None = None,
    holder_id: str | None = None,
    holder_kind: str | None = None,
) -> Any:
    campaign_id = new_id()
    if not (neighbourhood or principal.neighbourhood):
        raise Invalid(
            "Say in which neighbourhood the project happens.",
            field="body.neighbourhood",
            code="campaigns.neighbourhood_missing",
        )
    await session.execute(
        insert(campaigns).values(
            id=campaign_id,
            holder_id=holder_id or principal.sub,
            holder_kind=holder_kind or principal.kind,
            holder_verified=principal.verified or principal.has("organisation", "staff"),
            title=title,
            description=description,
            category=category,
            neighbourhood=neighbourhood or principal.neighbourhood,
            goal_cents=goal_cents,
            duration_days=duration_days,
            state=domain.DRAFT,
            origin_edition_id=origin[0] if origin else None,
            origin_proposal_id=origin[1] if origin else None,
            created_at=now,
        )
    )
    row = await get_campaign(session, campaign_id)
    await _emit(
        session,
        runtime,
        row,
        CampaignDrafted,
        actor=row.holder_id,
        now=now,
        origin_edition_id=row.origin_edition_id,
        origin_proposal_id=row.origin_proposal_id,
    )
    return row


async def edit_draft(
    session: AsyncSession, *, campaign_id: str, principal: Principal, changes: dict
) -> Any:
    row = await get_campaign(session, campaign_id)
    ensure_holder(row, principal)
    if row.state not in (domain.DRAFT, domain.REJECTED):
        raise Conflict(
            f"A {row.state} campaign cannot be edited: goal and duration are locked.",
            state=row.state,
            code="campaigns.locked",
            params={"state": row.state},
        )
    domain.ensure_generic_edit(kind=row.kind, changes=changes, owned=domain.ENERGY_CAMPAIGN_FIELDS)
    if changes:
        values = dict(changes)
        if row.state == domain.REJECTED:  # editing a rejected campaign reopens the draft
            domain.ensure_transition(row.state, domain.DRAFT)
            values["state"] = domain.DRAFT
        await session.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id, campaigns.c.state == row.state)
            .values(**values)
        )
    return await get_campaign(session, campaign_id)


async def add_reward(
    session: AsyncSession,
    *,
    campaign_id: str,
    principal: Principal,
    title: str,
    min_cents: int,
    stock: int | None,
    description: str = "",
) -> dict:
    row = await get_campaign(session, campaign_id)
    ensure_holder(row, principal)
    domain.ensure_reward_addable(kind=row.kind)
    if row.state != domain.DRAFT:
        raise Conflict(
            "Rewards are set while the campaign is a draft.",
            state=row.state,
            code="rewards.draft_only",
        )
    reward = {
        "id": new_id(),
        "campaign_id": campaign_id,
        "title": title,
        "description": description,
        "min_cents": min_cents,
        "stock": stock,
        "remaining": stock,
    }
    await session.execute(insert(rewards).values(**reward))
    return reward


async def list_rewards(session: AsyncSession, campaign_id: str) -> list[dict]:
    rows = await session.execute(
        select(rewards).where(rewards.c.campaign_id == campaign_id).order_by(rewards.c.min_cents)
    )
    return [dict(r._mapping) for r in rows]


async def submit(
    session, *, runtime: ServiceRuntime, campaign_id: str, principal: Principal, now: datetime
):
    row = await get_campaign(session, campaign_id)
    ensure_holder(row, principal)
    await _move(session, campaign_id, current=row.state, target=domain.SUBMITTED)
    await _emit(session, runtime, row, CampaignSubmitted, actor=row.holder_id, now=now)
    return await get_campaign(session, campaign_id)


async def review(
    session,
    *,
    runtime: ServiceRuntime,
    campaign_id: str,
    reviewer: Principal,
    note: str,
    now: datetime,
) -> dict:
    """Check the criteria fixed in advance; record the review and its reasons."""
    row = await get_campaign(session, campaign_id)
    if row.holder_id == reviewer.sub:
        raise Forbidden("Nobody reviews their own campaign.", code="campaigns.own_review")
    minimums = tuple(r["min_cents"] for r in await list_rewards(session, campaign_id))
    verdict = domain.review(
        domain.CampaignDraft(
            holder_kind=row.holder_kind,
            holder_verified=row.holder_verified,
            category=row.category,
            goal_cents=row.goal_cents,
            duration_days=row.duration_days,
            reward_minimums_cents=minimums,
        )
    )
    target = domain.APPROVED if verdict.approved else domain.REJECTED
    await _move(session, campaign_id, current=row.state, target=target)
    review_row = {
        "id": new_id(),
        "campaign_id": campaign_id,
        "reviewer_id": reviewer.sub,
        "approved": verdict.approved,
        "checks": verdict.checks,
        "reasons": verdict.reasons,
        "note": note,
        "reviewed_at": now,
    }
    await session.execute(insert(reviews).values(**review_row))
    if verdict.approved:
        await _emit(session, runtime, row, CampaignApproved, actor=reviewer.sub, now=now)
    else:
        await _emit(
            session,
            runtime,
            row,
            CampaignRejected,
            actor=reviewer.sub,
            now=now,
            reasons=verdict.reasons,
        )
    return review_row


# Drafts, submissions and reviews are seen by their holder, reviewers and staff only.


def may_see(row: Any, principal: Principal | None) -> bool:
    if row.state in PUBLIC_CAMPAIGN_STATES:
        return True
    return principal is not None and (
        principal.sub == row.holder_id or principal.has("reviewer", "staff")
    )


async def visible_campaigns(
    session: AsyncSession, *, principal: Principal | None, state: str | None = None
) -> list[dict]:
    """Campaigns the caller may see, oldest first, with the running totals of live ones."""
    query = select(campaigns).order_by(campaigns.c.created_at)
    if state:
        query = query.where(campaigns.c.state == state)
    rows = [r for r in (await session.execute(query)).all() if may_see(r, principal)]
    totals = await running_totals(session, [r.id for r in rows])
    return [{**campaign_view(r), **totals.get(r.id, {})} for r in rows]


async def campaign_detail(
    session: AsyncSession, *, campaign_id: str, principal: Principal | None
) -> dict:
    """One campaign with its running totals and rewards; a hidden one is not found."""
    row = await get_campaign(session, campaign_id)
    if not may_see(row, principal):
        raise NotFound(f"No campaign {campaign_id}.", code="campaigns.not_found")
    view = campaign_view(row)
    view.update((await running_totals(session, [campaign_id])).get(campaign_id, {}))
    view["rewards"] = await list_rewards(session, campaign_id)
    return view


async def reviews_seen_by(
    session: AsyncSession, *, campaign_id: str, principal: Principal
) -> list[dict]:
    row = await get_campaign(session, campaign_id)
    if row.holder_id != principal.sub and not principal.has("staff", "reviewer"):
        raise Forbidden(
            "Reviews are shown to the holder, reviewers and staff.", code="campaigns.not_holder"
        )
    return await list_reviews(session, campaign_id)


async def list_reviews(session, campaign_id: str) -> list[dict]:
    rows = await session.execute(
        select(reviews).where(reviews.c.campaign_id == campaign_id).order_by(reviews.c.reviewed_at)
    )
    return [dict(r._mapping) for r in rows]


async def platform_rate(session) -> Decimal:
    value = await session.scalar(
        select(platform_settings.c.value).where(platform_settings.c.key == COMMISSION_KEY)
    )
    return Decimal(value) if value is not None else domain.DEFAULT_COMMISSION_RATE


async def set_platform_rate(session, *, rate: Decimal, principal: Principal, now: datetime):
    updated = await session.execute(
        update(platform_settings)
        .where(platform_settings.c.key == COMMISSION_KEY)
        .values(value=str(rate), updated_by=principal.sub, updated_at=now)
    )
    if updated.rowcount == 0:
        await session.execute(
            insert(platform_settings).values(
                key=COMMISSION_KEY, value=str(rate), updated_by=principal.sub, updated_at=now
            )
        )


async def launch(
    session,
    *,
    runtime: ServiceRuntime,
    campaign_id: str,
    principal: Principal,
    now: datetime,
    commission_base: str = domain.DEFAULT_COMMISSION_BASE,
):
    """Go live: the deadline and the platform's commission (rate and base) are frozen now."""
    row = await get_campaign(session, campaign_id)
    ensure_holder(row, principal)
    rate = await platform_rate(session)
    deadline = domain.deadline_for(now, row.duration_days)
    await _move(
        session,
        campaign_id,
        current=row.state,
        target=domain.LIVE,
        launched_at=now,
        deadline=deadline,
        commission_rate=str(rate),
        commission_base=commission_base,
    )
    row = await get_campaign(session, campaign_id)
    await _emit(
        session,
        runtime,
        row,
        CampaignLaunched,
        actor=principal.sub,
        now=now,
        commission_rate=str(rate),
    )
    return row


async def pay_out(
    session,
    *,
    runtime: ServiceRuntime,
    campaign_id: str,
    principal: Principal,
    reference: str,
    now: datetime,
):
    """Staff record the transfer of the net amount to the holder."""
    row = await get_campaign(session, campaign_id)
    await _move(
        session,
        campaign_id,
        current=row.state,
        target=domain.PAID_OUT,
        payout_reference=reference,
        paid_out_at=now,
    )
    await _emit(
        session,
        runtime,
        row,
        CampaignPaidOut,
        actor=principal.sub,
        now=now,
        net_cents=row.net_cents,
    )
    return await get_campaign(session, campaign_id)


async def running_totals(session: AsyncSession, campaign_ids: list[str]) -> dict[str, dict]:
    """Pledged so far (authorised or captured), city match reserved, and backers."""
    if not campaign_ids:
        return {}
    counted = (domain.ACTIVE, domain.CAPTURED)
    rows = await session.execute(
        select(
            pledges.c.campaign_id,
            func.coalesce(func.sum(pledges.c.amount_cents), 0),
            func.coalesce(func.sum(pledges.c.matched_cents), 0),
            func.count(func.distinct(pledges.c.backer_id)),
        )
        .where(pledges.c.campaign_id.in_(campaign_ids), pledges.c.status.in_(counted))
        .group_by(pledges.c.campaign_id)
    )
    return {
        cid: {"pledged_cents": int(p), "matched_reserved_cents": int(m), "backers_so_far": n}
        for cid, p, m, n in rows.all()
    }
