"""Deposits held, returned or kept with a reason; overdue loans reminded once a day."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from libs.common.messaging import outbox
from services.exchange.testkit import TODAY
from services.exchange.tests.test_exchange_loans import LATER, Cast


async def deposit(cast, loan_id, who, **body):
    return await cast.client.post(f"/loans/{loan_id}/deposit", json=body, headers=cast.headers[who])


async def test_a_deposit_is_held_then_kept_in_part_with_a_reason_both_sides_read(exchange):
    cast = Cast(exchange)
    loan_id = await cast.loan_in("picked_up")
    loan = (await exchange.client.get(f"/loans/{loan_id}", headers=cast.headers["lender"])).json()
    assert (loan["deposit_state"], loan["deposit_cents"]) == ("none", 2000)
    assert (await deposit(cast, loan_id, "borrower", state="held")).status_code == 403
    assert (await deposit(cast, loan_id, "stranger", state="held")).status_code == 403
    assert (await deposit(cast, loan_id, "lender", state="kept", reason="x")).status_code == 409
    held = await deposit(cast, loan_id, "lender", state="held")
    assert held.status_code == 200, held.text
    assert (held.json()["deposit_state"], held.json()["deposit_cents"]) == ("held", 2000)
    no_reason = await deposit(cast, loan_id, "lender", state="kept", reason="  ")
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["field"] == "body.reason"
    too_much = await deposit(cast, loan_id, "lender", state="kept", amount_cents=2500, reason="x")
    assert too_much.json()["errors"][0]["field"] == "body.amount_cents"
    kept = await deposit(
        cast, loan_id, "lender", state="kept", amount_cents=500, reason="A battery is cracked"
    )
    assert kept.status_code == 200, kept.text
    seen = await exchange.client.get(f"/loans/{loan_id}", headers=cast.headers["borrower"])
    assert seen.json()["deposit_state"] == "kept"
    assert seen.json()["deposit_kept_cents"] == 500
    assert seen.json()["deposit_reason"] == "A battery is cracked"
    again = await deposit(cast, loan_id, "lender", state="returned")
    assert again.status_code == 409


async def test_a_returned_loan_event_carries_its_deposit(exchange):
    cast = Cast(exchange)
    loan_id = await cast.loan_in("picked_up")
    await deposit(cast, loan_id, "lender", state="held", amount_cents=1500)
    await deposit(cast, loan_id, "lender", state="returned")
    returned = await cast.act(loan_id, "return", "lender")
    assert returned.json()["deposit_state"] == "returned"
    async with exchange.runtime.db.transaction() as session:
        payloads = (await session.execute(select(outbox.c.payload))).scalars().all()
    events = [json.loads(p) for p in payloads]
    returned = [e["data"] for e in events if e["type"] == "exchange.loan.returned"]
    assert [(e["deposit_state"], e["deposit_cents"]) for e in returned] == [("returned", 1500)]


async def test_a_deposit_is_not_held_before_the_loan_is_accepted(exchange):
    cast = Cast(exchange)
    loan_id = await cast.loan_in("requested")
    refused = await deposit(cast, loan_id, "lender", state="held")
    assert refused.status_code == 409
    assert refused.json()["code"] == "deposits.loan_not_accepted"


async def test_the_sweep_marks_late_loans_and_reminds_both_sides_once_a_day(exchange):
    cast = Cast(exchange)
    loan_id = await cast.loan_in("picked_up")  # due on day 3; today is day 5
    for _ in range(2):
        swept = await exchange.client.post("/loans/overdue-sweep", headers=cast.headers["staff"])
        assert swept.status_code == 200
    cast.set_today(LATER + timedelta(days=1))
    await exchange.client.post("/loans/overdue-sweep", headers=cast.headers["staff"])
    for who in ("lender", "borrower"):
        loan = (await exchange.client.get(f"/loans/{loan_id}", headers=cast.headers[who])).json()
        assert loan["state"] == "overdue"
        assert [(r["on"], r["days_late"]) for r in loan["reminders"]] == [
            ((TODAY + timedelta(days=6)).isoformat(), 3),
            ((TODAY + timedelta(days=5)).isoformat(), 2),
        ]
        mine = (await exchange.client.get("/loans", headers=cast.headers[who])).json()
        assert [m["days_late"] for m in mine] == [3]


async def test_contact_is_shown_to_both_sides_only_once_accepted(exchange):
    cast = Cast(exchange)
    for who, name in (("lender", "Lena"), ("borrower", "Bob")):
        await exchange.client.patch(
            "/members/me",
            json={"display_name": name, "contact": f"{name.lower()}@example.org"},
            headers=cast.headers[who],
        )
    loan_id = await cast.loan_in("requested")
    for who in ("lender", "borrower"):
        seen = await exchange.client.get(f"/loans/{loan_id}", headers=cast.headers[who])
        assert seen.json()["counterparty"] is None
        assert "example.org" not in seen.text
    listed = await exchange.client.get("/loans", headers=cast.headers["lender"])
    assert "example.org" not in listed.text
    await cast.act(loan_id, "accept", "lender")
    lender = await exchange.client.get(f"/loans/{loan_id}", headers=cast.headers["lender"])
    borrower = await exchange.client.get(f"/loans/{loan_id}", headers=cast.headers["borrower"])
    assert lender.json()["counterparty"]["contact"] == "bob@example.org"
    assert borrower.json()["counterparty"]["contact"] == "lena@example.org"
