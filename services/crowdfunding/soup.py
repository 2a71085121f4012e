"""The Soup evening: diners' entry fees fund the project they vote for that night.

The evening's pot is a campaign of kind "soup", opened live by staff for a few hours:
entry fees are ordinary pledges (at the desk or by card), with their stock, match and
settlement rules. The vote is a budget edition of kind "soup" (single choice among the
shortlisted projects). When budget publishes its results, `assign_winner` records the
winner and closes the pot; settlement then captures the fees, takes the platform's usual
commission, and `pay_winner` pays the net to the winner. Each step leaves its event.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.contracts.budget import ResultsPublished
from libs.common.contracts.crowdfunding import CampaignLaunched, SoupPotAssigned
from libs.common.events import make_event
from libs.common.ids import new_id
from libs.common.logs import get_logger
from libs.common.outbox import record
from libs.common.problems import Conflict, NotFound
from libs.common.runtime import ServiceRuntime
from services.crowdfunding import campaigns, domain
from services.crowdfunding.db import campaigns as campaigns_table
from services.crowdfunding.db import soup_evenings, utc

log = get_logger(__name__)
OPEN, ASSIGNED, NO_WINNER, PAID_OUT = "open", "assigned", "no_winner", "paid_out"


async def open_evening(
    *,
    session: AsyncSession,
    runtime: ServiceRuntime,
    staff: Principal,
    edition_id: str,
    title: str,
    neighbourhood: str,
    entry_fee_cents: int,
    hours: int,
    commission_base: str,
    now: datetime,
) -> dict:
    """Open the evening's pot, live at once: staff run the evening, no review is needed.
    The platform's commission rate of this moment is frozen on it, as at any launch."""
    taken = await session.scalar(
        select(soup_evenings.c.id).where(soup_evenings.c.edition_id == edition_id)
    )
    if taken:
        raise Conflict(
            "This vote already has its Soup evening.",
            code="soup.edition_taken",
            params={"edition_id": edition_id},
        )
    row = await campaigns.create_campaign(
        session,
        runtime=runtime,
        principal=staff,
        title=title,
        description="",
        category=domain.SOUP_CATEGORY,
        neighbourhood=neighbourhood,
        goal_cents=domain.SOUP_GOAL_CENTS,
        duration_days=1,
        now=now,
        holder_kind="staff",
    )
    rate = await campaigns.platform_rate(session)
    await session.execute(
        update(campaigns_table)
        .where(campaigns_table.c.id == row.id, campaigns_table.c.state == domain.DRAFT)
        .values(
            kind=domain.SOUP,
            state=domain.LIVE,
            launched_at=now,
            deadline=now + timedelta(hours=hours),
            commission_rate=str(rate),
            commission_base=commission_base,
        )
    )
    row = await campaigns.get_campaign(session, row.id)
    await record(
        session,
        make_event(
            CampaignLaunched(**campaigns.facts(row, now=now), commission_rate=str(rate)),
            aggregate_id=row.id,
            territory=runtime.territory(row.neighbourhood),
            actor=staff.sub,
        ),
    )
    evening_id = new_id()
    await session.execute(
        insert(soup_evenings).values(
            id=evening_id,
            campaign_id=row.id,
            edition_id=edition_id,
            title=title,
            neighbourhood=neighbourhood,
            entry_fee_cents=entry_fee_cents,
            state=OPEN,
            created_by=staff.sub,
            created_at=now,
        )
    )
    return await get_evening(session=session, evening_id=evening_id)


def _view(evening: Any, campaign: Any, totals: dict) -> dict:
    return {
        "id": evening.id,
        "campaign_id": evening.campaign_id,
        "edition_id": evening.edition_id,
        "title": evening.title,
        "neighbourhood": evening.neighbourhood,
        "entry_fee_cents": evening.entry_fee_cents,
        "state": evening.state,
        "pot_state": campaign.state,
        "deadline": utc(campaign.deadline),
        "pledged_cents": totals.get("pledged_cents", 0),
        "diners": totals.get("backers_so_far", 0),
        "commission_rate": campaign.commission_rate,
        "commission_cents": campaign.commission_cents,
        "net_cents": campaign.net_cents,
        "payout_reference": campaign.payout_reference,
        "winner": (
            {
                "proposal_id": evening.winner_proposal_id,
                "title": evening.winner_title,
                "author_id": evening.winner_author_id,
            }
            if evening.winner_proposal_id
            else None
        ),
        "assigned_at": utc(evening.assigned_at),
    }


