"""HTTP API for ratings between the parties and problem reports to staff (the rules are in
feedback.py and domain.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from libs.common.auth import CurrentPrincipal
from libs.common.runtime import Runtime
from services.exchange import feedback
from services.exchange.api import Staff
from services.exchange.schemas import RatingIn, RatingOut, ReportIn, ReportOut, ResolutionIn

router = APIRouter()


@router.post(
    "/loans/{loan_id}/rating", status_code=201, tags=["feedback"], response_model=RatingOut
)
async def rate_loan(
    loan_id: str, body: RatingIn, runtime: Runtime, principal: CurrentPrincipal
) -> dict:
    """Either party rates the other, once, after the item came back (or went wrong)."""
    async with runtime.unit_of_work() as session:
        return await feedback.rate_loan(
            session=session, principal=principal, loan_id=loan_id, **body.model_dump()
        )


@router.post(
    "/completions/{completion_id}/rating",
    status_code=201,
    tags=["feedback"],
    response_model=RatingOut,
)
async def rate_completion(
    completion_id: str, body: RatingIn, runtime: Runtime, principal: CurrentPrincipal
) -> dict:
    """Provider and receiver of a completed service rate each other, once."""
    async with runtime.unit_of_work() as session:
        return await feedback.rate_completion(
            session=session, principal=principal, completion_id=completion_id, **body.model_dump()
        )


@router.post("/reports", status_code=201, tags=["feedback"], response_model=ReportOut)
async def report_problem(body: ReportIn, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    """Report a problem; it goes to the staff queue."""
    async with runtime.unit_of_work() as session:
        return await feedback.report(
            session=session, runtime=runtime, principal=principal, **body.model_dump()
        )


@router.get("/staff/reports", tags=["feedback"], response_model=list[ReportOut])
async def report_queue(
    runtime: Runtime,
    staff: Staff,
    status: Literal["open", "closed"] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict]:
    """Staff: the problem reports, oldest first."""
    async with runtime.db.read() as session:
        return await feedback.queue(session=session, status=status, limit=limit)


@router.post("/staff/reports/{report_id}/close", tags=["feedback"], response_model=ReportOut)
async def close_report(report_id: str, body: ResolutionIn, runtime: Runtime, staff: Staff) -> dict:
    async with runtime.unit_of_work() as session:
        return await feedback.close_report(
            session=session, staff_id=staff.sub, report_id=report_id, resolution=body.resolution
        )
