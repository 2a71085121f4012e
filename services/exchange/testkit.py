"""Helpers shared by the exchange tests and its bench (no pytest imports here)."""

from __future__ import annotations

from datetime import date, timedelta

TODAY = date(2030, 6, 1)

ITEM = {
    "title": "Cordless drill",
    "description": "18 V, two batteries",
    "category": "drill",
    "condition": "good",
    "deposit_cents": 2000,
    "max_loan_days": 7,
    "pickup_notes": "Evenings after 6 pm",
}


def day(n: int, today: date = TODAY) -> str:
    """ISO date `n` days after `today`."""
    return (today + timedelta(days=n)).isoformat()


async def list_item(client, headers, **overrides) -> dict:
    response = await client.post("/items", json={**ITEM, **overrides}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def request_loan(client, headers, item_id: str, start: int = 1, end: int = 3, today=TODAY):
    return await client.post(
        "/loans",
        json={"item_id": item_id, "starts_on": day(start, today), "due_on": day(end, today)},
        headers=headers,
    )
