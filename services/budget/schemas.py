"""Request bodies of the budget API (responses are plain dicts built by the service)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.common.types import Birthdate, Cents, CivicDate, StrictFlag
from services.budget.domain import BallotFormat

# Upper bounds keep every count well inside a 64-bit database integer.
BIG = 10**9
Count = Annotated[int, Field(ge=0, le=BIG)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnvelopeIn(Strict):
    name: str = Field(min_length=1, max_length=200)
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
    name: str = Field(min_length=1, max_length=200)
    envelopes: list[EnvelopeIn] = Field(min_length=1)
    rule: Literal["greedy", "mes", "mes-add1"] = "mes"
    ballot_format: BallotFormatIn = BallotFormatIn()
    allow_replacement: StrictFlag = False
    min_age: int | None = Field(None, ge=0, le=120)
    preselection: PreselectionIn = PreselectionIn()
    eligible_population: dict[str, Count] = Field(default_factory=dict)
    phase_dates: dict[str, dict[str, CivicDate]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_city_envelope(self):
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
    title: str = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=20_000)
    envelope_id: str | None = None  # default: the city-wide envelope
    proposed_cost_cents: Cents | None = Field(None, gt=0)


class DeskProposalIn(ProposalIn):
    """A paper proposal typed in by staff at the town hall."""

    author_id: str | None = Field(None, max_length=100)
    neighbourhood: str | None = Field(None, max_length=50)


class ProposalEditIn(Strict):
    title: str | None = Field(None, min_length=1, max_length=300)
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


class PaperVoterIn(Strict):
    """The voter as checked in by staff at the desk (identity document seen)."""

    voter_id: str = Field(min_length=1, max_length=100)
    neighbourhood: str | None = Field(None, max_length=50)
    birthdate: Birthdate | None = None


class PaperBallotIn(BallotIn):
    voter: PaperVoterIn


class ReceiptIn(Strict):
    receipt: str = Field(min_length=10, max_length=200)


class MilestoneIn(Strict):
    status: Literal["planned", "in_progress", "delivered"]
    on: CivicDate
    note: str = Field("", max_length=5_000)
