"""Personal data is refused at the HTTP edge (422 naming the field) before an event carries
it (issue 14: free text of events; libs/common/publictext.py)."""

from __future__ import annotations

from services.crowdfunding.tests.test_crowdfunding_history import CLOSED, service

__all__ = ["service"]


async def test_a_pool_name_with_an_e_mail_and_an_e_mail_as_holder_are_refused(service):
    staff = service.auth("clerk", "staff")
    r = await service.client.post(
        "/match-pools",
        json={"name": "Pool - contact bob@example.org", "budget_cents": 100_000},
        headers=staff,
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "body.name"
    r = await service.client.post(
        "/campaigns/history", json={**CLOSED, "holder_id": "bob@example.org"}, headers=staff
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "body.holder_id"
    ok = await service.client.post(
        "/match-pools", json={"name": "Leftover 2026", "budget_cents": 100_000}, headers=staff
    )
    assert ok.status_code == 201, ok.text
