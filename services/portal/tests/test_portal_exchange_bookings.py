"""Exchange pages: booking calendar, late loans, deposits, contact after acceptance,
carpools from offer to confirmed trip (against a fake exchange)."""

from __future__ import annotations

import json

from services.portal.testkit import csrf_of, log_in, make_account
from services.portal.tests.test_portal_pages import ITEM

EX = "http://exchange.test"


def loan(me_id: str, other_id: str, state: str, **extra) -> dict:
    return {
        "id": "loan-1",
        "item_id": "it-1",
        "lender_id": other_id,
        "borrower_id": me_id,
        "category": "drill",
        "lender_neighbourhood": "faubourg",
        "borrower_neighbourhood": "faubourg",
        "state": state,
        "starts_on": "2030-01-01",
        "due_on": "2030-01-03",
        "days": 3,
        "message": "",
        "requested_at": "2029-12-20T10:00:00Z",
        "updated_at": "2029-12-20T10:00:00Z",
        "deposit_cents": 2000,
        "deposit_state": "none",
        "deposit_kept_cents": None,
        "deposit_reason": None,
        "history": [],
        "reminders": [],
        "counterparty": None,
        "days_late": 0,
        **extra,
    }


async def test_the_item_page_shows_booked_periods_on_a_month_calendar(portal):
    portal.fake.on("GET", f"{EX}/items/it-1", ITEM)
    portal.fake.on(
        "GET",
        f"{EX}/items/it-1/bookings",
        [{"starts_on": "2030-01-02", "due_on": "2030-01-04", "state": "booked"}],
    )
    page = await portal.client.get("/items/it-1")
    assert page.status_code == 200
    assert 'data-testid="booked-periods"' in page.text
    assert "réservé" in page.text and "<caption>" in page.text
    call = portal.fake.calls[-1]
    assert call.url.path == "/items/it-1/bookings" and "from" in call.url.params


async def test_contact_is_shown_once_accepted_completed_from_the_portal_account(portal):
    me = await make_account(portal, email="ben@example.org")
    lender = await make_account(portal, email="lena@example.org", address="4 rue des Tilleuls")
    await log_in(portal.client, "ben@example.org")
    portal.fake.on("GET", f"{EX}/items/it-1", ITEM)
    portal.fake.on("GET", f"{EX}/loans/loan-1", loan(me.id, lender.id, "requested"))
    before = await portal.client.get("/loans/loan-1")
    assert "lena@example.org" not in before.text and "4 rue des Tilleuls" not in before.text
    # Once accepted the exchange shares the counterparty; a member whose profile never
    # reached the exchange has no name or contact there: the portal completes it.
    bare = {"id": lender.id, "kind": "resident", "neighbourhood": "faubourg"}
    portal.fake.on(
        "GET", f"{EX}/loans/loan-1", loan(me.id, lender.id, "accepted", counterparty=bare)
    )
    after = await portal.client.get("/loans/loan-1")
    assert "lena@example.org" in after.text and "4 rue des Tilleuls" in after.text
    assert "Contact –" not in after.text


async def test_late_loans_and_reminders_are_shown_to_the_borrower(portal):
    me = await make_account(portal, email="ben@example.org")
    await log_in(portal.client, "ben@example.org")
    late = loan(me.id, "lena", "overdue", days_late=4)
    portal.fake.on("GET", f"{EX}/loans", [late])
    portal.fake.on("GET", f"{EX}/items/it-1", ITEM)
    page = await portal.client.get("/loans")
    assert 'data-testid="late-loans"' in page.text and "4 jour(s) de retard" in page.text
    reminded = {**late, "reminders": [{"on": "2030-01-07", "days_late": 4}]}
    portal.fake.on("GET", f"{EX}/loans/loan-1", reminded)
    one = await portal.client.get("/loans/loan-1")
    assert 'data-testid="reminders"' in one.text


async def test_the_lender_keeps_part_of_a_deposit_with_a_reason(portal):
    me = await make_account(portal, email="lena@example.org")
    await log_in(portal.client, "lena@example.org")
    held = loan("bob", me.id, "picked_up", deposit_state="held")
    portal.fake.on("GET", f"{EX}/items/it-1", ITEM)
    portal.fake.on("GET", f"{EX}/loans/loan-1", held)
    portal.fake.on("POST", f"{EX}/loans/loan-1/deposit", held)
    token = await csrf_of(portal.client, "/loans/loan-1")
    response = await portal.client.post(
        "/loans/loan-1/deposit",
        data={"deposit_state": "kept", "amount": "5,00", "reason": "Cracked", "csrf": token},
    )
    assert response.status_code == 303
    sent = json.loads(portal.fake.calls[-1].content)
    assert sent == {"state": "kept", "amount_cents": 500, "reason": "Cracked"}


