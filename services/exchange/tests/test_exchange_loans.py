"""Loans over HTTP: every transition, every forbidden one (403/409, never 500), privacy."""

from __future__ import annotations

from datetime import timedelta

from libs.common.clock import today
from services.exchange.testkit import TODAY, list_item, request_loan

LATER = TODAY + timedelta(days=5)  # past the due date of the loans below (day 3)
ACTIONS = {
    "accept": "accept",
    "decline": "decline",
    "cancel": "cancel",
    "pick_up": "pick-up",
    "mark_overdue": "overdue",
    "dispute": "dispute",
    "return": "return",
}
BODIES = {"return": {"condition": "good", "notes": "all fine"}, "dispute": {"note": "broken"}}

# The rules, written out from the issue: who may make each move, and from where.
WHO = {
    "accept": {"lender"},
    "decline": {"lender"},
    "cancel": {"lender", "borrower", "staff"},
    "pick_up": {"lender", "borrower"},
    "mark_overdue": {"lender", "staff"},
    "dispute": {"lender", "borrower", "staff"},
    "return": {"lender", "staff"},
}
ALLOWED = {  # (state, action) -> parties that succeed
    ("requested", "accept"): {"lender"},
    ("requested", "decline"): {"lender"},
    ("requested", "cancel"): {"lender", "borrower", "staff"},
    ("accepted", "cancel"): {"lender", "borrower", "staff"},
    ("accepted", "pick_up"): {"lender", "borrower"},
    ("accepted", "dispute"): {"lender", "borrower", "staff"},
    ("picked_up", "mark_overdue"): {"lender", "staff"},
    ("picked_up", "dispute"): {"lender", "borrower", "staff"},
    ("picked_up", "return"): {"lender", "staff"},
    ("overdue", "dispute"): {"lender", "borrower", "staff"},
    ("overdue", "return"): {"lender", "staff"},
    ("disputed", "return"): {"lender", "staff"},  # disputed after pick-up
}
# Closing a dispute is for staff alone: a party asking gets 403, not 409.
STAFF_ONLY = {("disputed", "cancel")}
TARGET = {
    "accept": "accepted",
    "decline": "declined",
    "cancel": "cancelled",
    "pick_up": "picked_up",
    "mark_overdue": "overdue",
    "dispute": "disputed",
    "return": "returned",
}
PATHS = {  # how to reach each state from a fresh request: (action, who)
    "requested": [],
    "accepted": [("accept", "lender")],
    "declined": [("decline", "lender")],
    "cancelled": [("cancel", "borrower")],
    "picked_up": [("accept", "lender"), ("pick_up", "borrower")],
    "overdue": [("accept", "lender"), ("pick_up", "borrower"), ("mark_overdue", "lender")],
    "disputed": [("accept", "lender"), ("pick_up", "borrower"), ("dispute", "borrower")],
    "returned": [("accept", "lender"), ("pick_up", "lender"), ("return", "lender")],
}


class Cast:
    def __init__(self, service):
        self.service = service
        self.client = service.client
        self.headers = {
            "lender": service.auth("lena", "resident", neighbourhood="north"),
            "borrower": service.auth("bob", "resident", neighbourhood="south"),
            "stranger": service.auth("sam", "resident", neighbourhood="south"),
            "staff": service.auth("stella", "staff", neighbourhood=None),
        }

    def set_today(self, value):
        self.service.app.dependency_overrides[today] = lambda: value

    async def act(self, loan_id, action, who):
        return await self.client.post(
            f"/loans/{loan_id}/{ACTIONS[action]}",
            json=BODIES.get(action, {}),
            headers=self.headers[who],
        )

    async def loan_in(self, state: str) -> str:
        self.set_today(TODAY)
        item = await list_item(self.client, self.headers["lender"])
        response = await request_loan(self.client, self.headers["borrower"], item["id"])
        assert response.status_code == 201, response.text
        loan_id = response.json()["id"]
        self.set_today(LATER)
        for action, who in PATHS[state]:
            response = await self.act(loan_id, action, who)
            assert response.status_code == 200, response.text
        assert response.json()["state"] == state
        return loan_id


