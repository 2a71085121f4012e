"""The budget's edge: money, flags and dates in request bodies are strict and bounded.

Bodies are validated before any edition is looked up, so an unknown edition id is enough.
"""

from __future__ import annotations

import pytest

from services.budget.app import create_app


@pytest.fixture
def db_backend() -> str:
    return "sqlite"  # parsing does not depend on the database


@pytest.fixture
async def budget(service_factory):
    return await service_factory("budget", create_app)


EDITION = {
    "name": "Valmont 2031",
    "envelopes": [{"name": "City", "amount_cents": 100_000_00}],
    "rule": "greedy",
}


def fields_of(response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"envelopes": [{"name": "City", "amount_cents": "100"}]}, "body.envelopes.0.amount_cents"),
        ({"envelopes": [{"name": "City", "amount_cents": True}]}, "body.envelopes.0.amount_cents"),
        ({"allow_replacement": 0}, "body.allow_replacement"),
        ({"phase_dates": {"voting": {"start": "0151-10-01"}}}, "body.phase_dates.voting.start"),
        ({"phase_dates": {"voting": {"start": 0}}}, "body.phase_dates.voting.start"),
    ],
)
async def test_an_edition_needs_integer_cents_real_booleans_and_sane_dates(budget, changes, field):
    staff = budget.auth("mayor-office", "staff")
    response = await budget.client.post("/editions", json={**EDITION, **changes}, headers=staff)
    assert fields_of(response) == [field]


async def test_assessments_milestones_and_desk_voters_are_strict(budget):
    staff, reviewer = budget.auth("mayor-office", "staff"), budget.auth("rev", "reviewer")
    base = "/editions/unknown/proposals/unknown"
    feasible = await budget.client.post(
        f"{base}/assessment", json={"feasible": "true", "reason": "ok"}, headers=reviewer
    )
    assert fields_of(feasible) == ["body.feasible"]
    cost = await budget.client.post(
        f"{base}/assessment",
        json={"feasible": True, "reason": "ok", "cost_cents": "12"},
        headers=reviewer,
    )
    assert fields_of(cost) == ["body.cost_cents"]
    milestone = await budget.client.post(
        f"{base}/milestones", json={"status": "planned", "on": 0}, headers=staff
    )
    assert fields_of(milestone) == ["body.on"]
    proposal = await budget.client.post(
        "/editions/unknown/proposals",
        json={"title": "Fountain", "proposed_cost_cents": 10.5},
        headers=budget.auth("alice"),
    )
    assert fields_of(proposal) == ["body.proposed_cost_cents"]
    # Desk voters are registered first (identity seen by staff), then their paper is cast.
    voter = await budget.client.post(
        "/editions/unknown/desk/voters",
        json={"identity": "ID-12345", "neighbourhood": "centre", "birthdate": 19},
        headers=staff,
    )
    assert fields_of(voter) == ["body.birthdate"]
    # A birthdate is older than the platform: 1950 is fine here (the edition is unknown).
    older = await budget.client.post(
        "/editions/unknown/desk/voters",
        json={"identity": "ID-12345", "neighbourhood": "centre", "birthdate": "1950-02-01"},
        headers=staff,
    )
    assert older.status_code == 404, older.text
