"""Personal data is refused at the HTTP edge (422 naming the field), before any event is
built from it (issue 14: free text of events; libs/common/publictext.py)."""

from __future__ import annotations

from services.budget.tests.test_budget_http import desk

__all__ = ["desk"]


async def test_a_title_with_an_e_mail_is_refused_naming_the_field(desk):
    ed = await desk.edition()
    await desk.phase("proposals")
    r = await desk.client.post(
        f"/editions/{ed['id']}/proposals",
        json={"title": "Benches - write to jane.doe@example.org", "description": "d"},
        headers=desk.service.auth("alice", neighbourhood="centre"),
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "body.title"
    # A desk proposal's author must be a pseudonymous id, not a phone number or an e-mail.
    for author in ("06 12 34 56 78", "dora@example.org"):
        r = await desk.client.post(
            f"/editions/{ed['id']}/desk/proposals",
            json={"title": "Paper: a fountain", "author_id": author, "neighbourhood": "centre"},
            headers=desk.staff,
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["field"] == "body.author_id"
    bad_edition = await desk.client.post(
        "/editions",
        json={
            "name": "Call 06 12 34 56 78",
            "envelopes": [{"name": "City", "amount_cents": 100}],
        },
        headers=desk.staff,
    )
    assert bad_edition.status_code == 422
    assert bad_edition.json()["errors"][0]["field"] == "body.name"
    # Ordinary text still goes through.
    assert await desk.propose("Benches for the 2026-2027 season")
