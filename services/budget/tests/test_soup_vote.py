"""A Soup evening's vote: an edition of kind "soup" on the usual voting machinery."""

from __future__ import annotations

import pytest

from services.budget import domain
from services.budget.app import create_app
from services.budget.tests.test_budget_http import stream_events


@pytest.fixture
async def service(service_factory):
    return await service_factory("budget", create_app)


def staff(service):
    return service.auth("sam", "staff")


async def open_vote(service, titles=("Seed library", "Street piano", "Repair corner")) -> dict:
    r = await service.client.post(
        "/soup-votes",
        json={"name": "Soup, March", "projects": [{"title": t, "author_id": f"cook-{i}"}
                                                  for i, t in enumerate(titles)]},
        headers=staff(service),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_soup_vote_opens_at_once_with_its_shortlist_on_the_paper(service):
    vote = await open_vote(service)
    assert vote["kind"] == "soup" and vote["phase"] == "voting"
    assert [p["title"] for p in vote["projects"]] == [
        "Seed library",
        "Street piano",
        "Repair corner",
    ]
    assert len(vote["keyholder_shares"]) == 1
    edition = (await service.client.get(f"/editions/{vote['edition_id']}")).json()
    assert edition["kind"] == "soup" and edition["rule"] == "greedy"
    assert edition["ballot_format"]["max_projects"] == 1
    assert edition["envelopes"][0]["amount_cents"] == domain.SOUP_SHARE_CENTS
    listed = (await service.client.get(f"/editions/{vote['edition_id']}/proposals")).json()
    assert {p["status"] for p in listed} == {"feasible"}


@pytest.mark.parametrize(
    "projects",
    [[{"title": "Alone"}], [{"title": f"P{i}"} for i in range(13)], [{"title": "x@y.org"}] * 2],
)
async def test_a_soup_vote_needs_two_to_twelve_public_projects(service, projects):
    r = await service.client.post(
        "/soup-votes", json={"name": "Soup", "projects": projects}, headers=staff(service)
    )
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


async def test_most_chosen_project_wins_and_the_results_say_soup(service, nats_server):
    vote = await open_vote(service)
    eid, envelope = vote["edition_id"], vote["envelope_id"]
    seeds, piano, repair = (p["proposal_id"] for p in vote["projects"])
    for who, choice in (("ana", piano), ("ben", piano), ("cat", seeds), ("dan", repair)):
        r = await service.client.post(
            f"/editions/{eid}/ballots",
            json={"envelope_id": envelope, "projects": [choice]},
            headers=service.auth(who),
        )
        assert r.status_code == 201, r.text
    r = await service.client.post(
        f"/editions/{eid}/phase", json={"phase": "results"}, headers=staff(service)
    )
    assert r.status_code == 200, r.text
    shares = [k["share"] for k in vote["keyholder_shares"]]
    r = await service.client.post(
        f"/editions/{eid}/results", json={"shares": shares}, headers=staff(service)
    )
    assert r.status_code == 201, r.text
    [envelope_result] = r.json()["envelopes"]
    assert envelope_result["selected"] == [piano] and envelope_result["ballots"] == 4
    await service.flush_outbox()
    published = [
        e for e in await stream_events(nats_server.url) if e.type == "budget.results.published"
    ]
    assert [(e.data["edition_id"], e.data["kind"]) for e in published] == [(eid, "soup")]
