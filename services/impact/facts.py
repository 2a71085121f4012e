"""From one event to its facts: pure functions, no I/O, no clock.

`facts_of(envelope)` turns an event into the rows it contributes to `impact_fact` and
`impact_activity`. Each row depends on that event alone, which is what makes the projection
order-independent (a loan.returned before its loan.requested lands the same rows) and what lets
`rebuild` reach the same tables from the stream.

Attribution rules (also in methodology.md):
- loans count in the borrower's neighbourhood (the borrower is the one who did not buy);
- services in the provider's neighbourhood; time credits in the payer's;
- campaigns in the campaign's neighbourhood, pledges in the backer's;
- PB events in their district (None: city-wide).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel

from libs.common.contracts import budget as pb
from libs.common.contracts import crowdfunding as cf
from libs.common.contracts import exchange as ex
from libs.common.contracts import impact as im
from libs.common.events import Envelope
from services.impact.facts_debate_energy import PROJECTED
from services.impact.periods import EARLIEST_DAY, LATEST_DAY, in_bounds

Row = dict[str, Any]

FACT_COLUMNS = (
    "neighbourhood",
    "category",
    "subcategory",
    "edition",
    "entity",
    "ref",
    "ref_day",
    "flag",
    "quantity",
    "total",
    "days",
    "minutes",
    "seconds",
    "passenger_m",
    "cents",
    "matched_cents",
    "commission_cents",
    "goal_cents",
)
_FACT_COLUMN_SET = frozenset(FACT_COLUMNS)


@dataclass
class EventFacts:
    """The rows one event contributes to the projection."""

    facts: list[Row] = field(default_factory=list)
    activity: list[Row] = field(default_factory=list)
    # (edition id, name) of a budget.edition.created: what the report calls the edition.
    edition_name: tuple[str, str] | None = None


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def passenger_metres(km: float | None, passengers: int | None) -> int:
    """Route km x passengers, in whole metres (km travels as a float: read it through str)."""
    if not km or not passengers:
        return 0
    exact = Decimal(str(km)) * passengers * 1000
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


class _Builder:
    def __init__(self, envelope: Envelope) -> None:
        self.envelope = envelope
        self.day = utc_day(envelope.occurred_at)
        self.out = EventFacts()

    def fact(self, **values: Any) -> None:
        unknown = values.keys() - _FACT_COLUMN_SET
        if unknown:
            raise ValueError(f"not a fact column: {sorted(unknown)}")
        row: Row = dict.fromkeys(FACT_COLUMNS)
        row.update(values)
        row.update(
            event_id=self.envelope.id,
            part=len(self.out.facts),
            type=self.envelope.type,
            occurred_at=self.envelope.occurred_at,
            day=self.day,
        )
        self.out.facts.append(row)

    def active(
        self,
        member_id: str | None,
        role: str,
        neighbourhood: str | None,
        category: str | None = None,
    ) -> None:
        if not member_id:
            return
        self.out.activity.append(
            {
                "event_id": self.envelope.id,
                "member_id": member_id,
                "role": role,
                "type": self.envelope.type,
                "day": self.day,
                "neighbourhood": neighbourhood,
                "category": category,
            }
        )


# --- exchange ------------------------------------------------------------------------------------


def _member_joined(b: _Builder, d: ex.MemberJoined) -> None:
    b.fact(neighbourhood=d.neighbourhood, category=d.kind, entity=d.member_id)


def _item_listed(b: _Builder, d: ex.ItemListed) -> None:
    b.fact(neighbourhood=d.neighbourhood, category=d.category, entity=d.item_id)
    b.active(d.owner_id, "lister", d.neighbourhood)


def _item_withdrawn(b: _Builder, d: ex.ItemWithdrawn) -> None:
    b.fact(neighbourhood=d.neighbourhood, category=d.category, entity=d.item_id)


def _loan(b: _Builder, d: ex.LoanFacts) -> None:
    values: Row = {
        "neighbourhood": d.borrower_neighbourhood,
        "category": d.category,
        "entity": d.loan_id,
        "ref": d.item_id,
        "ref_day": utc_day(d.requested_at),
        "quantity": d.days,
    }
    kind = b.envelope.type.rsplit(".", 1)[1]
    if kind == "accepted":
        waited = b.envelope.occurred_at - d.requested_at.astimezone(UTC)
        values["seconds"] = max(0, int(waited.total_seconds()))
    if kind == "returned":
        values["days"] = d.days_lent  # type: ignore[attr-defined]
        values["subcategory"] = d.condition[:64]  # type: ignore[attr-defined]
    b.fact(**values)
    if kind in ("requested", "picked_up", "returned"):
        b.active(d.borrower_id, "borrower", d.borrower_neighbourhood, d.category)
    if kind in ("accepted", "picked_up", "returned"):
        b.active(d.lender_id, "lender", d.lender_neighbourhood, d.category)


def _service_listed(b: _Builder, d: ex.ServiceListed) -> None:
    b.fact(neighbourhood=d.neighbourhood, category=d.kind, subcategory=d.direction)
    b.active(d.member_id, "lister", d.neighbourhood)


def _service_completed(b: _Builder, d: ex.ServiceCompleted) -> None:
    b.fact(
        neighbourhood=d.provider_neighbourhood,
        category=d.kind,
        subcategory=d.repaired_category if d.kind == "repair" else None,
        entity=d.service_id,
        minutes=d.minutes,
        passenger_m=passenger_metres(d.km, d.passengers) if d.kind == "carpool" else 0,
        quantity=d.passengers,
        flag=d.settled_in_credits,
    )
    b.active(d.provider_id, "provider", d.provider_neighbourhood, d.kind)
    b.active(d.receiver_id, "receiver", d.receiver_neighbourhood, d.kind)


def _credits_transferred(b: _Builder, d: ex.CreditsTransferred) -> None:
    # A correction reverses an earlier transfer: it counts negatively, so the total is net.
    signed = -d.minutes if d.reason == "correction" else d.minutes
    b.fact(
        neighbourhood=d.from_neighbourhood,
        category=d.reason,
        entity=d.transfer_id,
        ref=d.reverses,
        minutes=signed,
    )


# --- crowdfunding -------------------------------------------------------------------------------


def _campaign(b: _Builder, d: cf.CampaignFacts) -> None:
    values: Row = {
        "neighbourhood": d.neighbourhood,
        "category": d.category,
        "subcategory": d.holder_kind,
        "entity": d.campaign_id,
        "goal_cents": d.goal_cents,
    }
    if isinstance(d, cf.CampaignSucceeded):
        values.update(
            cents=d.raised_cents,
            matched_cents=d.matched_cents,
            commission_cents=d.commission_cents,
            quantity=d.backers,
        )
    elif isinstance(d, cf.CampaignFailed):
        values.update(cents=d.pledged_cents, quantity=d.backers)
    elif isinstance(d, cf.CampaignPaidOut):
        values.update(cents=d.net_cents)
    b.fact(**values)
    if isinstance(d, cf.CampaignSubmitted):
        b.active(d.holder_id, "holder", d.neighbourhood)


def _pledge(b: _Builder, d: cf.PledgeFacts) -> None:
    b.fact(
        neighbourhood=d.backer_neighbourhood,
        category=d.backer_kind,
        subcategory=d.channel,
        entity=d.pledge_id,
        ref=d.campaign_id,
        cents=d.amount_cents,
        matched_cents=d.matched_cents,
    )
    if isinstance(d, cf.PledgeMade):
        b.active(d.backer_id, "backer", d.backer_neighbourhood)


def _matchpool_created(b: _Builder, d: cf.MatchPoolCreated) -> None:
    b.fact(entity=d.pool_id, edition=d.from_budget_edition, cents=d.budget_cents)


# --- participatory budget -----------------------------------------------------------------------


def _edition_created(b: _Builder, d: pb.EditionCreated) -> None:
    b.out.edition_name = (d.edition_id, str(d.name))
    for envelope in d.envelopes:
        b.fact(
            edition=d.edition_id,
            neighbourhood=envelope.district,
            entity=envelope.envelope_id,
            cents=envelope.amount_cents,
        )


def _phase_changed(b: _Builder, d: pb.PhaseChanged) -> None:
    b.fact(edition=d.edition_id, subcategory=d.phase)


def _proposal_submitted(b: _Builder, d: pb.ProposalSubmitted) -> None:
    b.fact(
        edition=d.edition_id,
        neighbourhood=d.neighbourhood,
        subcategory=d.channel,
        entity=d.proposal_id,
        cents=d.estimated_cost_cents,
    )
    b.active(d.author_id, "author", d.neighbourhood)


def _proposal_supported(b: _Builder, d: pb.ProposalSupported) -> None:
    b.fact(edition=d.edition_id, neighbourhood=d.neighbourhood, entity=d.proposal_id)
    b.active(b.envelope.actor, "supporter", d.neighbourhood)


def _proposal_assessed(b: _Builder, d: pb.ProposalAssessed) -> None:
    b.fact(edition=d.edition_id, entity=d.proposal_id, flag=d.feasible, cents=d.cost_cents)


def _ballot_cast(b: _Builder, d: pb.BallotCast) -> None:
    # No voter identity: a ballot is counted, never attributed (it adds no activity row).
    b.fact(
        edition=d.edition_id,
        neighbourhood=d.district,
        subcategory=d.channel,
        entity=d.envelope_id,
        flag=d.replaces_previous,
        quantity=0 if d.replaces_previous else 1,
    )


def _results_published(b: _Builder, d: pb.ResultsPublished) -> None:
    for result in d.envelopes:
        b.fact(
            edition=d.edition_id,
            category="envelope",
            subcategory=d.rule,
            neighbourhood=result.district,
            entity=result.envelope_id,
            cents=result.allocated_cents,
            goal_cents=result.amount_cents,
            matched_cents=result.leftover_cents,
            quantity=len(result.selected),
        )
        for project in result.selected:
            b.fact(
                edition=d.edition_id,
                category="selected",
                neighbourhood=project.neighbourhood,
                entity=project.proposal_id,
                ref=result.envelope_id,
                cents=project.cost_cents,
            )
    for turnout in d.turnout:
        b.fact(
            edition=d.edition_id,
            category="turnout",
            neighbourhood=turnout.district,
            quantity=turnout.voters,
            total=turnout.eligible,
        )


def _project_milestone(b: _Builder, d: pb.ProjectMilestone) -> None:
    b.fact(
        edition=d.edition_id,
        neighbourhood=d.neighbourhood,
        subcategory=d.status,
        entity=d.proposal_id,
        ref_day=d.on,
        cents=d.cost_cents,
    )


def _nothing(b: _Builder, d: BaseModel) -> None:
    """An event the indicators do not use (yet): inboxed, nothing projected."""


_LOAN_EVENTS = (
    ex.LoanRequested,
    ex.LoanAccepted,
    ex.LoanDeclined,
    ex.LoanCancelled,
    ex.LoanPickedUp,
    ex.LoanOverdue,
    ex.LoanDisputed,
    ex.LoanReturned,
)
_CAMPAIGN_EVENTS = (
    cf.CampaignDrafted,
    cf.CampaignSubmitted,
    cf.CampaignApproved,
    cf.CampaignRejected,
    cf.CampaignLaunched,
    cf.CampaignSucceeded,
    cf.CampaignFailed,
    cf.CampaignPaidOut,
)
_PLEDGE_EVENTS = (
    cf.PledgeMade,
    cf.PledgeCancelled,
    cf.PledgeCaptured,
    cf.PledgeCaptureFailed,
    cf.PledgeRefunded,
)

Project = Callable[[_Builder, Any], None]


def _key(model: type[BaseModel]) -> tuple[str, int]:
    return (model.__event_type__, model.__event_version__)  # type: ignore[attr-defined]


PROJECTORS: dict[tuple[str, int], tuple[type[BaseModel], Project]] = {
    _key(m): (m, p)
    for m, p in [
        (ex.MemberJoined, _member_joined),
        (ex.ItemListed, _item_listed),
        (ex.ItemWithdrawn, _item_withdrawn),
        *((m, _loan) for m in _LOAN_EVENTS),
        (ex.ServiceListed, _service_listed),
        (ex.ServiceCompleted, _service_completed),
        (ex.CreditsTransferred, _credits_transferred),
        *((m, _campaign) for m in _CAMPAIGN_EVENTS),
        *((m, _pledge) for m in _PLEDGE_EVENTS),
        (cf.MatchPoolCreated, _matchpool_created),
        # Reward fulfilment feeds no indicator yet; the events are known, not parked.
        (cf.RewardDelivered, _nothing),
        (cf.RewardReceived, _nothing),
        (pb.EditionCreated, _edition_created),
        (pb.PhaseChanged, _phase_changed),
        (pb.ProposalSubmitted, _proposal_submitted),
        (pb.ProposalSupported, _proposal_supported),
        (pb.ProposalAssessed, _proposal_assessed),
        (pb.BallotCast, _ballot_cast),
        (pb.ResultsPublished, _results_published),
        (pb.ProjectMilestone, _project_milestone),
        (im.ReportPublished, _nothing),
        *PROJECTED,  # debate and citizen energy (facts_debate_energy.py)
    ]
}


class Unprojectable(LookupError):
    """This service version has no projector for the event's (type, version)."""


class OutOfRange(Unprojectable):
    """The event carries a day outside EARLIEST_DAY..LATEST_DAY (a typo, a fuzzed date):
    quarantined (parked with this reason) rather than stored, so no report has to span
    centuries. No later version re-applies it: the bounds are fixed."""


_DAY_COLUMNS = ("day", "ref_day")


def _check_days(out: EventFacts) -> None:
    for row in (*out.facts, *out.activity):
        for column in _DAY_COLUMNS:
            day = row.get(column)
            if day is not None and not in_bounds(day):
                raise OutOfRange(
                    f"{column} {day.isoformat()} is outside "
                    f"{EARLIEST_DAY.isoformat()}..{LATEST_DAY.isoformat()}"
                )


def facts_of(envelope: Envelope) -> EventFacts:
    """The rows `envelope` contributes; Unprojectable (OutOfRange for a day outside the
    bounds) or a ValidationError when it cannot."""
    try:
        model, project = PROJECTORS[(envelope.type, envelope.version)]
    except KeyError:
        raise Unprojectable(f"no projector for {envelope.type} v{envelope.version}") from None
    builder = _Builder(envelope)
    project(builder, model.model_validate(envelope.data))
    _check_days(builder.out)
    return builder.out
