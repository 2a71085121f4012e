"""HTTP API of the crowdfunding service: thin translations to the use cases."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, field_validator

from libs.common.auth import (
    CurrentPrincipal,
    Holder,
    OptionalPrincipal,
    Reviewer,
    Staff,
    VerifiedMember,
)
from libs.common.clock import clock
from libs.common.openapi import problems
from libs.common.problems import NotFound
from libs.common.publictext import PseudonymousId, PublicText
from libs.common.runtime import Runtime
from libs.common.types import Cents, StrictFlag
from services.crowdfunding import (
    campaigns,
    domain,
    fulfilment,
    history,
    matching,
    pledges,
    settlement,
)
from services.crowdfunding.campaigns import campaign_view
from services.crowdfunding.matching import pool_view
from services.crowdfunding.payments import SandboxProvider
from services.crowdfunding.pledges import Crowdfunding, pledge_view
from services.crowdfunding.schemas import (
    CampaignDetailOut,
    CampaignOut,
    CampaignWithTotalsOut,
    CommissionRateOut,
    DeliveredOut,
    HistoricalCampaignOut,
    LeftoverOut,
    MyPledgeOut,
    PledgeOut,
    PoolOut,
    RateOut,
    ReviewOut,
    RewardOut,
    SandboxWebhookOut,
    SettlementRunOut,
    WebhookOut,
)

router = APIRouter(tags=["crowdfunding"])


async def get_cf(runtime: Runtime) -> Crowdfunding:
    return runtime.attached(Crowdfunding)


CF = Annotated[Crowdfunding, Depends(get_cf)]
# A positive amount: a JSON integer of cents, up to ten million euros.
Amount = Annotated[Cents, Field(gt=0, le=10_000_000_00)]


class CampaignIn(BaseModel):
    title: str = Field(min_length=3, max_length=200)
    description: str = Field("", max_length=20_000)
    category: str = Field(min_length=2, max_length=50)
    neighbourhood: str | None = Field(None, max_length=50)
    goal_cents: Amount
    duration_days: int = Field(ge=1, le=365)


class CampaignEdit(BaseModel):
    title: str | None = Field(None, min_length=3, max_length=200)
    description: str | None = Field(None, max_length=20_000)
    category: str | None = Field(None, min_length=2, max_length=50)
    neighbourhood: str | None = Field(None, max_length=50)
    goal_cents: Amount | None = None
    duration_days: int | None = Field(None, ge=1, le=365)


class RewardIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5_000)
    min_cents: Amount
    stock: int | None = Field(None, ge=1, le=1_000_000)


class RewardEdit(BaseModel):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=5_000)
    min_cents: Amount | None = None
    stock: int | None = Field(None, ge=1, le=1_000_000)


class ReviewIn(BaseModel):
    note: str = Field("", max_length=5_000)


class PledgeIn(BaseModel):
    amount_cents: Amount
    reward_id: str | None = None
    # None: the card is typed into the provider's own form in the browser (Stripe
    # Elements), never sent to us; the sandbox and Stripe's test cards take a token here.
    card_token: str | None = Field(None, min_length=3, max_length=100)


class DeskPledgeIn(BaseModel):
    backer_id: PseudonymousId = Field(min_length=1, max_length=100)
    backer_kind: Literal["resident", "organisation"] = "resident"
    verified_resident: StrictFlag = False
    backer_neighbourhood: str | None = Field(None, max_length=50)
    amount_cents: Amount
    method: Literal["cash", "cheque"]
    reward_id: str | None = None


class PayoutIn(BaseModel):
    reference: str = Field(min_length=1, max_length=200)


class RateIn(BaseModel):
    rate: str

    @field_validator("rate")
    @classmethod
    def _bounded(cls, value: str) -> str:
        return str(domain.parse_rate(value))


class PoolIn(BaseModel):
    name: PublicText = Field(min_length=3, max_length=200)
    budget_cents: Amount
    match_factor: str = "1"
    cap_per_pledge_cents: Amount | None = None
    cap_per_project_cents: Amount | None = None
    cap_per_backer_cents: Amount | None = None
    residents_only: StrictFlag = False
    neighbourhoods: list[str] | None = None
    categories: list[str] | None = None

    @field_validator("match_factor")
    @classmethod
    def _factor(cls, value: str) -> str:
        return str(domain.parse_factor(value))


class PoolFromLeftoverIn(BaseModel):
    name: PublicText = Field(min_length=3, max_length=200)
    match_factor: str = "1"
    cap_per_pledge_cents: Amount | None = None
    cap_per_project_cents: Amount | None = None
    cap_per_backer_cents: Amount | None = None
    residents_only: StrictFlag = False
    categories: list[str] | None = None

    @field_validator("match_factor")
    @classmethod
    def _factor(cls, value: str) -> str:
        return str(domain.parse_factor(value))


class AttachIn(BaseModel):
    pool_id: str


# --- campaigns --------------------------------------------------------------------------


@router.post("/campaigns", response_model=CampaignOut, status_code=201)
async def create_campaign(body: CampaignIn, principal: Holder, runtime: Runtime) -> dict:
    """Open a campaign draft (residents, organisations, or staff for a public project)."""
    async with runtime.unit_of_work() as session:
        row = await campaigns.create_campaign(
            session, runtime=runtime, principal=principal, now=clock.now(), **body.model_dump()
        )
        return campaign_view(row)


@router.post("/campaigns/history", response_model=HistoricalCampaignOut, status_code=201)
async def record_historical_campaign(
    body: history.ClosedCampaignIn, runtime: Runtime, staff: Staff
) -> dict:
    """Staff: record a campaign that closed before the platform (its events keep its dates)."""
    return await history.record_closed_campaign(runtime, body=body, staff_id=staff.sub)


@router.get(
    "/campaigns", response_model=list[CampaignWithTotalsOut], response_model_exclude_unset=True
)
async def list_campaigns(
    runtime: Runtime, principal: OptionalPrincipal, state: str | None = None
) -> list[dict]:
    """Campaigns, with the running total of live ones; drafts only for those who may see."""
    async with runtime.db.read() as session:
        return await campaigns.visible_campaigns(session, principal=principal, state=state)


@router.get(
    "/campaigns/{campaign_id}", response_model=CampaignDetailOut, response_model_exclude_unset=True
)
async def get_campaign(campaign_id: str, runtime: Runtime, principal: OptionalPrincipal) -> dict:
    async with runtime.db.read() as session:
        return await campaigns.campaign_detail(
            session, campaign_id=campaign_id, principal=principal
        )


@router.patch("/campaigns/{campaign_id}", response_model=CampaignOut)
async def edit_campaign(
    campaign_id: str, body: CampaignEdit, principal: CurrentPrincipal, runtime: Runtime
) -> dict:
    async with runtime.unit_of_work() as session:
        row = await campaigns.edit_draft(
            session,
            campaign_id=campaign_id,
            principal=principal,
            changes=body.model_dump(exclude_unset=True, exclude_none=True),
        )
        return campaign_view(row)


@router.post("/campaigns/{campaign_id}/rewards", response_model=RewardOut, status_code=201)
async def add_reward(
    campaign_id: str, body: RewardIn, principal: CurrentPrincipal, runtime: Runtime
) -> dict:
    async with runtime.unit_of_work() as session:
        return await campaigns.add_reward(
            session, campaign_id=campaign_id, principal=principal, **body.model_dump()
        )


@router.patch("/campaigns/{campaign_id}/rewards/{reward_id}", response_model=RewardOut)
async def edit_reward(
    campaign_id: str,
    reward_id: str,
    body: RewardEdit,
    principal: CurrentPrincipal,
    runtime: Runtime,
) -> dict:
    """Holder: fix a reward's title or description; its minimum and stock until submitted."""
    async with runtime.unit_of_work() as session:
        return await fulfilment.edit_reward(
            session,
            campaign_id=campaign_id,
            reward_id=reward_id,
            principal=principal,
            changes=body.model_dump(exclude_unset=True, exclude_none=True),
        )


