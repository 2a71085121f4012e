"""Typed dependencies of the budget API: its own settings, territory and ballot box."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from services.budget.config import BudgetSettings, TerritoryConfig


@dataclass
class BudgetContext:
    """What budget routes need beyond the shared runtime."""

    settings: BudgetSettings
    territory: TerritoryConfig
    box: Any = field(default=None)  # voting.BallotBox, set when the runtime is wired

    @property
    def ballot_secret(self) -> bytes:
        return self.settings.ballot_secret.encode()


async def budget_context(request: Request) -> BudgetContext:
    return request.app.state.budget


Budget = Annotated[BudgetContext, Depends(budget_context)]
