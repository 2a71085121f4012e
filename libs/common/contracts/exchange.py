"""Events published by the exchange service (members, items, loans, services, credits).

Members appear as pseudonymous ids; neighbourhoods as codes. No names, no addresses: ids of
people are `PseudonymousId`s and free text is `PublicText` (libs/common/publictext.py).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

from libs.common.events import contract
from libs.common.publictext import PseudonymousId, PublicText
from libs.common.taxonomy import MemberKind, ServiceKind

__all__ = ["MemberKind", "ServiceKind"]  # re-exported: their one home is libs.common.taxonomy


@contract("exchange.member.joined", 1)
class MemberJoined(BaseModel):
    member_id: PseudonymousId
    kind: MemberKind
    neighbourhood: str


@contract("exchange.item.listed", 1)
class ItemListed(BaseModel):
    item_id: str
    owner_id: PseudonymousId
    category: str
    neighbourhood: str
    deposit_cents: int = 0
    max_loan_days: int


@contract("exchange.item.withdrawn", 1)
class ItemWithdrawn(BaseModel):
    item_id: str
    category: str
    neighbourhood: str


class LoanFacts(BaseModel):
    """What every loan event carries, so a consumer never needs the item's history."""

    loan_id: str
    item_id: str
    category: str
    lender_id: PseudonymousId
    borrower_id: PseudonymousId
    lender_neighbourhood: str
    borrower_neighbourhood: str
    starts_on: date
    due_on: date
    days: int  # days planned (requested period), inclusive
    requested_at: datetime
    # The deposit as it stands when the event is written (optional: absent before v1.1).
    deposit_cents: int | None = None  # held, or asked for while not held yet
    deposit_state: Literal["none", "held", "returned", "kept"] | None = None
    deposit_kept_cents: int | None = None  # kept, with a reason told to both parties


@contract("exchange.loan.requested", 1)
class LoanRequested(LoanFacts):
    pass


@contract("exchange.loan.accepted", 1)
class LoanAccepted(LoanFacts):
    pass


@contract("exchange.loan.declined", 1)
class LoanDeclined(LoanFacts):
    pass


@contract("exchange.loan.cancelled", 1)
class LoanCancelled(LoanFacts):
    pass


@contract("exchange.loan.picked_up", 1)
class LoanPickedUp(LoanFacts):
    pass


@contract("exchange.loan.overdue", 1)
class LoanOverdue(LoanFacts):
    pass


@contract("exchange.loan.disputed", 1)
class LoanDisputed(LoanFacts):
    pass


@contract("exchange.loan.returned", 1)
class LoanReturned(LoanFacts):
    days_lent: int  # days the item was actually out, from pick-up to return
    condition: PublicText


@contract("exchange.service.listed", 1)
class ServiceListed(BaseModel):
    service_id: str
    member_id: PseudonymousId
    kind: ServiceKind
    direction: Literal["offer", "request"]
    neighbourhood: str


@contract("exchange.service.completed", 1)
class ServiceCompleted(BaseModel):
    service_id: str
    kind: ServiceKind
    provider_id: PseudonymousId
    receiver_id: PseudonymousId
    provider_neighbourhood: str
    receiver_neighbourhood: str
    minutes: int
    km: float | None = None  # carpooling: route km travelled with the passenger(s)
    passengers: int | None = None  # carpooling: passengers carried
    repaired_category: str | None = None  # repair: the item category that was repaired
    settled_in_credits: bool = False


@contract("exchange.credits.transferred", 1)
class CreditsTransferred(BaseModel):
    transfer_id: str
    minutes: int
    from_account: PseudonymousId
    to_account: PseudonymousId
    from_neighbourhood: str | None = None
    to_neighbourhood: str | None = None
    reason: Literal["service", "paper", "correction", "gift"] = "service"
    reverses: str | None = None  # a correction names the transfer it reverses
