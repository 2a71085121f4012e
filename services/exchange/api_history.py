"""HTTP API for the history staff record from before go-live (see history.py)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from libs.common.auth import Staff
from libs.common.clock import Today
from libs.common.runtime import Runtime
from services.exchange import history

router = APIRouter(tags=["history"])


def _status(imported: history.ImportOut, response: Response) -> history.ImportOut:
    # 201 when something was written; a batch entirely sent before is a 200 replay.
    response.status_code = 201 if imported.recorded else 200
    return imported


@router.post("/history/loans", status_code=201, response_model=history.ImportOut)
async def record_past_loans(
    body: history.PastLoans, runtime: Runtime, staff: Staff, today: Today, response: Response
) -> history.ImportOut:
    """Staff: loans that ended before the territory moved onto Sharitories (a batch)."""
    imported = await history.record_past_loans(runtime, body=body, staff_id=staff.sub, today=today)
    return _status(imported, response)


@router.post("/history/services", status_code=201, response_model=history.ImportOut)
async def record_past_services(
    body: history.PastServices, runtime: Runtime, staff: Staff, today: Today, response: Response
) -> history.ImportOut:
    """Staff: services rendered before go-live, a batch (they move no time credits)."""
    imported = await history.record_past_services(
        runtime, body=body, staff_id=staff.sub, today=today
    )
    return _status(imported, response)
