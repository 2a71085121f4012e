"""Response models of the crowdfunding API: what each route answers, as `/openapi.json` says.

Views of a stored row keep any column they do not name (`extra="allow"`): a column added by
a migration reaches clients before its model names it, as it did when routes returned
dicts. Keys a view only sometimes has (running totals, a backer's payment handles) are
optional, and their routes answer with `response_model_exclude_unset=True`, so a key that
was absent stays absent rather than becoming `null`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, WithJsonSchema

# An instant some views pass on as the database returns it: on SQLite without its UTC
# offset. The schema says what is sent (an ISO 8601 string), not an RFC 3339 date-time.
StoredInstant = Annotated[
    datetime,
    WithJsonSchema(
        {"type": "string", "description": "ISO 8601 instant in UTC (no offset on SQLite)"}
    ),
]


class RowOut(BaseModel):
    model_config = ConfigDict(extra="allow")


class RewardOut(RowOut):
    id: str
    campaign_id: str
    title: str
    description: str
    min_cents: int
    stock: int | None  # None: unlimited
    remaining: int | None


class CampaignOut(RowOut):
    id: str
    holder_id: str
    holder_kind: str
    holder_verified: bool
    title: str
    description: str
    category: str
    neighbourhood: str
    goal_cents: int
    duration_days: int
    state: str
    commission_rate: str | None  # frozen at launch, a decimal string
    commission_base: str | None  # raised | raised_plus_match
    launched_at: datetime | None
    deadline: datetime | None
    match_pool_id: str | None
    origin_proposal_id: str | None  # a participatory-budget proposal turned campaign
    origin_edition_id: str | None
    created_at: datetime
    settle_outcome: str | None
    raised_cents: int | None
    matched_cents: int | None
    total_cents: int | None
    commission_cents: int | None
    net_cents: int | None
    backers: int | None
    settled_at: datetime | None
    payout_reference: str | None
    paid_out_at: datetime | None


class CampaignWithTotalsOut(CampaignOut):
    """A campaign with its running totals (present once it has a counted pledge)."""

    pledged_cents: int | None = None
    matched_reserved_cents: int | None = None
    backers_so_far: int | None = None


class CampaignDetailOut(CampaignWithTotalsOut):
    rewards: list[RewardOut]


class HistoricalCampaignOut(BaseModel):
    id: str
    state: str
    raised_cents: int
    matched_cents: int
    total_cents: int
    commission_cents: int
    net_cents: int


class ReviewOut(RowOut):
    id: str
    campaign_id: str
    reviewer_id: str
    approved: bool
    checks: dict[str, bool]  # criterion -> met
    reasons: list[str]
    note: str
    reviewed_at: StoredInstant


class PledgeOut(RowOut):
    """A pledge. The payment's handles and the 3-D Secure step are shown to the backer and
    staff only: a campaign's holder gets the pledge without them."""

    id: str
    campaign_id: str
    backer_id: str
    backer_kind: str
    backer_neighbourhood: str | None
    amount_cents: int
    reward_id: str | None
    channel: str  # online | desk
    method: str  # card | cash | cheque
    status: str
    provider: str | None
    failure: str | None
    match_pool_id: str | None
    matched_cents: int
    match_status: str
    recorded_by: str | None
    charge_id: str | None
    reward_delivered_at: StoredInstant | None
    reward_received_at: StoredInstant | None
    created_at: datetime
    updated_at: datetime
    payment_id: str | None = None
    customer_id: str | None = None
    method_id: str | None = None
    next_action_url: str | None = None
    client_secret: str | None = None


class MyPledgeOut(PledgeOut):
    """One of the caller's pledges, with its campaign and reward."""

    campaign_title: str
    campaign_state: str
    campaign_deadline: datetime | None
    reward_title: str | None


class PoolOut(RowOut):
    id: str
    name: str
    budget_cents: int
    reserved_cents: int  # released included
    released_cents: int
    available_cents: int
    match_factor: str  # a decimal string
    cap_per_pledge_cents: int | None
    cap_per_project_cents: int | None
    cap_per_backer_cents: int | None
    residents_only: bool
    neighbourhoods: list[str] | None  # None: every neighbourhood
    categories: list[str] | None  # None: every category
    from_budget_edition: str | None
    created_by: str
    created_at: StoredInstant


class LeftoverOut(RowOut):
    edition_id: str
    envelope_id: str
    district: str | None
    leftover_cents: int
    pool_id: str | None  # the match pool it became, once
    recorded_at: StoredInstant


class SettledCampaignOut(RowOut):
    """A campaign settled by this pass: its outcome and the figures of its event."""

    campaign_id: str
    outcome: str
    holder_id: str
    holder_kind: str
    category: str
    neighbourhood: str
    goal_cents: int
    deadline: str
    backers: int
    pledged_cents: int | None = None  # failed
    raised_cents: int | None = None  # succeeded
    matched_cents: int | None = None
    total_cents: int | None = None
    commission_rate: str | None = None
    commission_cents: int | None = None
    net_cents: int | None = None


class SettlementRunOut(BaseModel):
    settled: list[SettledCampaignOut]


class CommissionRateOut(BaseModel):
    rate: str  # a decimal string, e.g. "0.05"
    base: str  # raised | raised_plus_match


class RateOut(BaseModel):
    rate: str


class WebhookOut(BaseModel):
    status: str  # applied | no-change | duplicate | ignored
    event_id: str
    reason: str | None = None  # why it was ignored


class SandboxWebhookOut(BaseModel):
    id: str
    body: str
    headers: dict[str, str]


class DeliveredOut(BaseModel):
    delivered: int
