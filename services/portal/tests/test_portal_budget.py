"""The portal's budget pages in front of the real budget service: sealed editions created
with their keyholders' shares shown once, desk ballots of registered residents, the count
with shares, and explained results (FR) with the export and the recount command."""

from __future__ import annotations

import re

import httpx
import pytest

from services.budget.app import create_app as budget_app
from services.budget.tests.support import Desk
from services.portal.backends import Backends
from services.portal.config import PortalSettings
from services.portal.testkit import csrf_of, log_in, make_account

SHARE = re.compile(r"s1-\d+-\d+-[0-9a-f]+")


class BudgetThenFake(httpx.AsyncBaseTransport):
    """Calls to budget.test reach the real budget app; the others the portal's fake."""

    def __init__(self, app, fake) -> None:
        self.budget = httpx.ASGITransport(app=app)
        self.fake = httpx.MockTransport(fake.handle)

    async def handle_async_request(self, request):
        if request.url.host == "budget.test":
            return await self.budget.handle_async_request(request)
        return await self.fake.handle_async_request(request)


@pytest.fixture
async def with_budget(portal, service_factory):
    budget = await service_factory("budget", budget_app)
    await portal.app.state.backends.close()
    portal.app.state.backends = Backends(
        portal.settings,
        PortalSettings(
            exchange_url="http://exchange.test",
            crowdfunding_url="http://crowdfunding.test",
            budget_url="http://budget.test",
            impact_url="http://impact.test",
        ),
        transport=BudgetThenFake(budget.app, portal.fake),
    )
    portal.fake.on("GET", "http://crowdfunding.test/campaigns", [])
    return portal, budget


async def post_form(client, page: str, action: str, data: dict):
    token = await csrf_of(client, page)
    return await client.post(action, data={**data, "csrf": token})


async def test_a_sealed_edition_from_creation_to_explained_results(with_budget):
    portal, budget = with_budget
    agent = await make_account(portal, email="agent@example.org", roles=("staff",))
    voter = await make_account(portal, email="ben@example.org")
    await log_in(portal.client, agent.email)
    page = await post_form(
        portal.client,
        "/staff/editions",
        "/staff/editions",
        {
            "name": "Budget 2031",
            "city_envelope_name": "Ville",
            "city_amount": "100000",
            "ballot_kind": "approval",
            "rule": "mes",
            "keyholders": "Maire, Commission, Secrétaire",
            "threshold": "2",
            "voting_start": "2099-01-01",
            "voting_end": "2099-01-31",
        },
    )
    assert page.status_code == 201 and page.headers["cache-control"] == "no-store"
    shares = SHARE.findall(page.text)
    assert len(shares) == 3  # shown once, one per keyholder
    desk = Desk(budget)
    [edition] = (await budget.client.get("/editions")).json()
    desk.ed, desk.city = edition, edition["envelopes"][0]["id"]
    ids = await desk.to_voting({"Bancs": 30_000_00, "Fontaine": 50_000_00, "Jardin": 40_000_00})

    # A resident without an account votes on paper: registered at the desk, then entered.
    r = await post_form(
        portal.client,
        "/staff/desk",
        "/staff/desk/ballot",
        {
            "edition_id": edition["id"],
            "identity": "CNI 0042",
            "neighbourhood": "centre",
            "envelope_id": desk.city,
            "projects": [ids[0], ids[2]],
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/staff/desk"

    # A verified resident votes online and keeps the tracker.
    await log_in(portal.client, voter.email)
    r = await post_form(
        portal.client,
        f"/budget/{edition['id']}/vote/{desk.city}",
        f"/budget/{edition['id']}/vote/{desk.city}",
        {"projects": [ids[0], ids[1]]},
    )
    assert r.status_code == 200, r.text
    receipt = re.search(r'data-testid="receipt">([0-9a-f]{64})<', r.text).group(1)

    # The count, from the staff page, with two keyholders' shares.
    await log_in(portal.client, agent.email)
    await post_form(
        portal.client, "/staff/editions", f"/staff/editions/{edition['id']}/phase",
        {"phase": "results"},
    )  # fmt: skip
    r = await post_form(
        portal.client,
        "/staff/editions",
        f"/staff/editions/{edition['id']}/results",
        {"shares": "\n".join(shares[1:])},
    )
    assert r.status_code == 303
    results = (await budget.client.get(f"/editions/{edition['id']}/results")).json()
    assert results["envelopes"][0]["ballots"] == 2

    page = await portal.client.get(f"/budget/{edition['id']}")
    assert 'data-testid="voting-dates"' in page.text and "2099" in page.text
    assert "méthode des parts égales" in page.text.lower()
    assert 'data-testid="mes-rounds"' in page.text and "Tour par tour" in page.text
    assert f"sharitories budget tally {edition['id']}.pb --rule mes" in page.text
    export = await portal.client.get(f"/budget/{edition['id']}/export.pb")
    assert export.status_code == 200 and "equalshares/add1+greedy" in export.text
    trackers = await portal.client.get(f"/budget/{edition['id']}/trackers")
    assert receipt in trackers.text
    token = await csrf_of(portal.client, "/budget-receipt")
    found = await portal.client.post("/budget-receipt", data={"receipt": receipt, "csrf": token})
    assert "Compté" in found.text


async def test_the_desk_is_told_why_a_resident_who_voted_online_cannot_vote_on_paper(with_budget):
    portal, budget = with_budget
    agent = await make_account(portal, email="agent@example.org", roles=("staff",))
    ben = await make_account(portal, email="ben@example.org")
    desk = Desk(budget)
    await desk.edition(envelopes=[{"name": "Ville", "amount_cents": 100_000_00}])
    ids = await desk.to_voting({"Bancs": 30_000_00})
    r = await desk.vote(ben.id, [ids[0]], nbhd=ben.neighbourhood)
    assert r.status_code == 201
    await log_in(portal.client, agent.email)
    r = await post_form(
        portal.client,
        "/staff/desk",
        "/staff/desk/ballot",
        {"edition_id": desk.ed["id"], "email": ben.email, "envelope_id": desk.city,
         "projects": [ids[0]]},
    )  # fmt: skip
    assert r.status_code == 303
    page = await portal.client.get(r.headers["location"])
    assert "already voted online" in page.text or "déjà voté en ligne" in page.text
