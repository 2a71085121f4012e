"""Request and response models of the budget API.

Response views keep any key they do not name (`extra="allow"`), so a field added to a view
reaches clients before its model names it. Keys a view only sometimes has are optional,
and their routes answer with `response_model_exclude_unset=True` (absent stays absent).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.common.publictext import PseudonymousId, PublicText
from libs.common.types import Birthdate, Cents, CivicDate, StrictFlag
from services.budget.domain import BallotFormat

# Upper bounds keep every count well inside a 64-bit database integer.
BIG = 10**9
Count = Annotated[int, Field(ge=0, le=BIG)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnvelopeIn(Strict):
    name: PublicText = Field(min_length=1, max_length=200)
    district: str | None = Field(None, max_length=50)  # None: the city-wide envelope
    amount_cents: Cents = Field(gt=0)


class BallotFormatIn(Strict):
    kind: Literal["approval", "knapsack", "cumulative", "ranking"] = "approval"
    min_projects: int = Field(1, ge=0, le=BIG)
    max_projects: int | None = Field(None, ge=1, le=BIG)
    total_points: int | None = Field(None, ge=1, le=BIG)
    max_points_per_project: int | None = Field(None, ge=1, le=BIG)

    @model_validator(mode="after")
    def _consistent(self):
        if self.max_projects is not None and self.max_projects < self.min_projects:
            raise ValueError("max_projects must be at least min_projects")
        if self.kind == "cumulative" and self.total_points is None:
            raise ValueError("a cumulative ballot needs total_points")
        return self

    def to_domain(self) -> BallotFormat:
        return BallotFormat(**self.model_dump())


class PreselectionIn(Strict):
    threshold: int | None = Field(None, ge=0, le=BIG)
    top_n: int | None = Field(None, ge=1, le=BIG)


class EditionIn(Strict):
    name: PublicText = Field(min_length=1, max_length=200)
    envelopes: list[EnvelopeIn] = Field(min_length=1)
    rule: Literal["greedy", "mes", "mes-add1"] = "mes"
    ballot_format: BallotFormatIn = BallotFormatIn()
    allow_replacement: StrictFlag = False
    min_age: int | None = Field(None, ge=0, le=120)
    preselection: PreselectionIn = PreselectionIn()
    eligible_population: dict[str, Count] = Field(default_factory=dict)
    phase_dates: dict[str, dict[str, CivicDate]] = Field(default_factory=dict)
    # Who holds a share of the edition's private key (names or member ids); default: the
    # staff member creating it. `threshold` of them open the ballots (default: a majority).
    keyholders: list[str] = Field(default_factory=list, max_length=20)
    threshold: int | None = Field(None, ge=1, le=20)

    @model_validator(mode="after")
    def _one_city_envelope(self):
        if len(set(self.keyholders)) != len(self.keyholders) or any(
            not k.strip() or len(k) > 100 for k in self.keyholders
        ):
            raise ValueError("keyholders are distinct, non-empty names (at most 100 characters)")
        voting = self.phase_dates.get("voting") or {}
        if voting.get("start") and voting.get("end") and voting["end"] < voting["start"]:
            raise ValueError("phase_dates.voting.end comes before its start")
        city = [e for e in self.envelopes if e.district is None]
        if len(city) != 1:
            raise ValueError("an edition has exactly one city-wide envelope (district null)")
        districts = [e.district for e in self.envelopes if e.district is not None]
        if len(set(districts)) != len(districts):
            raise ValueError("at most one envelope per district")
        return self


class PhaseIn(Strict):
    phase: Literal[
        "information", "proposals", "pre_selection", "assessment", "voting", "results", "delivery"
    ]


class ProposalIn(Strict):
    title: PublicText = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=20_000)
    envelope_id: str | None = None  # default: the city-wide envelope
    proposed_cost_cents: Cents | None = Field(None, gt=0)


class DeskProposalIn(ProposalIn):
    """A paper proposal typed in by staff at the town hall."""

    author_id: PseudonymousId | None = Field(None, max_length=100)
    neighbourhood: str | None = Field(None, max_length=50)


class ProposalEditIn(Strict):
    title: PublicText | None = Field(None, min_length=1, max_length=300)
    description: str | None = Field(None, max_length=20_000)
    proposed_cost_cents: Cents | None = Field(None, gt=0)


class AssessmentIn(Strict):
    feasible: StrictFlag
    reason: str = Field(max_length=5_000)
    cost_cents: Cents | None = Field(None, gt=0)


class BallotIn(Strict):
    envelope_id: str
    projects: list[str] = Field(default_factory=list, max_length=500)
    points: dict[str, Annotated[int, Field(ge=-BIG, le=BIG)]] | None = None


class DeskVoterIn(Strict):
    """A resident registered at the town-hall desk, identity document seen by staff.

    `identity` (e.g. the document's number) is never stored: only a keyed hash of it makes
    the desk voter id, so registering the same person twice gives the same id. A resident
    with a platform account gives their member id instead (shown on their account page):
    then an online ballot and a paper one meet on the same participation."""

    identity: str | None = Field(None, min_length=3, max_length=200)
    member_id: str | None = Field(None, min_length=1, max_length=100)
    neighbourhood: str = Field(min_length=1, max_length=50)
    birthdate: Birthdate | None = None

    @model_validator(mode="after")
    def _who(self):
        if (self.identity is None) == (self.member_id is None):
            raise ValueError("give either identity or member_id")
        return self


class PaperBallotIn(BallotIn):
    voter_id: str = Field(min_length=1, max_length=100)  # from POST …/desk/voters


class VotingExtensionIn(Strict):
    until: CivicDate
    reason: str = Field(min_length=3, max_length=2_000)


class CountIn(Strict):
    """The keyholders' shares that open the ballots (k of them), entered at the count."""

    shares: list[Annotated[str, Field(max_length=300)]] = Field(default_factory=list, max_length=20)
    # After a crash, ballots still in a writer's memory are lost while their participation
    # is recorded; staff may count anyway, and the results say how many are missing.
    accept_missing: bool = False


class ReceiptIn(Strict):
    receipt: str = Field(min_length=10, max_length=200)


class MilestoneIn(Strict):
    status: Literal["planned", "in_progress", "delivered"]
    on: CivicDate
    note: PublicText = Field("", max_length=5_000)


# --- responses: published results -------------------------------------------------------
# Fields added with explained results are optional: results published before keep reading.


class RoundOut(BaseModel):
    """One MES round: the project funded and what its supporters paid."""

    step: int
    project: str
    cost: str  # currency units, rounded to the cent for display
    rho: str  # price per unit of utility (cost utilities: per currency unit of the project)
    full_share: str  # what a supporter paying in full paid
    supporters: int
    paid_in_full: int
    gave_all: int  # supporters who had less and gave everything they had
    money_left_total: str
    voters_with_money: int


class ShortfallOut(BaseModel):
    round: int  # after this many rounds its supporters could no longer pay (0: never could)
    supporters_money: str
    lacked: str


class GreedyStepOut(BaseModel):
    project: str
    cost: str
    selected: bool
    running_total: str
    budget_left: str


class Add1Out(BaseModel):
    start_endowment: str  # budget / voters
    endowment: str  # after the raises
    steps: int | None  # one-currency-unit raises per voter
    raised_by: str


class ExplanationOut(BaseModel):
    rule: str
    budget: str
    voters: int
    add1: Add1Out | None = None
    rounds: list[RoundOut] = []
    shortfalls: dict[str, ShortfallOut] = {}
    completion: list[GreedyStepOut] = []  # mes: the greedy completion after MES
    greedy: list[GreedyStepOut] = []  # greedy: the whole scan
    money_left: dict[str, str | int] = {}


class ProjectResultOut(BaseModel):
    proposal_id: str
    external_id: str | None
    title: str
    cost_cents: int
    selected: bool
    status: str
    reason: str
    score: str
    votes: int | None = None
    step: int | None


class EnvelopeResultOut(BaseModel):
    envelope_id: str
    name: str
    district: str | None
    amount_cents: int
    allocated_cents: int
    leftover_cents: int
    ballots: int
    ballots_missing: int = 0
    selected: list[str]
    projects: list[ProjectResultOut]
    explanation: ExplanationOut | None = None


class TurnoutOut(BaseModel):
    district: str | None
    voters: int
    eligible: int


class RecomputeOut(BaseModel):
    export: str  # path of the .pb export on the budget service
    command: str  # the CLI command that recounts it


class ResultsOut(BaseModel):
    edition_id: str
    rule: str
    rule_description: str | None = None
    pabulib_rule: str | None = None
    recompute: RecomputeOut | None = None
    envelopes: list[EnvelopeResultOut]
    turnout: list[TurnoutOut]


# --- responses: editions, proposals, voting, delivery ------------------------------------


class ViewOut(BaseModel):
    model_config = ConfigDict(extra="allow")


class EditionEnvelopeOut(ViewOut):
    id: str
    name: str
    district: str | None  # None: the city-wide envelope
    amount_cents: int


class VotingWindowOut(ViewOut):
    first_day: str | None  # ISO dates, both included
    last_day: str | None
    extended: bool


class KeyholderShareOut(BaseModel):
    keyholder: str
    share: str


class EditionOut(ViewOut):
    id: str
    name: str
    city: str
    phase: str  # by the calendar (voting opens and closes at its dates)
    rule: str
    ballot_format: dict[str, Any]
    allow_replacement: bool
    min_age: int | None
    preselection: dict[str, Any]
    eligible_population: dict[str, int]
    phase_dates: dict[str, Any]
    voting_window: VotingWindowOut
    sealed: bool
    keyholders: list[str] | None
    threshold: int | None
    envelopes: list[EditionEnvelopeOut]
    results_published: bool
    # In the creation answer only, once: the private key is forgotten afterwards.
    keyholder_shares: list[KeyholderShareOut] | None = None


class ImportedEditionOut(EditionOut):
    projects: int
    ballots: int


class AssessmentOut(ViewOut):
    feasible: bool
    reason: str | None
    cost_cents: int | None


class ProposalOut(ViewOut):
    id: str
    edition_id: str
    envelope_id: str
    external_id: str | None  # its project id in an imported .pb file
    author_id: str | None
    channel: str  # online | desk
    title: str
    description: str
    neighbourhood: str | None
    proposed_cost_cents: int | None
    version: int
    status: str
    supports: int
    assessment: AssessmentOut | None


class ProposalVersionOut(ViewOut):
    version: int
    title: str
    description: str
    proposed_cost_cents: int | None
    edited_by: str
    edited_at: str | None


class SupportOut(ViewOut):
    proposal_id: str
    supported: bool
    new: bool  # False: the caller already supported it


class MySupportsOut(ViewOut):
    proposal_ids: list[str]


class ParticipationOut(ViewOut):
    envelope_id: str
    channel: str  # online | paper


class MyParticipationOut(ViewOut):
    envelopes: list[ParticipationOut]


class DeskCheckOut(ViewOut):
    voter_id: str
    envelopes: list[ParticipationOut]


class DeskVoterOut(DeskCheckOut):
    neighbourhood: str
    new: bool


class BallotCastOut(ViewOut):
    edition_id: str
    envelope_id: str
    counted: bool
    replaced_previous: bool
    receipt: str  # the tracker: SHA-256 of the sealed ballot
    sealed: bool


class ReceiptOut(ViewOut):
    envelope_id: str
    status: str  # received | sealed | counted | stored
    tracker: str | None
    edition_id: str | None = None  # once the ballot is stored sealed


class EnvelopeTrackersOut(ViewOut):
    envelope_id: str
    trackers: list[str]


class TrackersOut(ViewOut):
    edition_id: str
    envelopes: list[EnvelopeTrackersOut]


class MilestoneOut(ViewOut):
    status: str
    on: str  # ISO date
    note: str


class DeliveryOut(ViewOut):
    proposal_id: str
    title: str
    status: str | None  # the latest milestone's
    milestones: list[MilestoneOut]