@router.post("/campaigns/{campaign_id}/submit", response_model=CampaignOut)
async def submit(campaign_id: str, principal: CurrentPrincipal, runtime: Runtime) -> dict:
    async with runtime.unit_of_work() as session:
        row = await campaigns.submit(
            session, runtime=runtime, campaign_id=campaign_id, principal=principal, now=clock.now()
        )
        return campaign_view(row)


@router.post("/campaigns/{campaign_id}/review", response_model=ReviewOut)
async def review(campaign_id: str, body: ReviewIn, reviewer: Reviewer, runtime: Runtime) -> dict:
    """Check the fixed criteria (eligibility, coherent amount, 20–90 days); record why."""
    async with runtime.unit_of_work() as session:
        return await campaigns.review(
            session,
            runtime=runtime,
            campaign_id=campaign_id,
            reviewer=reviewer,
            note=body.note,
            now=clock.now(),
        )


@router.get("/campaigns/{campaign_id}/reviews", response_model=list[ReviewOut])
async def reviews(campaign_id: str, principal: CurrentPrincipal, runtime: Runtime) -> list[dict]:
    async with runtime.db.read() as session:
        return await campaigns.reviews_seen_by(
            session, campaign_id=campaign_id, principal=principal
        )


@router.post("/campaigns/{campaign_id}/launch", response_model=CampaignOut)
async def launch(campaign_id: str, principal: CurrentPrincipal, runtime: Runtime, cf: CF) -> dict:
    """Go live: the goal, the deadline and the commission (rate and base) are frozen."""
    async with runtime.unit_of_work() as session:
        row = await campaigns.launch(
            session,
            runtime=runtime,
            campaign_id=campaign_id,
            principal=principal,
            now=clock.now(),
            commission_base=cf.settings.commission_base,
        )
        return campaign_view(row)


