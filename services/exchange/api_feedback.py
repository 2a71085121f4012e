"""HTTP API for ratings between the parties and problem reports to staff."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import insert, select, update

from libs.common.auth import CurrentPrincipal
from libs.common.clock import clock
from libs.common.ids import new_id
from libs.common.problems import Conflict, Forbidden, NotFound
from libs.common.runtime import Runtime
from services.exchange import loans as loan_flow
from services.exchange.api import Staff
from services.exchange.db import completions, ratings, reports
from services.exchange.domain import LoanState
from services.exchange.members import member_for

router = APIRouter()
RATEABLE = {LoanState.RETURNED, LoanState.DISPUTED, LoanState.OVERDUE}


class RatingIn(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=2000)


async def _rate(session, *, subject_type, subject_id, rater_id, ratee_id, body) -> dict:
    row = {
        "id": new_id(),
        "subject_type": subject_type,
        "subject_id": subject_id,
        "rater_id": rater_id,
        "ratee_id": ratee_id,
        "score": body.score,
        "comment": body.comment,
        "created_at": clock.now(),
    }
    already = await session.scalar(
        select(ratings.c.id).where(
            ratings.c.subject_type == subject_type,
            ratings.c.subject_id == subject_id,
            ratings.c.rater_id == rater_id,
        )
    )
    if already:
        raise Conflict(
            f"You have already rated this {subject_type}.",
            code="ratings.already_rated",
            params={"subject": subject_type},
        )
    await session.execute(insert(ratings).values(**row))
    return row


@router.post("/loans/{loan_id}/rating", status_code=201, tags=["feedback"])
async def rate_loan(
    loan_id: str, body: RatingIn, runtime: Runtime, principal: CurrentPrincipal
) -> dict:
    """Either party rates the other, once, after the item came back (or went wrong)."""
    async with runtime.unit_of_work() as session:
        loan = await loan_flow.get_loan(session, loan_id)
        parties = {loan["lender_id"]: loan["borrower_id"], loan["borrower_id"]: loan["lender_id"]}
        if principal.sub not in parties:
            raise Forbidden(
                "Only the lender and the borrower may rate a loan.", code="ratings.not_party"
            )
        if LoanState(loan["state"]) not in RATEABLE:
            raise Conflict(
                f"A loan that is {loan['state']} cannot be rated yet.",
                code="ratings.too_early",
                params={"state": loan["state"]},
            )
        return await _rate(
            session,
            subject_type="loan",
            subject_id=loan_id,
            rater_id=principal.sub,
            ratee_id=parties[principal.sub],
            body=body,
        )


@router.post("/completions/{completion_id}/rating", status_code=201, tags=["feedback"])
async def rate_completion(
    completion_id: str, body: RatingIn, runtime: Runtime, principal: CurrentPrincipal
) -> dict:
    """Provider and receiver of a completed service rate each other, once."""
    async with runtime.unit_of_work() as session:
        row = (
            await session.execute(select(completions).where(completions.c.id == completion_id))
        ).first()
        if row is None:
            raise NotFound(f"No completion {completion_id}.", code="services.not_found")
        parties = {row.provider_id: row.receiver_id, row.receiver_id: row.provider_id}
        if principal.sub not in parties:
            raise Forbidden(
                "Only the provider and the receiver may rate this service.",
                code="ratings.not_party",
            )
        return await _rate(
            session,
            subject_type="service",
            subject_id=completion_id,
            rater_id=principal.sub,
            ratee_id=parties[principal.sub],
            body=body,
        )


class ReportIn(BaseModel):
    subject_type: Literal["loan", "service", "item", "member"]
    subject_id: str = Field(min_length=1, max_length=100)
    kind: Literal["damage", "not_returned", "no_show", "behaviour", "fraud", "other"]
    detail: str = Field(min_length=1, max_length=5000)


class ResolutionIn(BaseModel):
    resolution: str = Field(min_length=1, max_length=5000)


@router.post("/reports", status_code=201, tags=["feedback"])
async def report_problem(body: ReportIn, runtime: Runtime, principal: CurrentPrincipal) -> dict:
    """Report a problem; it goes to the staff queue."""
    async with runtime.unit_of_work() as session:
        me = await member_for(session, runtime=runtime, principal=principal)
        if body.subject_type == "loan":
            loan = await loan_flow.get_loan(session, body.subject_id)
            if me["id"] not in (loan["lender_id"], loan["borrower_id"]):
                raise Forbidden(
                    "Only the lender and the borrower may report a loan.", code="reports.not_party"
                )
        row = {
            "id": new_id(),
            **body.model_dump(),
            "reporter_id": me["id"],
            "status": "open",
            "created_at": clock.now(),
            "closed_by": None,
            "closed_at": None,
            "resolution": None,
        }
        await session.execute(insert(reports).values(**row))
        return row


@router.get("/staff/reports", tags=["feedback"])
async def report_queue(
    runtime: Runtime,
    staff: Staff,
    status: Literal["open", "closed"] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict]:
    """Staff: the problem reports, oldest first."""
    async with runtime.db.transaction() as session:
        rows = await session.execute(
            select(reports)
            .where(reports.c.status == status)
            .order_by(reports.c.created_at, reports.c.id)
            .limit(limit)
        )
        return [r._asdict() for r in rows]


@router.post("/staff/reports/{report_id}/close", tags=["feedback"])
async def close_report(report_id: str, body: ResolutionIn, runtime: Runtime, staff: Staff) -> dict:
    async with runtime.unit_of_work() as session:
        result = await session.execute(
            update(reports)
            .where(reports.c.id == report_id, reports.c.status == "open")
            .values(
                status="closed",
                closed_by=staff.sub,
                closed_at=clock.now(),
                resolution=body.resolution,
            )
        )
        if result.rowcount != 1:
            exists = await session.scalar(select(reports.c.id).where(reports.c.id == report_id))
            if not exists:
                raise NotFound(f"No report {report_id}.", code="reports.not_found")
            raise Conflict("This report is already closed.", code="reports.closed")
        row = (await session.execute(select(reports).where(reports.c.id == report_id))).one()
        return row._asdict()