async def get_evening(*, session: AsyncSession, evening_id: str) -> dict:
    evening = (
        await session.execute(select(soup_evenings).where(soup_evenings.c.id == evening_id))
    ).one_or_none()
    if evening is None:
        raise NotFound(f"No Soup evening {evening_id}.", code="soup.not_found")
    campaign = await campaigns.get_campaign(session, evening.campaign_id)
    totals = await campaigns.running_totals(session, [campaign.id])
    return _view(evening, campaign, totals.get(campaign.id, {}))


async def list_evenings(*, session: AsyncSession) -> list[dict]:
    ids = await session.scalars(select(soup_evenings.c.id).order_by(soup_evenings.c.created_at))
    return [await get_evening(session=session, evening_id=i) for i in list(ids)]


async def assign_winner(
    *, session: AsyncSession, runtime: ServiceRuntime, results: ResultsPublished, now: datetime
) -> None:
    """Budget's results of a Soup vote: the winner takes the pot, pledges close now."""
    evening = (
        await session.execute(
            select(soup_evenings).where(soup_evenings.c.edition_id == results.edition_id)
        )
    ).one_or_none()
    if evening is None:
        log.warning("soup results without an evening", edition_id=results.edition_id)
        return
    if evening.state != OPEN:
        return  # redelivered news: the pot was assigned once
    winner = domain.soup_winner([p for e in results.envelopes for p in e.selected])
    values: dict = {"state": NO_WINNER if winner is None else ASSIGNED, "assigned_at": now}
    if winner is not None:
        values.update(
            winner_proposal_id=winner.proposal_id,
            winner_title=winner.title,
            winner_author_id=winner.author_id,
        )
    moved = await session.execute(
        update(soup_evenings)
        .where(soup_evenings.c.id == evening.id, soup_evenings.c.state == OPEN)
        .values(**values)
    )
    if moved.rowcount != 1:
        return
    # The vote is over: the pot takes no more fees and settles on the next pass.
    await session.execute(
        update(campaigns_table)
        .where(
            campaigns_table.c.id == evening.campaign_id,
            campaigns_table.c.state == domain.LIVE,
            campaigns_table.c.deadline > now,
        )
        .values(deadline=now)
    )
    if winner is None:
        return
    await record(
        session,
        make_event(
            SoupPotAssigned(
                evening_id=evening.id,
                campaign_id=evening.campaign_id,
                edition_id=evening.edition_id,
                proposal_id=winner.proposal_id,
                title=winner.title,
                author_id=winner.author_id,
                neighbourhood=evening.neighbourhood,
            ),
            aggregate_id=evening.campaign_id,
            territory=runtime.territory(evening.neighbourhood),
            actor=None,
        ),
    )
    await pay_winner(session=session, runtime=runtime, campaign_id=evening.campaign_id, now=now)


async def pay_winner(
    *, session: AsyncSession, runtime: ServiceRuntime, campaign_id: str, now: datetime
) -> None:
    """Pay the net of a succeeded pot to its evening's winner, once both are known (the
    results may come before or after settlement: whichever comes second pays)."""
    evening = (
        await session.execute(
            select(soup_evenings).where(
                soup_evenings.c.campaign_id == campaign_id, soup_evenings.c.state == ASSIGNED
            )
        )
    ).one_or_none()
    campaign = await campaigns.get_campaign(session, campaign_id)
    if evening is None or campaign.state != domain.SUCCEEDED:
        return
    await campaigns.pay_out(
        session,
        runtime=runtime,
        campaign_id=campaign_id,
        principal=Principal(sub=evening.created_by, roles=frozenset({"staff"})),
        reference=f"soup:{evening.id}:{evening.winner_proposal_id}",
        now=now,
    )
    await session.execute(
        update(soup_evenings)
        .where(soup_evenings.c.id == evening.id, soup_evenings.c.state == ASSIGNED)
        .values(state=PAID_OUT)
    )