async def test_a_driver_offers_a_regular_carpool_and_confirms_a_trip(portal):
    me = await make_account(portal, email="dora@example.org")
    rider = await make_account(portal, email="pia@example.org")
    await log_in(portal.client, "dora@example.org")
    offer = {"id": "cp-1"}
    portal.fake.on("POST", f"{EX}/carpools", offer, status=201)
    token = await csrf_of(portal.client, "/carpools/new")
    response = await portal.client.post(
        "/carpools/new",
        data={
            "origin": "faubourg",
            "destination": "centre",
            "route_km": "12,5",
            "seats": "3",
            "schedule": "regular",
            "weekdays": ["1", "5"],
            "departs_at": "07:45",
            "csrf": token,
        },
    )
    assert response.headers["location"] == "/carpools/cp-1"
    sent = json.loads(portal.fake.calls[-1].content)
    assert (sent["weekdays"], sent["departs_on"], sent["route_km"]) == ("15", None, 12.5)
    trip = {
        "id": "tr-1",
        "offer_id": "cp-1",
        "on": "2020-01-06",
        "seats": 3,
        "seats_taken": 1,
        "state": "open",
        "km": None,
        "passengers": None,
        "confirmed_at": None,
        "offer": {"origin": "faubourg", "destination": "centre", "departs_at": "07:45",
                  "route_km": 12.5},
        "driver": {"id": me.id, "kind": "resident", "neighbourhood": "faubourg"},
        "passenger_seats": [
            {"passenger_id": rider.id, "state": "booked",
             "member": {"id": rider.id, "kind": "resident", "neighbourhood": "faubourg"}}
        ],
    }  # fmt: skip
    portal.fake.on("GET", f"{EX}/trips/tr-1", trip)
    page = await portal.client.get("/trips/tr-1")
    assert "pia@example.org" in page.text and 'name="passenger_ids"' in page.text
    portal.fake.on("POST", f"{EX}/trips/tr-1/confirm", {**trip, "state": "confirmed"})
    token = await csrf_of(portal.client, "/trips/tr-1")
    await portal.client.post(
        "/trips/tr-1/confirm", data={"passenger_ids": rider.id, "km": "13", "csrf": token}
    )
    sent = json.loads(portal.fake.calls[-1].content)
    assert sent == {"passenger_ids": [rider.id], "km": 13.0}


async def test_a_carpool_service_confirmed_in_the_portal_sends_passengers_and_km(portal):
    await make_account(portal, email="ben@example.org")
    await log_in(portal.client, "ben@example.org")
    service = {
        "id": "sv-1", "member_id": "dora", "kind": "carpool", "direction": "offer",
        "title": "Lift", "description": "", "neighbourhood": "faubourg",
        "minutes_estimate": 30, "route_km": 12.5, "open": True,
        "created_at": "2026-01-01T10:00:00Z",
    }  # fmt: skip
    portal.fake.on("GET", f"{EX}/services/sv-1", service)
    portal.fake.on("POST", f"{EX}/services/sv-1/completions", {"id": "c-1"}, status=201)
    token = await csrf_of(portal.client, "/services/sv-1")
    page = await portal.client.get("/services/sv-1")
    assert 'name="passengers"' in page.text and 'name="km"' in page.text
    await portal.client.post(
        "/services/sv-1/complete",
        data={"minutes": "30", "passengers": "2", "km": "12,5", "csrf": token},
    )
    sent = json.loads(portal.fake.calls[-1].content)
    assert (sent["passengers"], sent["km"]) == (2, 12.5)


async def test_carpools_are_searched_by_origin_and_destination(portal):
    offer = {
        "id": "cp-1", "driver_id": "dora", "origin": "faubourg", "destination": "centre",
        "route_km": 12.5, "seats": 3, "departs_on": None, "weekdays": "15",
        "departs_at": "07:45", "notes": "", "open": True,
        "created_at": "2026-01-01T10:00:00Z",
        "next_trips": [{"on": "2030-01-07", "trip_id": None, "seats_left": 3}],
    }  # fmt: skip
    portal.fake.on("GET", f"{EX}/carpools", [offer])
    page = await portal.client.get("/carpools", params={"origin": "faubourg", "destination": "x"})
    assert page.status_code == 200 and "Faubourg Nord" in page.text and "lundi" in page.text
    call = portal.fake.calls[-1]
    assert call.url.params["origin"] == "faubourg" and "destination" not in call.url.params
    portal.fake.on("GET", f"{EX}/carpools/cp-1", offer)
    one = await portal.client.get("/carpools/cp-1")
    assert one.status_code == 200 and 'data-testid="next-trips"' in one.text
