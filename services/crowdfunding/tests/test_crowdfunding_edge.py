"""Crowdfunding's edge: unverified accounts may not pledge; money, flags and dates are strict."""

from __future__ import annotations

import pytest

from services.crowdfunding.app import create_app
from services.crowdfunding.tests.test_crowdfunding_history import CLOSED
from services.crowdfunding.tests.test_crowdfunding_lifecycle import launch, live_campaign

VERIFICATION = "https://sharitories.org/problems/verification-required"


@pytest.fixture
def db_backend() -> str:
    return "sqlite"  # authorisation and parsing do not depend on the database


@pytest.fixture
async def service(service_factory):
    return await service_factory("crowdfunding", create_app)


def fields_of(response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in response.json()["errors"]]


async def test_an_unverified_account_sees_campaigns_but_cannot_pledge(service):
    campaign = await launch(service, await live_campaign(service))
    pending = service.auth("newcomer", "resident", verified=False)
    assert (await service.client.get(f"/campaigns/{campaign['id']}", headers=pending)).is_success
    refused = await service.client.post(
        f"/campaigns/{campaign['id']}/pledges",
        json={"amount_cents": 10_00, "card_token": "tok_instant"},
        headers=pending,
    )
    assert refused.status_code == 403
    assert refused.json()["type"] == VERIFICATION
    assert refused.json()["title"] == "Verification required"
    verified = await service.client.post(
        f"/campaigns/{campaign['id']}/pledges",
        json={"amount_cents": 10_00, "card_token": "tok_instant"},
        headers=service.auth("neighbour", "resident"),
    )
    assert verified.status_code == 201, verified.text
    assert verified.json()["amount_cents"] == 10_00


@pytest.mark.parametrize("amount", ["100", False, 1.5])
async def test_a_pledge_amount_must_be_a_json_integer(service, amount):
    campaign = await launch(service, await live_campaign(service))
    response = await service.client.post(
        f"/campaigns/{campaign['id']}/pledges",
        json={"amount_cents": amount, "card_token": "tok_instant"},
        headers=service.auth("neighbour", "resident"),
    )
    assert fields_of(response) == ["body.amount_cents"]


async def test_desk_and_pool_flags_must_be_json_booleans(service):
    staff = service.auth("sam", "staff")
    campaign = await launch(service, await live_campaign(service))
    desk = await service.client.post(
        f"/campaigns/{campaign['id']}/desk-pledges",
        json={"backer_id": "b1", "amount_cents": 5_00, "method": "cash", "verified_resident": 1},
        headers=staff,
    )
    assert fields_of(desk) == ["body.verified_resident"]
    pool = await service.client.post(
        "/match-pools",
        json={"name": "City match", "budget_cents": 100_00, "residents_only": "yes"},
        headers=staff,
    )
    assert fields_of(pool) == ["body.residents_only"]
    goal = await service.client.post(
        "/campaigns",
        json={"title": "Garden", "category": "ecology", "goal_cents": "500", "duration_days": 30},
        headers=service.auth("holly", "resident"),
    )
    assert fields_of(goal) == ["body.goal_cents"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"launched_at": 0}, "body.launched_at"),
        ({"launched_at": "0151-10-01T00:00:00+00:00"}, "body.launched_at"),
        ({"closed_at": "2101-01-01T00:00:00+00:00"}, "body.closed_at"),
        ({"raised_cents": "870001"}, "body.raised_cents"),
    ],
)
async def test_history_dates_and_amounts_are_strict_and_bounded(service, changes, field):
    response = await service.client.post(
        "/campaigns/history", json={**CLOSED, **changes}, headers=service.auth("clerk", "staff")
    )
    assert fields_of(response) == [field]


async def test_the_sandbox_needs_a_card_token_and_touches_nothing_without_one(service):
    """Only a provider with its own card form in the browser (Stripe) pledges without one."""
    campaign = await launch(service, await live_campaign(service))
    refused = await service.client.post(
        f"/campaigns/{campaign['id']}/pledges",
        json={"amount_cents": 10_00},
        headers=service.auth("neighbour", "resident"),
    )
    assert fields_of(refused) == ["body.card_token"]
    mine = await service.client.get("/me/pledges", headers=service.auth("neighbour", "resident"))
    assert mine.json() == [], "no pledge was opened"
