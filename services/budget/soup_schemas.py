"""Request and response models of the Soup evening's vote."""

from __future__ import annotations

from pydantic import BaseModel, Field

from libs.common.publictext import PseudonymousId, PublicText
from services.budget.domain import SOUP_MAX_PROJECTS, SOUP_MIN_PROJECTS
from services.budget.schemas import Strict


class SoupProjectIn(Strict):
    title: PublicText = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=5_000)
    author_id: PseudonymousId | None = Field(None, max_length=100)
    neighbourhood: str | None = Field(None, max_length=50)


class SoupVoteIn(Strict):
    name: PublicText = Field(min_length=1, max_length=200)
    projects: list[SoupProjectIn] = Field(
        min_length=SOUP_MIN_PROJECTS, max_length=SOUP_MAX_PROJECTS
    )


class SoupProjectOut(BaseModel):
    proposal_id: str
    title: str
    author_id: str | None = None


class KeyholderShareOut(BaseModel):
    keyholder: str
    share: str


class SoupVoteOut(BaseModel):
    edition_id: str
    name: str
    kind: str
    phase: str
    envelope_id: str
    projects: list[SoupProjectOut]
    # The staff member's share of the ballots' key, given once: the count needs it.
    keyholder_shares: list[KeyholderShareOut]
