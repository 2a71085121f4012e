"""Ratings between the parties of a loan or a service, and problem reports to staff."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.auth import Principal
from libs.common.clock import clock
from libs.common.ids import new_id
from libs.common.problems import Conflict, Forbidden, NotFound
from libs.common.runtime import ServiceRuntime
from services.exchange import loans as loan_flow
from services.exchange.db import completions, ratings, reports
from services.exchange.domain import LoanRuleBroken, LoanState, check_rateable, ratee_of
from services.exchange.members import member_for


def _problem(exc: LoanRuleBroken) -> Exception:
    kind = Forbidden if exc.forbidden else Conflict
    return kind(str(exc), code=exc.code, params=exc.params)


async def _rate(session, *, subject_type, subject_id, rater_id, ratee_id, score, comment):
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
    row = {
        "id": new_id(),
        "subject_type": subject_type,
        "subject_id": subject_id,
        "rater_id": rater_id,
        "ratee_id": ratee_id,
        "score": score,
        "comment": comment,
        "created_at": clock.now(),
    }
    await session.execute(insert(ratings).values(**row))
    return row


async def rate_loan(
    *, session: AsyncSession, principal: Principal, loan_id: str, score: int, comment: str
) -> dict[str, Any]:
    """Either party rates the other, once, after the item came back (or went wrong)."""
    loan = await loan_flow.get_loan(session, loan_id)
    try:
        ratee = ratee_of(
            rater_id=principal.sub,
            parties=(loan["lender_id"], loan["borrower_id"]),
            message="Only the lender and the borrower may rate a loan.",
        )
        check_rateable(LoanState(loan["state"]))
    except LoanRuleBroken as exc:
        raise _problem(exc) from exc
    return await _rate(
        session,
        subject_type="loan",
        subject_id=loan_id,
        rater_id=principal.sub,
        ratee_id=ratee,
        score=score,
        comment=comment,
    )


async def rate_completion(
    *, session: AsyncSession, principal: Principal, completion_id: str, score: int, comment: str
) -> dict[str, Any]:
    """Provider and receiver of a completed service rate each other, once."""
    row = (
        await session.execute(select(completions).where(completions.c.id == completion_id))
    ).first()
    if row is None:
        raise NotFound(f"No completion {completion_id}.", code="services.not_found")
    try:
        ratee = ratee_of(
            rater_id=principal.sub,
            parties=(row.provider_id, row.receiver_id),
            message="Only the provider and the receiver may rate this service.",
        )
    except LoanRuleBroken as exc:
        raise _problem(exc) from exc
    return await _rate(
        session,
        subject_type="service",
        subject_id=completion_id,
        rater_id=principal.sub,
        ratee_id=ratee,
        score=score,
        comment=comment,
    )


async def report(
    *,
    session: AsyncSession,
    runtime: ServiceRuntime,
    principal: Principal,
    subject_type: str,
    subject_id: str,
    kind: str,
    detail: str,
) -> dict[str, Any]:
    """Report a problem; it goes to the staff queue."""
    me = await member_for(session, runtime=runtime, principal=principal)
    if subject_type == "loan":
        loan = await loan_flow.get_loan(session, subject_id)
        if me["id"] not in (loan["lender_id"], loan["borrower_id"]):
            raise Forbidden(
                "Only the lender and the borrower may report a loan.", code="reports.not_party"
            )
    row = {
        "id": new_id(),
        "subject_type": subject_type,
        "subject_id": subject_id,
        "kind": kind,
        "detail": detail,
        "reporter_id": me["id"],
        "status": "open",
        "created_at": clock.now(),
        "closed_by": None,
        "closed_at": None,
        "resolution": None,
    }
    await session.execute(insert(reports).values(**row))
    return row


async def queue(*, session: AsyncSession, status: str, limit: int) -> list[dict[str, Any]]:
    """The problem reports in `status`, oldest first."""
    rows = await session.execute(
        select(reports)
        .where(reports.c.status == status)
        .order_by(reports.c.created_at, reports.c.id)
        .limit(limit)
    )
    return [r._asdict() for r in rows]


async def close_report(
    *, session: AsyncSession, staff_id: str, report_id: str, resolution: str
) -> dict[str, Any]:
    result = await session.execute(
        update(reports)
        .where(reports.c.id == report_id, reports.c.status == "open")
        .values(
            status="closed",
            closed_by=staff_id,
            closed_at=clock.now(),
            resolution=resolution,
        )
    )
    if result.rowcount != 1:
        exists = await session.scalar(select(reports.c.id).where(reports.c.id == report_id))
        if not exists:
            raise NotFound(f"No report {report_id}.", code="reports.not_found")
        raise Conflict("This report is already closed.", code="reports.closed")
    row = (await session.execute(select(reports).where(reports.c.id == report_id))).one()
    return row._asdict()
