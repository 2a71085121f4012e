"""Campaigns that closed before the territory moved onto Sharitories.

A city that ran campaigns elsewhere (Bulb in Landes, a previous platform, a paper
subscription) wants its impact report to cover that history. Staff record each closed
campaign once, with its real dates and amounts; it is stored closed (paid out or failed)
and its `campaign.succeeded` / `campaign.failed` event carries the real closing date, so
every report puts it in the right period. The commission is computed with the same rule
as a live settlement: never typed in.
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from libs.common.clock import clock
from libs.common.contracts.crowdfunding import CampaignFailed, CampaignSucceeded
from libs.common.events import make_event
from libs.common.ids import new_id
from libs.common.outbox import record
from libs.common.problems import Invalid
from libs.common.publictext import PseudonymousId
from libs.common.runtime import ServiceRuntime
from libs.common.types import Cents, CivicDateTime
from services.crowdfunding import domain
from services.crowdfunding.campaigns import facts, get_campaign
from services.crowdfunding.db import campaigns


class ClosedCampaignIn(BaseModel):
    title: str = Field(min_length=3, max_length=200)
    category: str = Field(min_length=2, max_length=50)
    neighbourhood: str = Field(min_length=1, max_length=50)
    holder_id: PseudonymousId = Field(min_length=1, max_length=100)
    holder_kind: Literal["resident", "organisation", "staff"]
    goal_cents: Cents = Field(gt=0, le=10**10)
    raised_cents: Cents = Field(ge=0, le=10**10, description="paid by backers")
    matched_cents: Cents = Field(0, ge=0, le=10**10, description="paid by the city")
    commission_rate: Decimal = Field(Decimal("0.05"), ge=0, le=Decimal("0.10"))
    backers: int = Field(ge=0, le=10**7)
    launched_at: CivicDateTime
    closed_at: CivicDateTime

    @model_validator(mode="after")
    def _closed_in_the_past(self):
        for name in ("launched_at", "closed_at"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"{name} must carry a timezone")
        if self.closed_at <= self.launched_at:
            raise ValueError("closed_at must come after launched_at")
        return self

    @property
    def succeeded(self) -> bool:
        return domain.campaign_reaches_goal(
            goal_cents=self.goal_cents,
            pledged_cents=self.raised_cents,
            matched_cents=self.matched_cents,
        )


async def record_closed_campaign(
    runtime: ServiceRuntime, *, body: ClosedCampaignIn, staff_id: str
) -> dict:
    """Store one closed campaign and publish its outcome, dated when it closed."""
    if body.closed_at > clock.now():
        raise Invalid(
            "A historical campaign must have closed already.",
            field="body.closed_at",
            code="history.not_closed",
        )
    campaign_id = new_id()
    rate = body.commission_rate
    row = {
        "id": campaign_id,
        "holder_id": body.holder_id,
        "holder_kind": body.holder_kind,
        "holder_verified": True,
        "title": body.title,
        "description": f"Recorded from history by {staff_id}.",
        "category": body.category,
        "neighbourhood": body.neighbourhood,
        "goal_cents": body.goal_cents,
        "duration_days": max(1, (body.closed_at - body.launched_at).days),
        "commission_rate": str(rate),
        "launched_at": body.launched_at.astimezone(UTC),
        "deadline": body.closed_at.astimezone(UTC),
        "created_at": clock.now(),
        "settled_at": body.closed_at.astimezone(UTC),
        "backers": body.backers,
    }
    if body.succeeded:
        figures = domain.settle(
            raised_cents=body.raised_cents,
            matched_cents=body.matched_cents,
            rate=rate,
            # Campaigns closed before the platform were charged on their whole total.
            base=domain.RAISED_PLUS_MATCH,
        )
        row.update(
            state=domain.PAID_OUT,
            settle_outcome=domain.SUCCEEDED,
            raised_cents=figures.raised_cents,
            matched_cents=figures.matched_cents,
            total_cents=figures.total_cents,
            commission_cents=figures.commission_cents,
            net_cents=figures.net_cents,
            paid_out_at=body.closed_at.astimezone(UTC),
            payout_reference="historical",
        )
    else:
        row.update(
            state=domain.FAILED,
            settle_outcome=domain.FAILED,
            raised_cents=0,
            matched_cents=0,
            total_cents=0,
            commission_cents=0,
            net_cents=0,
        )
    async with runtime.unit_of_work() as session:
        await session.execute(campaigns.insert().values(**row))
        stored = await get_campaign(session, campaign_id)
        base = facts(stored, now=body.closed_at)
        if body.succeeded:
            data = CampaignSucceeded(
                **base,
                raised_cents=figures.raised_cents,
                matched_cents=figures.matched_cents,
                total_cents=figures.total_cents,
                commission_rate=str(rate),
                commission_cents=figures.commission_cents,
                net_cents=figures.net_cents,
                backers=body.backers,
            )
        else:
            data = CampaignFailed(**base, pledged_cents=body.raised_cents, backers=body.backers)
        await record(
            session,
            make_event(
                data,
                aggregate_id=campaign_id,
                territory=runtime.territory(body.neighbourhood),
                occurred_at=body.closed_at,
            ),
        )
    return {
        "id": campaign_id,
        "state": row["state"],
        "raised_cents": row["raised_cents"],
        "matched_cents": row["matched_cents"],
        "total_cents": row["total_cents"],
        "commission_cents": row["commission_cents"],
        "net_cents": row["net_cents"],
    }
