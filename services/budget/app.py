"""Wiring of the budget service: its routes, its settings and the sealed-ballot writer."""

from __future__ import annotations

from fastapi import FastAPI

from libs.common.runtime import ServiceRuntime
from libs.common.settings import Settings
from libs.common.web import create_service_app
from services.budget import editions
from services.budget.api import router
from services.budget.config import BudgetSettings, territory_from
from services.budget.deps import BudgetContext
from services.budget.soup_api import router as soup_router
from services.budget.voting import BallotBox

NAME = "budget"


def create_app(settings: Settings | None = None, budget: BudgetSettings | None = None) -> FastAPI:
    budget = budget or BudgetSettings()
    context = BudgetContext(settings=budget, territory=territory_from(str(budget.territory_file)))
    editions.set_timezone(context.territory.timezone)

    def wire(runtime: ServiceRuntime) -> None:
        """The ballot box writes sealed ballots in shuffled batches, apart from voters."""
        context.box = BallotBox(
            runtime.db, batch=budget.ballot_batch, flush_seconds=budget.ballot_flush_seconds
        )
        runtime.add_task("ballot-box", context.box.run)
        runtime.on_stop(context.box.flush_quietly)  # before the database closes

    app = create_service_app(
        NAME,
        routers=[router, soup_router],
        settings=settings,
        wire=wire,
        title="Sharitories budget",
    )
    app.state.budget = context
    return app
