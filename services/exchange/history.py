"""Loans and services that happened before the territory moved onto Sharitories.

A town that lent tools with a previous tool (Lend Engine, a paper register at the library)
or swapped services through a time bank wants its impact report to start where its
history starts, not on the day it went live. Staff record each past loan or service once,
with its real dates; the exchange publishes the same events a live one would, dated when
it happened, so every report puts it in its period.

What it is not: live state. A past loan never occupies its item and a past service never
moves time credits (the old ledger stays where it was); only the report learns about them.

Re-sending a record is harmless: its events' ids are derived from the `record_id` the
clerk gives (the previous tool's own number). The outbox keeps every event id it ever
wrote, so a record already there is answered `replayed` and nothing is written again.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select

from libs.common.contracts.exchange import (
    LoanAccepted,
    LoanPickedUp,
    LoanRequested,
    LoanReturned,
    ServiceCompleted,
    ServiceKind,
)
from libs.common.events import make_event
from libs.common.messaging import outbox
from libs.common.outbox import record
from libs.common.problems import Invalid, NotFound
from libs.common.publictext import PseudonymousId
from libs.common.runtime import ServiceRuntime
from libs.common.types import CivicDate
from services.exchange.db import items
from services.exchange.domain import days_lent, loan_days
from services.exchange.members import get_member

# Fixed namespace: the same record always yields the same event ids, on every replica.
HISTORY = uuid.UUID("6f1d3c0e-51a7-4d8e-9a55-2f3c9a1e7b10")
NOON = time(12, 0, tzinfo=UTC)


class PastLoanIn(BaseModel):
    record_id: str = Field(min_length=1, max_length=100, description="the previous tool's number")
    item_id: str = Field(min_length=1, max_length=100)
    borrower_id: PseudonymousId = Field(min_length=1, max_length=100)
    picked_up_on: CivicDate
    returned_on: CivicDate
    condition: Literal["new", "good", "fair", "worn", "damaged"] = "good"

    @model_validator(mode="after")
    def _returned_after_pick_up(self):
        if self.returned_on < self.picked_up_on:
            raise ValueError("returned_on must not come before picked_up_on")
        return self


class PastServiceIn(BaseModel):
    record_id: str = Field(min_length=1, max_length=100, description="the previous tool's number")
    kind: ServiceKind
    provider_id: PseudonymousId = Field(min_length=1, max_length=100)
    receiver_id: PseudonymousId = Field(min_length=1, max_length=100)
    completed_on: CivicDate
    minutes: int = Field(gt=0, le=24 * 60)
    km: float | None = Field(None, gt=0, le=2000, description="carpool: route km")
    passengers: int | None = Field(None, gt=0, le=8, description="carpool: passengers carried")
    repaired_category: str | None = Field(None, min_length=1, max_length=40)

    @model_validator(mode="after")
    def _fields_fit_the_kind(self):
        if self.kind == "carpool" and (self.km is None or self.passengers is None):
            raise ValueError("a carpool needs km and passengers")
        if self.kind != "carpool" and (self.km is not None or self.passengers is not None):
            raise ValueError("km and passengers belong to carpools only")
        if self.provider_id == self.receiver_id:
            raise ValueError("provider_id and receiver_id must differ")
        return self


class RecordedOut(BaseModel):
    record_id: str
    events: int = Field(description="events published for the impact report")
    replayed: bool = Field(False, description="already recorded: nothing was written again")


async def _already_recorded(session, event_id: str) -> bool:
    found = await session.scalar(select(outbox.c.event_id).where(outbox.c.event_id == event_id))
    return found is not None


def _event_id(kind: str, record_id: str, event_type: str) -> str:
    return str(uuid.uuid5(HISTORY, f"{kind}:{record_id}:{event_type}"))


def _in_the_past(day: date, *, today: date, field: str) -> None:
    if day >= today:
        raise Invalid(
            "A past record must have happened before today.", field=field, code="history.not_past"
        )


async def record_past_loan(
    runtime: ServiceRuntime, *, body: PastLoanIn, staff_id: str, today: date
) -> RecordedOut:
    """Publish a finished loan's requested → accepted → picked up → returned, each dated."""
    _in_the_past(body.returned_on, today=today, field="body.returned_on")
    async with runtime.unit_of_work() as session:
        item = (
            (await session.execute(items.select().where(items.c.id == body.item_id)))
            .mappings()
            .first()
        )
        if item is None:
            raise NotFound(f"No item {body.item_id}.", field="body.item_id", code="items.not_found")
        lender = await get_member(session, item["owner_id"])
        borrower = await get_member(session, body.borrower_id)
        if borrower["id"] == lender["id"]:
            raise Invalid(
                "The borrower owns this item.",
                field="body.borrower_id",
                code="history.borrower_owns_item",
            )
        loan_id = _event_id("loan", body.record_id, "loan")
        picked_up = datetime.combine(body.picked_up_on, NOON)
        facts = {
            "loan_id": loan_id,
            "item_id": item["id"],
            "category": item["category"],
            "lender_id": lender["id"],
            "borrower_id": borrower["id"],
            "lender_neighbourhood": lender["neighbourhood"],
            "borrower_neighbourhood": borrower["neighbourhood"],
            "starts_on": body.picked_up_on,
            "due_on": body.returned_on,
            "days": loan_days(body.picked_up_on, body.returned_on),
            "requested_at": picked_up,
        }
        steps = [
            (LoanRequested(**facts), picked_up),
            (LoanAccepted(**facts), picked_up),
            (LoanPickedUp(**facts), picked_up),
            (
                LoanReturned(
                    **facts,
                    days_lent=days_lent(body.picked_up_on, body.returned_on),
                    condition=body.condition,
                ),
                datetime.combine(body.returned_on, NOON),
            ),
        ]
        territory = runtime.territory(lender["neighbourhood"])
        events = [
            make_event(
                data, aggregate_id=loan_id, territory=territory, actor=staff_id, occurred_at=at
            ).model_copy(
                update={"id": _event_id("loan", body.record_id, data.__event_type__)}  # type: ignore[attr-defined]
            )
            for data, at in steps
        ]
        if await _already_recorded(session, events[0].id):
            return RecordedOut(record_id=body.record_id, events=len(events), replayed=True)
        await record(session, *events)
    return RecordedOut(record_id=body.record_id, events=len(events))


