"""Events published by the participatory-budget service.

Ballot secrecy: no event carries a voter's identity next to what they voted.
`budget.ballot.cast` says that a ballot was counted, where and by which channel, nothing
more; its `actor` is always null.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel

from libs.common.events import contract
from libs.common.publictext import PseudonymousId, PublicText
from libs.common.taxonomy import PbPhase

Phase = PbPhase


class EnvelopeFacts(BaseModel):
    envelope_id: str
    name: PublicText
    district: str | None = None  # None: the city-wide envelope
    amount_cents: int


@contract("budget.edition.created", 1)
class EditionCreated(BaseModel):
    edition_id: str
    name: PublicText
    envelopes: list[EnvelopeFacts]


@contract("budget.phase.changed", 1)
class PhaseChanged(BaseModel):
    edition_id: str
    phase: Phase


@contract("budget.proposal.submitted", 1)
class ProposalSubmitted(BaseModel):
    proposal_id: str
    edition_id: str
    author_id: PseudonymousId
    neighbourhood: str | None = None
    channel: Literal["online", "desk"] = "online"
    estimated_cost_cents: int | None = None


@contract("budget.proposal.supported", 1)
class ProposalSupported(BaseModel):
    proposal_id: str
    edition_id: str
    neighbourhood: str | None = None


@contract("budget.proposal.assessed", 1)
class ProposalAssessed(BaseModel):
    proposal_id: str
    edition_id: str
    feasible: bool
    cost_cents: int | None = None


@contract("budget.ballot.cast", 1)
class BallotCast(BaseModel):
    edition_id: str
    envelope_id: str
    district: str | None = None
    channel: Literal["online", "paper"]
    replaces_previous: bool = False  # a replaced ballot is not a new voter


class ResultProject(BaseModel):
    proposal_id: str
    title: PublicText
    cost_cents: int
    author_id: PseudonymousId | None = None
    neighbourhood: str | None = None


class EnvelopeResult(BaseModel):
    envelope_id: str
    district: str | None = None
    amount_cents: int
    allocated_cents: int
    leftover_cents: int
    selected: list[ResultProject]
    feasible_unselected: list[ResultProject]


class Turnout(BaseModel):
    district: str | None = None  # None: city-wide
    voters: int
    eligible: int


@contract("budget.results.published", 1)
class ResultsPublished(BaseModel):
    edition_id: str
    rule: Literal["greedy", "mes", "mes-add1"]
    envelopes: list[EnvelopeResult]
    turnout: list[Turnout]
    # "soup": a Soup evening's vote (one winner takes the pot), not a participatory budget.
    kind: Literal["pb", "soup"] = "pb"


@contract("budget.project.milestone", 1)
class ProjectMilestone(BaseModel):
    edition_id: str
    proposal_id: str
    status: Literal["planned", "in_progress", "delivered"]
    on: date
    cost_cents: int
    neighbourhood: str | None = None
    note: PublicText = ""
