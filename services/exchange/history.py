"""Loans and services that happened before the territory moved onto Sharitories.

A town that lent tools with a previous tool (Lend Engine, a paper register at the library)
or swapped services through a time bank wants its impact report to start where its
history starts, not on the day it went live. Staff record each past loan or service once,
with its real dates; the exchange publishes the same events a live one would, dated when
it happened, so every report puts it in its period.

What it is not: live state. A past loan never occupies its item and a past service never
moves time credits (the old ledger stays where it was); only the report learns about them.

Records come in batches (an export of the previous tool, up to 1,000 a request), all or
nothing: one bad record refuses the batch and names it (`body.records.3.returned_on`).
Re-sending is harmless: a record's event ids are derived from the `record_id` the clerk
gives (the previous tool's own number) and the outbox keeps every event id it ever wrote,
so a record already there is counted as `replayed` and nothing is written again.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time

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
from libs.common.events import Envelope, make_event
from libs.common.messaging import outbox
from libs.common.outbox import record
from libs.common.problems import Invalid, NotFound
from libs.common.publictext import PseudonymousId
from libs.common.runtime import ServiceRuntime
from libs.common.types import CivicDate
from services.exchange.db import items, members
from services.exchange.domain import Category, Condition, days_lent, loan_days

# Fixed namespace: the same record always yields the same event ids, on every replica.
HISTORY = uuid.UUID("6f1d3c0e-51a7-4d8e-9a55-2f3c9a1e7b10")
NOON = time(12, 0, tzinfo=UTC)


class PastLoanIn(BaseModel):
    record_id: str = Field(min_length=1, max_length=100, description="the previous tool's number")
    item_id: str = Field(min_length=1, max_length=100)
    borrower_id: PseudonymousId = Field(min_length=1, max_length=100)
    picked_up_on: CivicDate
    returned_on: CivicDate
    condition: Condition = "good"

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
    repaired_category: Category | None = None

    @model_validator(mode="after")
    def _fields_fit_the_kind(self):
        if self.repaired_category is not None and self.kind != "repair":
            raise ValueError("repaired_category belongs to repairs only")
        if self.kind == "carpool" and (self.km is None or self.passengers is None):
            raise ValueError("a carpool needs km and passengers")
        if self.kind != "carpool" and (self.km is not None or self.passengers is not None):
            raise ValueError("km and passengers belong to carpools only")
        if self.provider_id == self.receiver_id:
            raise ValueError("provider_id and receiver_id must differ")
        return self


class PastLoans(BaseModel):
    records: list[PastLoanIn] = Field(min_length=1, max_length=1000)


class PastServices(BaseModel):
    records: list[PastServiceIn] = Field(min_length=1, max_length=1000)


class ImportOut(BaseModel):
    records: int
    recorded: int = Field(description="new records: their events go to the impact report")
    replayed: int = Field(description="records already there: nothing was written again")
    events: int = Field(description="events written for the new records")


def _event_id(kind: str, record_id: str, event_type: str) -> str:
    return str(uuid.uuid5(HISTORY, f"{kind}:{record_id}:{event_type}"))


def _dated(
    data: BaseModel,
    *,
    kind: str,
    record_id: str,
    aggregate_id: str,
    territory,
    actor: str,
    day: date,
) -> Envelope:
    event = make_event(
        data,
        aggregate_id=aggregate_id,
        territory=territory,
        actor=actor,
        occurred_at=datetime.combine(day, NOON),
    )
    return event.model_copy(update={"id": _event_id(kind, record_id, event.type)})


def _in_the_past(day: date, *, today: date, field: str) -> None:
    if day >= today:
        raise Invalid(
            "A past record must have happened before today.", field=field, code="history.not_past"
        )


async def _members(session, ids: set[str], *, field_of: dict[str, str]) -> dict[str, dict]:
    found = {
        row["id"]: dict(row)
        for row in (await session.execute(members.select().where(members.c.id.in_(ids))))
        .mappings()
        .all()
    }
    for member_id in sorted(ids - set(found)):
        raise NotFound(
            f"No member {member_id}.", field=field_of[member_id], code="members.not_found"
        )
    return found


async def _write_new(session, batches: list[list[Envelope]]) -> tuple[int, int]:
    """Record the batches whose first event the outbox has never seen → (recorded, events)."""
    firsts = [batch[0].id for batch in batches]
    seen = set(
        await session.scalars(select(outbox.c.event_id).where(outbox.c.event_id.in_(firsts)))
    )
    fresh = [event for batch in batches if batch[0].id not in seen for event in batch]
    await record(session, *fresh)
    return sum(batch[0].id not in seen for batch in batches), len(fresh)


async def record_past_loans(
    runtime: ServiceRuntime, *, body: PastLoans, staff_id: str, today: date
) -> ImportOut:
    """Publish each finished loan's requested → accepted → picked up → returned, dated."""
    for i, loan in enumerate(body.records):
        _in_the_past(loan.returned_on, today=today, field=f"body.records.{i}.returned_on")
    async with runtime.unit_of_work() as session:
        item_ids = {loan.item_id for loan in body.records}
        found = {
            row["id"]: dict(row)
            for row in (await session.execute(items.select().where(items.c.id.in_(item_ids))))
            .mappings()
            .all()
        }
        for i, loan in enumerate(body.records):
            if loan.item_id not in found:
                raise NotFound(
                    f"No item {loan.item_id}.",
                    field=f"body.records.{i}.item_id",
                    code="items.not_found",
                )
        field_of = {}
        for i, loan in enumerate(body.records):
            field_of.setdefault(loan.borrower_id, f"body.records.{i}.borrower_id")
            field_of.setdefault(found[loan.item_id]["owner_id"], f"body.records.{i}.item_id")
        people = await _members(session, set(field_of), field_of=field_of)
        batches = []
        for i, loan in enumerate(body.records):
            item = found[loan.item_id]
            lender, borrower = people[item["owner_id"]], people[loan.borrower_id]
            if borrower["id"] == lender["id"]:
                raise Invalid(
                    "The borrower owns this item.",
                    field=f"body.records.{i}.borrower_id",
                    code="history.borrower_owns_item",
                )
            loan_id = _event_id("loan", loan.record_id, "loan")
            facts = {
                "loan_id": loan_id,
                "item_id": item["id"],
                "category": item["category"],
                "lender_id": lender["id"],
                "borrower_id": borrower["id"],
                "lender_neighbourhood": lender["neighbourhood"],
                "borrower_neighbourhood": borrower["neighbourhood"],
                "starts_on": loan.picked_up_on,
                "due_on": loan.returned_on,
                "days": loan_days(loan.picked_up_on, loan.returned_on),
                "requested_at": datetime.combine(loan.picked_up_on, NOON),
            }
            returned = LoanReturned(
                **facts,
                days_lent=days_lent(loan.picked_up_on, loan.returned_on),
                condition=loan.condition,
            )
            steps = [
                (LoanRequested(**facts), loan.picked_up_on),
                (LoanAccepted(**facts), loan.picked_up_on),
                (LoanPickedUp(**facts), loan.picked_up_on),
                (returned, loan.returned_on),
            ]
            territory = runtime.territory(lender["neighbourhood"])
            batches.append(
                [
                    _dated(
                        data,
                        kind="loan",
                        record_id=loan.record_id,
                        aggregate_id=loan_id,
                        territory=territory,
                        actor=staff_id,
                        day=day,
                    )
                    for data, day in steps
                ]
            )
        recorded, events = await _write_new(session, batches)
    return ImportOut(
        records=len(batches), recorded=recorded, replayed=len(batches) - recorded, events=events
    )