async def test_every_transition_and_every_forbidden_one(exchange):
    cast = Cast(exchange)
    for state in PATHS:
        shared = await cast.loan_in(state)  # refusals leave it unchanged
        for action in ACTIONS:
            for who in ("lender", "borrower", "stranger", "staff"):
                allowed = ALLOWED.get((state, action), set())
                if who in allowed:
                    loan_id = await cast.loan_in(state)
                    response = await cast.act(loan_id, action, who)
                    assert response.status_code == 200, (state, action, who, response.text)
                    assert response.json()["state"] == TARGET[action]
                    continue
                response = await cast.act(shared, action, who)
                party_refused = who not in WHO[action] or (
                    (state, action) in STAFF_ONLY and who != "staff"
                )
                expected = 403 if party_refused else 409
                assert response.status_code == expected, (state, action, who, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["detail"]
        cast.set_today(TODAY)
        check = await exchange.client.get(f"/loans/{shared}", headers=cast.headers["lender"])
        assert check.json()["state"] == state


async def test_staff_closes_a_dispute_over_an_item_that_never_left(exchange):
    cast = Cast(exchange)
    loan_id = await cast.loan_in("accepted")
    assert (await cast.act(loan_id, "dispute", "lender")).status_code == 200
    refused = await cast.act(loan_id, "cancel", "borrower")
    assert refused.status_code == 403
    refused = await cast.act(loan_id, "return", "lender")
    assert refused.status_code == 409
    closed = await cast.act(loan_id, "cancel", "staff")
    assert closed.status_code == 200 and closed.json()["state"] == "cancelled"


async def test_loan_is_not_overdue_before_its_due_date(exchange):
    cast = Cast(exchange)
    loan_id = await cast.loan_in("picked_up")
    cast.set_today(TODAY + timedelta(days=3))  # the due date itself
    response = await cast.act(loan_id, "mark_overdue", "lender")
    assert response.status_code == 409
    assert "not overdue yet" in response.json()["detail"]


async def test_staff_sweep_marks_past_due_loans_overdue(exchange):
    cast = Cast(exchange)
    out = await cast.loan_in("picked_up")
    waiting = await cast.loan_in("accepted")
    response = await exchange.client.post("/loans/overdue-sweep", headers=cast.headers["staff"])
    assert response.status_code == 200
    assert response.json()["marked_overdue"] == [out]
    refused = await exchange.client.post("/loans/overdue-sweep", headers=cast.headers["lender"])
    assert refused.status_code == 403
    shown = await exchange.client.get(f"/loans/{waiting}", headers=cast.headers["borrower"])
    assert shown.json()["state"] == "accepted"


async def test_borrower_cannot_accept_their_own_request(exchange):
    cast = Cast(exchange)
    loan_id = await cast.loan_in("requested")
    response = await cast.act(loan_id, "accept", "borrower")
    assert response.status_code == 403
    assert "lender" in response.json()["detail"]


async def test_nobody_borrows_their_own_item(exchange):
    lender = exchange.auth("lena", neighbourhood="north")
    item = await list_item(exchange.client, lender)
    response = await request_loan(exchange.client, lender, item["id"])
    assert response.status_code == 403


async def test_loan_request_rules_name_the_field(exchange):
    lender = exchange.auth("lena", neighbourhood="north")
    borrower = exchange.auth("bob", neighbourhood="south")
    item = await list_item(exchange.client, lender, max_loan_days=3)
    too_long = await request_loan(exchange.client, borrower, item["id"], start=1, end=4)
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["field"] == "body.due_on"
    past = await request_loan(exchange.client, borrower, item["id"], start=-1, end=1)
    assert past.status_code == 422
    assert past.json()["errors"][0]["field"] == "body.starts_on"
    backwards = await request_loan(exchange.client, borrower, item["id"], start=3, end=2)
    assert backwards.status_code == 422
    missing = await request_loan(exchange.client, borrower, "no-such-item")
    assert missing.status_code == 404
    bad = await exchange.client.post("/loans", json={"item_id": item["id"]}, headers=borrower)
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"body.starts_on", "body.due_on"}
    anonymous = await exchange.client.post("/loans", json={})
    assert anonymous.status_code == 401