async def record_past_service(
    runtime: ServiceRuntime, *, body: PastServiceIn, staff_id: str, today: date
) -> RecordedOut:
    """Publish a service rendered before go-live, dated the day it was done (no credits move)."""
    _in_the_past(body.completed_on, today=today, field="body.completed_on")
    async with runtime.unit_of_work() as session:
        provider = await get_member(session, body.provider_id)
        receiver = await get_member(session, body.receiver_id)
        service_id = _event_id("service", body.record_id, "service")
        data = ServiceCompleted(
            service_id=service_id,
            kind=body.kind,
            provider_id=provider["id"],
            receiver_id=receiver["id"],
            provider_neighbourhood=provider["neighbourhood"],
            receiver_neighbourhood=receiver["neighbourhood"],
            minutes=body.minutes,
            km=body.km,
            passengers=body.passengers,
            repaired_category=body.repaired_category if body.kind == "repair" else None,
            settled_in_credits=False,
        )
        event = make_event(
            data,
            aggregate_id=service_id,
            territory=runtime.territory(provider["neighbourhood"]),
            actor=staff_id,
            occurred_at=datetime.combine(body.completed_on, NOON),
        ).model_copy(update={"id": _event_id("service", body.record_id, data.__event_type__)})  # type: ignore[attr-defined]
        if await _already_recorded(session, event.id):
            return RecordedOut(record_id=body.record_id, events=1, replayed=True)
        await record(session, event)
    return RecordedOut(record_id=body.record_id, events=1)