@router.post("/campaigns/{campaign_id}/payout", response_model=CampaignOut)
async def payout(campaign_id: str, body: PayoutIn, staff: Staff, runtime: Runtime) -> dict:
    """Record the transfer of the net amount to the holder of a succeeded campaign."""
    async with runtime.unit_of_work() as session:
        row = await campaigns.pay_out(
            session,
            runtime=runtime,
            campaign_id=campaign_id,
            principal=staff,
            reference=body.reference,
            now=clock.now(),
        )
        return campaign_view(row)


@router.post("/campaigns/{campaign_id}/match-pool", response_model=CampaignOut)
async def attach_pool(campaign_id: str, body: AttachIn, staff: Staff, runtime: Runtime) -> dict:
    async with runtime.unit_of_work() as session:
        await matching.attach(session, campaign_id=campaign_id, pool_id=body.pool_id)
        return campaign_view(await campaigns.get_campaign(session, campaign_id))


# --- pledges ----------------------------------------------------------------------------


@router.post("/campaigns/{campaign_id}/pledges", response_model=PledgeOut, status_code=201)
async def make_pledge(campaign_id: str, body: PledgeIn, principal: VerifiedMember, cf: CF) -> dict:
    """Pledge: stock and match are reserved, the card is authorised (captured on success).
    Verified accounts only (403 verification-required else)."""
    row = await pledges.pledge(
        cf,
        campaign_id=campaign_id,
        principal=principal,
        amount_cents=body.amount_cents,
        reward_id=body.reward_id,
        card_token=body.card_token,
    )
    return pledge_view(row)