async def record_past_services(
    runtime: ServiceRuntime, *, body: PastServices, staff_id: str, today: date
) -> ImportOut:
    """Publish each service rendered before go-live, dated the day it was done (no credits
    move)."""
    for i, service in enumerate(body.records):
        _in_the_past(service.completed_on, today=today, field=f"body.records.{i}.completed_on")
    async with runtime.unit_of_work() as session:
        field_of = {}
        for i, service in enumerate(body.records):
            field_of.setdefault(service.provider_id, f"body.records.{i}.provider_id")
            field_of.setdefault(service.receiver_id, f"body.records.{i}.receiver_id")
        people = await _members(session, set(field_of), field_of=field_of)
        batches = []
        for service in body.records:
            provider, receiver = people[service.provider_id], people[service.receiver_id]
            service_id = _event_id("service", service.record_id, "service")
            data = ServiceCompleted(
                service_id=service_id,
                kind=service.kind,
                provider_id=provider["id"],
                receiver_id=receiver["id"],
                provider_neighbourhood=provider["neighbourhood"],
                receiver_neighbourhood=receiver["neighbourhood"],
                minutes=service.minutes,
                km=service.km,
                passengers=service.passengers,
                repaired_category=service.repaired_category,
                settled_in_credits=False,
            )
            batches.append(
                [
                    _dated(
                        data,
                        kind="service",
                        record_id=service.record_id,
                        aggregate_id=service_id,
                        territory=runtime.territory(provider["neighbourhood"]),
                        actor=staff_id,
                        day=service.completed_on,
                    )
                ]
            )
        recorded, events = await _write_new(session, batches)
    return ImportOut(
        records=len(batches), recorded=recorded, replayed=len(batches) - recorded, events=events
    )
