"""The exchange's edge: unverified accounts browse and list but do not spend; strict types."""

from __future__ import annotations

import pytest

from services.exchange.testkit import ITEM, day, list_item


@pytest.fixture
def db_backend() -> str:
    return "sqlite"  # authorisation and parsing do not depend on the database


VERIFICATION = "https://sharitories.org/problems/verification-required"


def field_of(response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in response.json()["errors"]]


async def transfer(exchange, headers, key: str, **body):
    return await exchange.client.post(
        "/transfers",
        json={"to_member": "bob", "minutes": 30, **body},
        headers={**headers, "Idempotency-Key": key},
    )


async def test_an_unverified_account_browses_and_lists_but_cannot_move_credits(exchange):
    pending = exchange.auth("newcomer", verified=False)
    bob = exchange.auth("bob")
    await exchange.client.get("/accounts/me", headers=bob)
    assert (await exchange.client.get("/items")).status_code == 200
    await list_item(exchange.client, pending)
    assert (await exchange.client.get("/accounts/me", headers=pending)).status_code == 200

    refused = await transfer(exchange, pending, "pending-0001")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == VERIFICATION
    assert refused.json()["title"] == "Verification required"
    me = (await exchange.client.get("/accounts/me", headers=pending)).json()
    assert me["balance"] == 0

    # Completing a service paid in minutes is spending too; without credits it is not.
    offer = await exchange.client.post(
        "/services",
        json={"kind": "repair", "direction": "offer", "title": "Bike repair"},
        headers=bob,
    )
    assert offer.status_code == 201, offer.text
    path = f"/services/{offer.json()['id']}/completions"
    paid = await exchange.client.post(
        path, json={"minutes": 60}, headers={**pending, "Idempotency-Key": "complete-0001"}
    )
    assert paid.status_code == 403
    assert paid.json()["type"] == VERIFICATION
    unpaid = await exchange.client.post(
        path,
        json={"minutes": 60, "settle_in_credits": False},
        headers={**pending, "Idempotency-Key": "complete-0002"},
    )
    assert unpaid.status_code == 201, unpaid.text
    assert unpaid.json()["transfer_id"] is None


async def test_verified_members_and_staff_at_the_desk_are_not_blocked(exchange):
    await exchange.client.get("/accounts/me", headers=exchange.auth("bob"))
    await exchange.client.get("/accounts/me", headers=exchange.auth("paper", verified=False))
    assert (await transfer(exchange, exchange.auth("alice"), "verified-01")).status_code == 201
    # A staff token carries no residency check of its own: staff act for residents.
    desk = exchange.auth("stella", "staff", verified=False)
    slip = await transfer(exchange, desk, "desk-000001", on_behalf_of="paper")
    assert slip.status_code == 201, slip.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"deposit_cents": "100"}, "body.deposit_cents"),
        ({"deposit_cents": False}, "body.deposit_cents"),
        ({"deposit_cents": 12.5}, "body.deposit_cents"),
    ],
)
async def test_item_money_must_be_a_json_integer(exchange, body, field):
    response = await exchange.client.post(
        "/items", json={**ITEM, **body}, headers=exchange.auth("alice")
    )
    assert field_of(response) == [field]


async def test_minutes_flags_and_dates_are_strict(exchange):
    alice = exchange.auth("alice")
    await exchange.client.get("/accounts/me", headers=exchange.auth("bob"))
    assert field_of(await transfer(exchange, alice, "strict-0001", minutes="30")) == [
        "body.minutes"
    ]
    assert field_of(await transfer(exchange, alice, "strict-0002", minutes=True)) == [
        "body.minutes"
    ]
    offer = await exchange.client.post(
        "/services",
        json={"kind": "repair", "direction": "offer", "title": "Sewing"},
        headers=exchange.auth("bob"),
    )
    completion = await exchange.client.post(
        f"/services/{offer.json()['id']}/completions",
        json={"minutes": 30, "settle_in_credits": 0},
        headers={**alice, "Idempotency-Key": "strict-0003"},
    )
    assert field_of(completion) == ["body.settle_in_credits"]

    item = await list_item(exchange.client, exchange.auth("bob"))
    for starts_on, due_on in [("0151-10-01", day(3)), (0, day(3)), (day(1), "2101-01-01")]:
        loan = await exchange.client.post(
            "/loans",
            json={"item_id": item["id"], "starts_on": starts_on, "due_on": due_on},
            headers=alice,
        )
        assert len(field_of(loan)) == 1
        assert field_of(loan)[0] in ("body.starts_on", "body.due_on")
    search = await exchange.client.get("/items", params={"available_from": "0151-10-01"})
    assert field_of(search) == ["query.available_from"]


async def test_a_huge_offset_is_refused_not_a_database_overflow(exchange):
    # Found by tests/test_openapi_fuzz.py: SQLite cannot bind an integer above 2**63.
    response = await exchange.client.get("/items", params={"offset": str(10**20)})
    assert field_of(response) == ["query.offset"]


async def test_refusals_keep_their_status_code_and_field(exchange):
    """Rules the routes once decided themselves, now in the use cases: same answers."""
    alice, bob, carol = exchange.auth("alice"), exchange.auth("bob"), exchange.auth("carol")
    staff = exchange.auth("stella", "staff")
    for who in (alice, bob, carol):
        await exchange.client.get("/accounts/me", headers=who)
    paid = (await transfer(exchange, alice, "refusal-01")).json()
    ride = {"kind": "carpool", "direction": "offer", "title": "Ride"}
    fix = (
        await exchange.client.post(
            "/services", json={**ride, "kind": "repair", "title": "Fix"}, headers=alice
        )
    ).json()
    org = {"id": "org-1", "kind": "organisation", "neighbourhood": "centre"}
    await exchange.client.post("/members", json=org, headers=staff)
    client = exchange.client
    refused = {
        "route_km": await client.post("/services", json=ride, headers=alice),
        "limits": await client.put(
            "/accounts/alice/limits", json={"debit_limit": 10, "credit_limit": 10}, headers=staff
        ),
        "on_behalf": await transfer(exchange, alice, "refusal-02", on_behalf_of="carol"),
        "transfer": await client.get(f"/transfers/{paid['id']}", headers=carol),
        "account": await client.get("/accounts/bob", headers=alice),
        "close": await client.post(f"/services/{fix['id']}/close", headers=bob),
        "register": await client.post("/members", json=org, headers=staff),
        "member": await client.get("/members/nobody", headers=alice),
    }
    assert {k: (r.status_code, r.json().get("code")) for k, r in refused.items()} == {
        "route_km": (422, "services.route_km_missing"),
        "limits": (409, "credits.balance_outside_limits"),
        "on_behalf": (403, "credits.staff_only"),
        "transfer": (403, "credits.not_your_transfer"),
        "account": (403, "credits.not_your_account"),
        "close": (403, "services.not_yours"),
        "register": (409, None),
        "member": (404, "members.not_found"),
    }
    assert refused["limits"].json()["params"] == {"balance_minutes": -30}
    assert field_of(refused["route_km"]) == ["body.route_km"]
    assert refused["register"].json()["errors"] == [
        {"field": "body.id", "message": "Member org-1 already exists."}
    ]
