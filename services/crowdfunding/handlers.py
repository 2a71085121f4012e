"""Events the crowdfunding service consumes.

`budget.results.published`: each envelope's leftover is recorded so that staff can turn it
into a match pool; each feasible but unselected proposal becomes a campaign draft for its
author (once: the inbox drops redeliveries, and `origin_proposal_id` is unique). The
results of a Soup evening's vote (kind "soup") assign that evening's pot instead (soup.py).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.clock import clock
from libs.common.contracts.budget import ResultsPublished
from libs.common.events import Envelope
from libs.common.runtime import ServiceRuntime
from services.crowdfunding import campaigns, matching, soup
from services.crowdfunding.db import campaigns as campaigns_table

RESULTS_SUBJECT = "sharitories.budget.results.published"
PB_CATEGORY = "participatory-budget"
PB_DURATION_DAYS = 45


def results_handler(runtime: ServiceRuntime):
    async def handle(session: AsyncSession, envelope: Envelope) -> None:
        results = envelope.payload()
        assert isinstance(results, ResultsPublished)
        now = clock.now()
        if results.kind == "soup":  # a Soup evening's vote: its pot, not leftovers or drafts
            await soup.assign_winner(session=session, runtime=runtime, results=results, now=now)
            return
        for envelope_result in results.envelopes:
            if envelope_result.leftover_cents > 0:
                await matching.record_leftover(
                    session,
                    edition_id=results.edition_id,
                    envelope_id=envelope_result.envelope_id,
                    district=envelope_result.district,
                    leftover_cents=envelope_result.leftover_cents,
                    now=now,
                )
            for project in envelope_result.feasible_unselected:
                if not project.author_id:
                    continue  # nobody to hand the draft to
                exists = await session.scalar(
                    select(campaigns_table.c.id).where(
                        campaigns_table.c.origin_proposal_id == project.proposal_id
                    )
                )
                if exists:
                    continue
                neighbourhood = project.neighbourhood or envelope_result.district or "city"
                await campaigns.create_campaign(
                    session,
                    runtime=runtime,
                    principal=Principal(
                        sub=project.author_id, neighbourhood=neighbourhood, verified=True
                    ),
                    title=project.title,
                    description=(
                        f"Feasible proposal of participatory budget {results.edition_id}, "
                        "not selected by the vote: funded by residents instead."
                    ),
                    category=PB_CATEGORY,
                    neighbourhood=neighbourhood,
                    goal_cents=max(project.cost_cents, 1),
                    duration_days=PB_DURATION_DAYS,
                    now=now,
                    origin=(results.edition_id, project.proposal_id),
                    holder_kind="resident",
                )

    return handle
