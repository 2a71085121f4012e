"""Events published by the crowdfunding service.

Amounts are integer cents. On success, `total_cents = raised_cents + matched_cents`,
`commission_cents` is computed once on `total_cents` (libs.common.money.apply_rate) and
`net_cents = total_cents - commission_cents`: they add up exactly. (Since
CROWDFUNDING_COMMISSION_BASE, the commission of a campaign launched with the default base,
`raised`, is computed on `raised_cents` alone; the sums above still hold.)

`deadline` is fixed when the campaign goes live (launch + its duration). Events sent
before the launch (drafted, submitted, approved, rejected) carry the deadline the
campaign would have if it were launched at that moment.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, model_validator

from libs.common.events import contract
from libs.common.publictext import PseudonymousId, PublicText

HolderKind = Literal["resident", "organisation", "staff"]


class CampaignFacts(BaseModel):
    campaign_id: str
    holder_id: PseudonymousId
    holder_kind: HolderKind
    category: str
    neighbourhood: str
    goal_cents: int
    deadline: datetime


@contract("crowdfunding.campaign.submitted", 1)
class CampaignSubmitted(CampaignFacts):
    pass


@contract("crowdfunding.campaign.approved", 1)
class CampaignApproved(CampaignFacts):
    pass


@contract("crowdfunding.campaign.rejected", 1)
class CampaignRejected(CampaignFacts):
    reasons: list[PublicText]


@contract("crowdfunding.campaign.launched", 1)
class CampaignLaunched(CampaignFacts):
    commission_rate: str  # a decimal string, e.g. "0.05"


@contract("crowdfunding.campaign.succeeded", 1)
class CampaignSucceeded(CampaignFacts):
    raised_cents: int  # captured from backers
    matched_cents: int  # released from the city's match pools
    total_cents: int
    commission_rate: str
    commission_cents: int
    net_cents: int  # paid to the holder
    backers: int

    @model_validator(mode="after")
    def _adds_up(self):
        if self.total_cents != self.raised_cents + self.matched_cents:
            raise ValueError("total_cents must equal raised_cents + matched_cents")
        if self.net_cents + self.commission_cents != self.total_cents:
            raise ValueError("net_cents + commission_cents must equal total_cents")
        return self


@contract("crowdfunding.campaign.failed", 1)
class CampaignFailed(CampaignFacts):
    pledged_cents: int  # authorised, never captured
    backers: int


@contract("crowdfunding.campaign.paid_out", 1)
class CampaignPaidOut(CampaignFacts):
    net_cents: int


class PledgeFacts(BaseModel):
    pledge_id: str
    campaign_id: str
    backer_id: PseudonymousId
    backer_kind: HolderKind
    backer_neighbourhood: str | None = None
    amount_cents: int
    matched_cents: int = 0
    channel: Literal["online", "desk"] = "online"


@contract("crowdfunding.pledge.made", 1)
class PledgeMade(PledgeFacts):
    pass


@contract("crowdfunding.pledge.cancelled", 1)
class PledgeCancelled(PledgeFacts):
    pass


@contract("crowdfunding.pledge.captured", 1)
class PledgeCaptured(PledgeFacts):
    pass


@contract("crowdfunding.pledge.refunded", 1)
class PledgeRefunded(PledgeFacts):
    pass


@contract("crowdfunding.matchpool.created", 1)
class MatchPoolCreated(BaseModel):
    pool_id: str
    name: PublicText
    budget_cents: int
    match_factor: str  # decimal string: "1" means 1:1
    from_budget_edition: str | None = None


@contract("crowdfunding.pledge.capture_failed", 1)
class PledgeCaptureFailed(PledgeFacts):
    """The campaign succeeded but this backer's card refused the capture: nothing taken."""

    reason: PublicText = ""


@contract("crowdfunding.campaign.drafted", 1)
class CampaignDrafted(CampaignFacts):
    """A campaign draft was opened, e.g. for a feasible but unselected PB proposal."""

    origin_proposal_id: str | None = None
    origin_edition_id: str | None = None


class RewardFacts(BaseModel):
    pledge_id: str
    campaign_id: str
    reward_id: str
    backer_id: str


@contract("crowdfunding.reward.delivered", 1)
class RewardDelivered(RewardFacts):
    """The holder says the backer's reward was handed over or sent (Goteo's fulfilment)."""


@contract("crowdfunding.reward.received", 1)
class RewardReceived(RewardFacts):
    """The backer confirms they received their reward."""


@contract("crowdfunding.energy.production_recorded", 1)
class EnergyProductionRecorded(BaseModel):
    """What a citizen energy installation produced in one month (watt-hours, >= 0).

    Recording the same (campaign_id, month) again replaces the earlier figure: consumers
    keep the latest by envelope time."""

    record_id: str
    campaign_id: str
    neighbourhood: str
    month: date  # the first day of the month
    wh: int

    @model_validator(mode="after")
    def _first_day_and_not_negative(self):
        if self.month.day != 1:
            raise ValueError("month is the first day of a month")
        if self.wh < 0:
            raise ValueError("wh is never negative")
        return self


@contract("crowdfunding.soup.pot_assigned", 1)
class SoupPotAssigned(BaseModel):
    """A Soup evening's pot goes to the project the diners voted for (budget's results)."""

    evening_id: str
    campaign_id: str
    edition_id: str
    proposal_id: str
    title: PublicText
    author_id: PseudonymousId | None = None
    neighbourhood: str