async def test_an_item_is_booked_ahead_for_periods_that_do_not_overlap(exchange):
    cast = Cast(exchange)
    item = await list_item(exchange.client, cast.headers["lender"])
    first = (await request_loan(exchange.client, cast.headers["borrower"], item["id"])).json()
    # A later period is booked ahead while the first loan is promised...
    later = (
        await request_loan(exchange.client, cast.headers["stranger"], item["id"], start=5, end=6)
    ).json()
    # ...one overlapping both (days 3 and 5) is not.
    overlapping = (
        await request_loan(exchange.client, cast.headers["stranger"], item["id"], start=3, end=5)
    ).json()
    assert (await cast.act(first["id"], "accept", "lender")).status_code == 200
    assert (await cast.act(later["id"], "accept", "lender")).status_code == 200
    refused = await cast.act(overlapping["id"], "accept", "lender")
    assert refused.status_code == 409
    assert "already lent or promised" in refused.json()["detail"]
    withdraw = await exchange.client.post(
        f"/items/{item['id']}/withdraw", headers=cast.headers["lender"]
    )
    assert withdraw.status_code == 409
    await cast.act(first["id"], "pick_up", "borrower")
    await cast.act(first["id"], "return", "lender")
    accepted = await cast.act(overlapping["id"], "accept", "lender")
    assert accepted.status_code == 409  # the later booking still holds day 5
    await cast.act(later["id"], "cancel", "stranger")
    accepted = await cast.act(overlapping["id"], "accept", "lender")
    assert accepted.status_code == 200, accepted.text


async def test_an_item_still_out_after_its_due_day_is_held_until_checked_in(exchange):
    cast = Cast(exchange)
    loan_id = await cast.loan_in("overdue")  # due on day 3, today is day 5
    item_id = await exchange.client.get(f"/loans/{loan_id}", headers=cast.headers["lender"])
    item_id = item_id.json()["item_id"]
    cast.set_today(TODAY)  # a request made earlier, for after the due day
    later = await request_loan(exchange.client, cast.headers["stranger"], item_id, start=8, end=9)
    cast.set_today(LATER)
    refused = await cast.act(later.json()["id"], "accept", "lender")
    assert refused.status_code == 409
    calendar = (await exchange.client.get(f"/items/{item_id}/bookings")).json()
    assert [p["state"] for p in calendar] == ["late"]


async def test_contact_details_are_revealed_only_after_acceptance(exchange):
    cast = Cast(exchange)
    await exchange.client.patch(
        "/members/me",
        json={"display_name": "Lena", "address": "3 rue des Lilas", "contact": "06 00"},
        headers=cast.headers["lender"],
    )
    item = await list_item(exchange.client, cast.headers["lender"])
    public = await exchange.client.get(f"/items/{item['id']}")
    assert public.json()["neighbourhood"] == "north"
    assert "3 rue des Lilas" not in public.text
    member = await exchange.client.get("/members/lena", headers=cast.headers["stranger"])
    assert "address" not in member.json()
    loan = (await request_loan(exchange.client, cast.headers["borrower"], item["id"])).json()
    seen = await exchange.client.get(f"/loans/{loan['id']}", headers=cast.headers["borrower"])
    assert seen.json()["counterparty"] is None
    await cast.act(loan["id"], "accept", "lender")
    seen = await exchange.client.get(f"/loans/{loan['id']}", headers=cast.headers["borrower"])
    assert seen.json()["counterparty"]["address"] == "3 rue des Lilas"
    stranger = await exchange.client.get(f"/loans/{loan['id']}", headers=cast.headers["stranger"])
    assert stranger.status_code == 403


async def test_every_transition_is_recorded_with_actor_and_time(exchange):
    cast = Cast(exchange)
    loan_id = await cast.loan_in("returned")
    loan = (await exchange.client.get(f"/loans/{loan_id}", headers=cast.headers["lender"])).json()
    moves = [(h["from_state"], h["to_state"], h["actor_id"]) for h in loan["history"]]
    assert moves == [
        (None, "requested", "bob"),
        ("requested", "accepted", "lena"),
        ("accepted", "picked_up", "lena"),
        ("picked_up", "returned", "lena"),
    ]
    assert all(h["at"] for h in loan["history"])
    assert loan["return_condition"] == "good"
