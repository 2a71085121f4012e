"""HTTP route of the Soup evening's vote (voting and the count use the edition routes)."""

from __future__ import annotations

from fastapi import APIRouter

from libs.common.auth import Staff
from libs.common.runtime import Runtime
from services.budget import soup
from services.budget.soup_schemas import SoupVoteIn, SoupVoteOut

router = APIRouter()


@router.post("/soup-votes", status_code=201, response_model=SoupVoteOut, tags=["soup"])
async def open_soup_vote(body: SoupVoteIn, runtime: Runtime, staff: Staff) -> dict:
    """Staff: open a Soup evening's vote on its shortlisted projects (one choice each)."""
    async with runtime.unit_of_work() as session:
        return await soup.open_vote(
            session=session, body=body, actor=staff, territory=runtime.territory(None)
        )
