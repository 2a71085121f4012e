"""The Soup evening's vote: an edition of kind "soup", open for voting at once.

Nothing new is counted here: the shortlisted projects are proposals already assessed
feasible, each costing the envelope's one share, the ballot is approval of exactly one
project, and the greedy rule selects the most chosen one. Diners vote online or are
registered at the desk and vote on paper, once each (the participation key). The count is
the usual one (`POST /editions/{id}/results` with the keyholder's share), and its
`budget.results.published` (kind "soup") tells crowdfunding whose the pot is.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.events import Territory
from libs.common.ids import new_id
from services.budget import domain
from services.budget.db import editions, proposals
from services.budget.editions import create_edition, now
from services.budget.schemas import BallotFormatIn, EditionIn, EnvelopeIn
from services.budget.soup_schemas import SoupVoteIn


async def open_vote(
    *, session: AsyncSession, body: SoupVoteIn, actor: Principal, territory: Territory
) -> dict[str, Any]:
    """Open the evening's vote with its shortlisted projects, voting from now on."""
    edition = await create_edition(
        session,
        body=EditionIn(
            name=body.name,
            envelopes=[EnvelopeIn(name=body.name, amount_cents=domain.SOUP_SHARE_CENTS)],
            rule="greedy",
            ballot_format=BallotFormatIn(kind="approval", min_projects=1, max_projects=1),
            keyholders=[actor.sub],
            threshold=1,
        ),
        actor=actor,
        territory=territory,
        phase="voting",
    )
    await session.execute(
        sa.update(editions).where(editions.c.id == edition["id"]).values(kind="soup")
    )
    [envelope] = edition["envelopes"]
    at = now()
    shortlisted = []
    for project in body.projects:
        proposal_id = new_id()
        await session.execute(
            sa.insert(proposals).values(
                id=proposal_id,
                edition_id=edition["id"],
                envelope_id=envelope["id"],
                author_id=project.author_id,
                channel="desk",
                entered_by=actor.sub,
                title=project.title,
                description=project.description,
                neighbourhood=project.neighbourhood,
                proposed_cost_cents=domain.SOUP_SHARE_CENTS,
                version=1,
                status="feasible",
                supports=0,
                feasible=True,
                assessment_reason="Shortlisted for the Soup evening.",
                cost_cents=domain.SOUP_SHARE_CENTS,
                assessed_by=actor.sub,
                created_at=at,
                updated_at=at,
            )
        )
        shortlisted.append(
            {"proposal_id": proposal_id, "title": project.title, "author_id": project.author_id}
        )
    return {
        "edition_id": edition["id"],
        "name": edition["name"],
        "kind": "soup",
        "phase": edition["phase"],
        "envelope_id": envelope["id"],
        "projects": shortlisted,
        "keyholder_shares": edition["keyholder_shares"],
    }
