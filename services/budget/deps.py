"""Typed dependencies of the budget API: its own settings, territory and ballot box."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from services.budget.config import BudgetSettings, TerritoryConfig

if TYPE_CHECKING:
    from services.budget.voting import BallotBox


@dataclass
class BudgetContext:
    """What budget routes need beyond the shared runtime."""

    settings: BudgetSettings
    territory: TerritoryConfig
    box: BallotBox | None = None  # set when the runtime is wired (it needs the database)

    @property
    def ballot_secret(self) -> bytes:
        return self.settings.ballot_secret.encode()


async def budget_context(request: Request) -> BudgetContext:
    return request.app.state.budget


Budget = Annotated[BudgetContext, Depends(budget_context)]
