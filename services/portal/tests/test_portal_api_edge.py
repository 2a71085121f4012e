"""The portal's JSON API: strict flags, and its problems declared in its OpenAPI."""

from __future__ import annotations

import pytest


@pytest.fixture
def db_backend() -> str:
    return "sqlite"  # parsing does not depend on the database


@pytest.mark.parametrize("verified", ["true", 1])
async def test_verified_must_be_a_json_boolean(portal, verified):
    body = {
        "email": "strict@valmont.example",
        "display_name": "Strict",
        "password": "long-enough-pw",
        "address": "1 nowhere",
        "verified": verified,
    }
    r = await portal.client.post("/api/accounts", json=body, headers=portal.auth("s", "staff"))
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["body.verified"]


async def test_the_accounts_api_declares_its_problem_responses(portal):
    operation = (await portal.client.get("/openapi.json")).json()["paths"]["/api/accounts"]
    responses = operation["post"]["responses"]
    for status in ("401", "403", "409", "422"):
        assert list(responses[status]["content"]) == ["application/problem+json"], status