@router.post("/campaigns/{campaign_id}/desk-pledges", response_model=PledgeOut, status_code=201)
async def desk_pledge(campaign_id: str, body: DeskPledgeIn, staff: Staff, cf: CF) -> dict:
    """Staff record a cash or cheque pledge handed in at the town hall."""
    row = await pledges.record_desk_pledge(
        cf,
        campaign_id=campaign_id,
        staff=staff,
        backer_id=body.backer_id,
        backer_kind=body.backer_kind,
        backer_is_resident=body.backer_kind == "resident" and body.verified_resident,
        backer_neighbourhood=body.backer_neighbourhood,
        amount_cents=body.amount_cents,
        method=body.method,
        reward_id=body.reward_id,
    )
    return pledge_view(row)


@router.get(
    "/campaigns/{campaign_id}/pledges",
    response_model=list[PledgeOut],
    response_model_exclude_unset=True,
)
async def campaign_pledges(
    campaign_id: str, principal: CurrentPrincipal, runtime: Runtime
) -> list[dict]:
    async with runtime.db.read() as session:
        return await pledges.campaign_pledges(session, campaign_id=campaign_id, principal=principal)


@router.get("/pledges/{pledge_id}", response_model=PledgeOut)
async def get_pledge(pledge_id: str, principal: CurrentPrincipal, runtime: Runtime) -> dict:
    async with runtime.db.read() as session:
        return await pledges.pledge_seen_by(session, pledge_id=pledge_id, principal=principal)


@router.get("/me/pledges", response_model=list[MyPledgeOut])
async def my_pledges(principal: CurrentPrincipal, runtime: Runtime) -> list[dict]:
    """The caller's pledges, newest first, with their campaign and reward."""
    async with runtime.db.read() as session:
        return await fulfilment.backer_pledges(session, backer_id=principal.sub)


@router.post("/pledges/{pledge_id}/reward-delivered", response_model=PledgeOut)
async def reward_delivered(pledge_id: str, principal: CurrentPrincipal, runtime: Runtime) -> dict:
    """Holder: this backer's reward was handed over or sent (once; an event says so)."""
    async with runtime.unit_of_work() as session:
        return await fulfilment.mark_delivered(
            session, runtime=runtime, pledge_id=pledge_id, principal=principal, now=clock.now()
        )


@router.post("/pledges/{pledge_id}/reward-received", response_model=PledgeOut)
async def reward_received(pledge_id: str, principal: CurrentPrincipal, runtime: Runtime) -> dict:
    """Backer: I received my reward (once; an event says so)."""
    async with runtime.unit_of_work() as session:
        return await fulfilment.confirm_received(
            session, runtime=runtime, pledge_id=pledge_id, principal=principal, now=clock.now()
        )


@router.post("/pledges/{pledge_id}/cancel", response_model=PledgeOut)
async def cancel_pledge(pledge_id: str, principal: CurrentPrincipal, cf: CF) -> dict:
    """Cancel until 24 h before the deadline: the hold is voided."""
    return pledge_view(await pledges.cancel(cf, pledge_id=pledge_id, principal=principal))


# --- settlement -------------------------------------------------------------------------


@router.post("/settlement/run", response_model=SettlementRunOut, response_model_exclude_unset=True)
async def run_settlement(staff: Staff, cf: CF) -> dict:
    """Settle every campaign past its deadline (exactly once; safe to call any time)."""
    return {"settled": await settlement.settle_due(cf)}


# --- match pools and budget leftovers ---------------------------------------------------


@router.post("/match-pools", response_model=PoolOut, status_code=201)
async def create_pool(body: PoolIn, staff: Staff, runtime: Runtime) -> dict:
    values = body.model_dump()
    values["match_factor"] = Decimal(values["match_factor"])
    async with runtime.unit_of_work() as session:
        row = await matching.create_pool(
            session, runtime=runtime, principal=staff, now=clock.now(), **values
        )
        return pool_view(row)


@router.get("/match-pools", response_model=list[PoolOut])
async def list_pools(runtime: Runtime) -> list[dict]:
    async with runtime.db.read() as session:
        return await matching.list_pools(session)


