"""Staff open accounts through the JSON API (the demo loader uses it)."""

import pytest

from services.portal.app import create_app


@pytest.fixture
async def portal(service_factory):
    return await service_factory("portal", create_app)


async def test_staff_open_a_verified_account_with_a_chosen_id(portal):
    street = (
        "1 " + __import__("services.portal.territory", fromlist=["x"]).directory().street_names[0]
    )
    body = {
        "id": "vlm-r01",
        "email": "camille@valmont.example",
        "display_name": "Camille",
        "password": "valmont-demo-2026",
        "address": street,
        "verified": True,
    }
    r = await portal.client.post("/api/accounts", json=body, headers=portal.auth("clerk", "staff"))
    assert r.status_code == 201, r.text
    assert r.json()["id"] == "vlm-r01" and r.json()["verified"] is True
    again = await portal.client.post(
        "/api/accounts", json=body, headers=portal.auth("clerk", "staff")
    )
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "body.id"


async def test_residents_cannot_open_accounts_and_staff_cannot_make_staff(portal):
    body = {
        "email": "x@valmont.example",
        "display_name": "X",
        "password": "long-enough-pw",
        "address": "nowhere",
        "roles": ["staff"],
    }
    r = await portal.client.post("/api/accounts", json=body, headers=portal.auth("r", "resident"))
    assert r.status_code == 403
    r = await portal.client.post("/api/accounts", json=body, headers=portal.auth("s", "staff"))
    assert r.status_code == 403
    r = await portal.client.post(
        "/api/accounts", json={**body, "roles": ["resident"]}, headers=portal.auth("s", "staff")
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.address"
