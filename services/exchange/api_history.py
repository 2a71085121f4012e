"""HTTP API for the history staff record from before go-live (see history.py)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from libs.common.runtime import Runtime
from services.exchange import history
from services.exchange.api import Staff, Today

router = APIRouter(tags=["history"])


@router.post("/history/loans", status_code=201, response_model=history.RecordedOut)
async def record_past_loan(
    body: history.PastLoanIn, runtime: Runtime, staff: Staff, today: Today, response: Response
) -> history.RecordedOut:
    """Staff: a loan that ended before the territory moved onto Sharitories."""
    recorded = await history.record_past_loan(runtime, body=body, staff_id=staff.sub, today=today)
    if recorded.replayed:
        response.status_code = 200
    return recorded


@router.post("/history/services", status_code=201, response_model=history.RecordedOut)
async def record_past_service(
    body: history.PastServiceIn, runtime: Runtime, staff: Staff, today: Today, response: Response
) -> history.RecordedOut:
    """Staff: a service rendered before go-live (it moves no time credits)."""
    recorded = await history.record_past_service(
        runtime, body=body, staff_id=staff.sub, today=today
    )
    if recorded.replayed:
        response.status_code = 200
    return recorded