@router.get("/match-pools/{pool_id}", response_model=PoolOut)
async def get_pool(pool_id: str, runtime: Runtime) -> dict:
    async with runtime.db.read() as session:
        return pool_view(await matching.get_pool(session, pool_id))


@router.get("/budget-leftovers", response_model=list[LeftoverOut])
async def leftovers(staff: Staff, runtime: Runtime) -> list[dict]:
    async with runtime.db.read() as session:
        return await matching.list_leftovers(session)


@router.post(
    "/budget-leftovers/{edition_id}/{envelope_id}/match-pool",
    response_model=PoolOut,
    status_code=201,
)
async def pool_from_leftover(
    edition_id: str, envelope_id: str, body: PoolFromLeftoverIn, staff: Staff, runtime: Runtime
) -> dict:
    """Turn a participatory budget's leftover into a match pool (once)."""
    values = body.model_dump()
    values["match_factor"] = Decimal(values["match_factor"])
    async with runtime.unit_of_work() as session:
        row = await matching.pool_from_leftover(
            session,
            runtime=runtime,
            principal=staff,
            now=clock.now(),
            edition_id=edition_id,
            envelope_id=envelope_id,
            **values,
        )
        return pool_view(row)


# --- platform ---------------------------------------------------------------------------


@router.get("/platform/commission-rate", response_model=CommissionRateOut)
async def commission_rate(runtime: Runtime, cf: CF) -> dict:
    """The commission a campaign launched now would freeze: its rate and what it is taken
    on (`raised`: the backers' money only; `raised_plus_match`: the city's match too)."""
    async with runtime.db.read() as session:
        return {
            "rate": str(await campaigns.platform_rate(session)),
            "base": cf.settings.commission_base,
        }


@router.put("/platform/commission-rate", response_model=RateOut)
async def set_commission_rate(body: RateIn, staff: Staff, runtime: Runtime) -> dict:
    """The rate applies to campaigns launched from now on; live ones keep theirs."""
    async with runtime.unit_of_work() as session:
        await campaigns.set_platform_rate(
            session, rate=Decimal(body.rate), principal=staff, now=clock.now()
        )
    return {"rate": body.rate}


# --- payments ---------------------------------------------------------------------------


@router.post(
    "/payments/webhooks/{provider}",
    response_model=WebhookOut,
    response_model_exclude_unset=True,
    responses=problems(400),  # a bad signature
    openapi_extra={  # the body is read raw (its signature covers the exact bytes)
        "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}}
    },
)
async def payment_webhook(provider: str, request: Request, cf: CF) -> dict:
    """Signed provider notifications; duplicates and stale ones change nothing."""
    if provider != cf.provider.name:
        raise NotFound(f"No payment provider {provider!r} here.")
    return await pledges.handle_webhook(cf, body=await request.body(), headers=request.headers)


def _sandbox(cf: Crowdfunding) -> SandboxProvider:
    if not isinstance(cf.provider, SandboxProvider):
        raise NotFound("The sandbox payment provider is not in use.")
    return cf.provider


@router.get("/sandbox/webhooks", response_model=list[SandboxWebhookOut], tags=["sandbox"])
async def sandbox_webhooks(staff: Staff, cf: CF, undelivered: bool = True) -> list[dict]:
    """The sandbox's webhooks, signed now (to replay them by hand in dev and tests)."""
    return await _sandbox(cf).signed_webhooks(undelivered_only=undelivered)


@router.post("/sandbox/webhooks/dispatch", response_model=DeliveredOut, tags=["sandbox"])
async def dispatch_sandbox_webhooks(staff: Staff, cf: CF) -> dict:
    """Deliver the sandbox's pending webhooks now (the background loop does it in dev)."""
    sent = await _sandbox(cf).dispatch_webhooks(
        lambda body, headers: pledges.handle_webhook(cf, body=body, headers=headers)
    )
    return {"delivered": sent}
