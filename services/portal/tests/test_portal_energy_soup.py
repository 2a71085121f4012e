# ruff: noqa: F811  (the clock fixture comes from the crowdfunding tests)
"""Energy units and the Soup evening in the portal, in front of the real crowdfunding and
budget services (in-process; the budget's results reach crowdfunding through NATS)."""

from __future__ import annotations

import asyncio
import re
from html import unescape

import httpx
import pytest

from services.budget.app import create_app as budget_app
from services.crowdfunding.app import create_app as crowdfunding_app
from services.crowdfunding.tests.test_crowdfunding_lifecycle import clock  # noqa: F401
from services.portal.app import create_app as portal_app
from services.portal.backends import Backends
from services.portal.config import PortalSettings
from services.portal.testkit import csrf_of, log_in, make_account

SHARE = re.compile(r"s1-\d+-\d+-[0-9a-f]+")


class TwoServices(httpx.AsyncBaseTransport):
    def __init__(self, cf, budget) -> None:
        self.apps = {
            "crowdfunding.test": httpx.ASGITransport(app=cf.app),
            "budget.test": httpx.ASGITransport(app=budget.app),
        }

    async def handle_async_request(self, request):
        app = self.apps.get(request.url.host)
        if app is None:  # other services (exchange, impact): not part of these pages
            return httpx.Response(503, json={"title": "Unavailable", "status": 503})
        return await app.handle_async_request(request)


@pytest.fixture
async def town(service_factory):
    cf = await service_factory("crowdfunding", crowdfunding_app)
    budget = await service_factory("budget", budget_app)
    portal = await service_factory("portal", portal_app)
    await portal.app.state.backends.close()
    portal.app.state.backends = Backends(
        portal.settings,
        PortalSettings(
            crowdfunding_url="http://crowdfunding.test", budget_url="http://budget.test"
        ),
        transport=TwoServices(cf, budget),
    )
    portal.cf, portal.budget = cf, budget
    yield portal
    await portal.app.state.backends.close()


async def post_form(client, page: str, action: str, files=None, **fields) -> httpx.Response:
    token = await csrf_of(client, page)
    return await client.post(action, data={"csrf": token, **fields}, files=files)


def flashes(html: str) -> list[str]:
    found = re.findall(r'class="flash [a-z]+"[^>]*>([^<]*)<', html)
    return [unescape(re.sub(r"[ \t\n]+", " ", m)) for m in found]


async def follow(client, response) -> str:
    assert response.status_code == 303, response.text
    return unescape((await client.get(response.headers["location"])).text)


async def test_energy_units_are_bought_and_production_recorded_from_the_portal(town, clock):
    cf = town.cf
    coop = cf.auth("coop", "organisation")
    made = await cf.client.post(
        "/energy-campaigns",
        json={
            "title": "Toit solaire du gymnase",
            "neighbourhood": "centre",
            "duration_days": 30,
            "technology": "solar_pv",
            "kwp": "36",
            "unit_price_cents": 325_00,
            "units": 3,
            "estimated_return_cents_per_unit_year": 30_00,
        },
        headers=coop,
    )
    cid = made.json()["campaign_id"]
    for step, who in (("submit", coop), ("review", cf.auth("rita", "reviewer")), ("launch", coop)):
        assert (await cf.client.post(f"/campaigns/{cid}/{step}", json={}, headers=who)).is_success

    resident = await make_account(town, email="ines@valmont.example")
    await log_in(town.client, resident.email)
    listed = unescape((await town.client.get("/campaigns")).text)
    assert 'data-testid="kind-energy">Parts citoyennes d\'énergie<' in listed
    page = unescape((await town.client.get(f"/campaigns/{cid}")).text)
    assert "Estimation, pas une promesse" in page and "325,00" in page
    assert 'data-testid="kind-energy"' in page and 'data-testid="kind-soup"' not in page
    assert re.search(r'data-testid="units-left">3 sur 3<', page)
    bought = await post_form(
        town.client, f"/campaigns/{cid}", f"/campaigns/{cid}/units", units="2",
        card_token="tok_instant",
    )  # fmt: skip
    page = await follow(town.client, bought)
    assert any("2 part(s)" in f for f in flashes(page))
    assert re.search(r'data-testid="units-left">1 sur 3<', page)
    refused = await post_form(
        town.client, f"/campaigns/{cid}", f"/campaigns/{cid}/units", units="2",
        card_token="tok_instant",
    )  # fmt: skip
    assert "épuisée" in " ".join(flashes(await follow(town.client, refused)))

    agent = await make_account(town, email="agent@valmont.example", roles=("staff",))
    await log_in(town.client, agent.email)
    staff_page = f"/staff/energy/{cid}"
    month = clock.at.strftime("%Y-%m")
    typed = await post_form(
        town.client, staff_page, f"{staff_page}/production", month=month, kwh="1 234,5"
    )
    assert any(month in f for f in flashes(await follow(town.client, typed)))
    bad = await post_form(
        town.client, staff_page, f"{staff_page}/import",
        files={"file": ("prod.csv", b"month;kwh\n2026-01;800\n2026-02;beaucoup\n", "text/csv")},
    )  # fmt: skip
    said = " ".join(flashes(await follow(town.client, bad)))
    assert "Ligne 3" in said and "kwh" in said and "Rien n'a été importé" in said
    good = await post_form(
        town.client, staff_page, f"{staff_page}/import",
        files={"file": ("prod.csv", "month;kwh\n2026-01;800\n".encode("latin-1"), "text/csv")},
    )  # fmt: skip
    page = await follow(town.client, good)
    assert any("1 mois importés" in f for f in flashes(page))
    assert re.search(r"<td>2026-01</td><td>800</td>", page)
    resident_view = await town.client.get(staff_page)
    assert resident_view.status_code == 200
    await log_in(town.client, resident.email)
    assert (await town.client.get(staff_page)).status_code == 403


async def test_a_soup_evening_run_from_the_portal(town, clock):
    agent = await make_account(town, email="agent@valmont.example", roles=("staff",))
    diner = await make_account(town, email="lea@valmont.example")
    await log_in(town.client, agent.email)
    opened = await post_form(
        town.client, "/staff/soup", "/staff/soup", title="Soupe de mars", neighbourhood="centre",
        entry_fee="8", hours="4", projects="Grainothèque\nPiano de rue\n",
    )  # fmt: skip
    assert opened.status_code == 200, flashes(opened.text)
    assert opened.headers.get("cache-control") == "no-store", flashes(opened.text)
    [share] = SHARE.findall(opened.text)
    evening_id = re.search(r'href="/soup/([0-9a-f-]+)"', opened.text).group(1)
    page = f"/soup/{evening_id}"
    # In the campaign list the pot is the evening's, with the way to its vote.
    listed = unescape((await town.client.get("/campaigns")).text)
    card = listed[listed.index("Soupe de mars") :]
    assert 'data-testid="kind-soup">Cagnotte de la soupe<' in card
    assert f'href="{page}"' in card
    html = unescape((await town.client.get(page)).text)
    piano = re.search(r'value="([0-9a-f-]+)">Piano de rue<', html).group(1)
    seeds = re.search(r'value="([0-9a-f-]+)">Grainothèque<', html).group(1)
    door = await post_form(
        town.client, page, f"{page}/desk", ticket="T-12", neighbourhood="centre", paid="1",
        project=seeds,
    )  # fmt: skip
    assert any("T-12" in f for f in flashes(await follow(town.client, door)))

    await log_in(town.client, diner.email)
    fee = await post_form(town.client, page, f"{page}/fee", card_token="tok_instant")
    assert any("8,00" in f for f in flashes(await follow(town.client, fee)))
    voted = await post_form(town.client, page, f"{page}/vote", project=piano)
    assert any("vote est enregistré" in f for f in flashes(await follow(town.client, voted)))
    again = await post_form(town.client, page, f"{page}/vote", project=seeds)
    assert flashes(await follow(town.client, again)), "a second vote is refused, and said"

    await log_in(town.client, agent.email)
    closed = await post_form(town.client, page, f"{page}/close", share=share)
    await follow(town.client, closed)
    await town.budget.flush_outbox()
    cf = town.cf
    async with asyncio.timeout(20):
        while (await cf.client.get(f"/soup-evenings/{evening_id}")).json()["state"] == "open":
            await asyncio.sleep(0.05)
    # Seeds 1 (paper), piano 1 (online): a tie, decided by the greedy rule's order.
    clock.advance(seconds=1)
    assert (await cf.client.post("/settlement/run", headers=cf.auth("sam", "staff"))).is_success
    html = unescape((await town.client.get(page)).text)
    assert 'data-testid="soup-winner"' in html
    assert "15,20" in html and "0,80" in html  # 16 EUR less 5 %


async def test_an_energy_draft_offers_no_reward_terms_nor_a_second_reward(town, clock):
    holder = await make_account(town, email="coop@valmont.example", roles=("organisation",))
    made = await town.cf.client.post(
        "/energy-campaigns",
        json={
            "title": "Toit solaire de l'école",
            "neighbourhood": "centre",
            "duration_days": 30,
            "technology": "solar_pv",
            "kwp": "12",
            "unit_price_cents": 250_00,
            "units": 4,
            "estimated_return_cents_per_unit_year": 20_00,
        },
        headers=town.cf.auth(holder.id, "organisation"),
    )
    assert made.status_code == 201, made.text
    cid = made.json()["campaign_id"]
    await log_in(town.client, holder.email)
    page = unescape((await town.client.get(f"/campaigns/{cid}")).text)
    assert 'data-testid="reward-form"' in page, "the title and description stay editable"
    assert 'name="min"' not in page and 'name="stock"' not in page
    assert f'action="/campaigns/{cid}/rewards"' not in page
    assert 'data-testid="energy-reward-hint"' in page and "découlent de l'installation" in page
    # Renaming the units from the portal keeps their price and stock.
    [reward_id] = re.findall(rf'action="/campaigns/{cid}/rewards/([0-9a-f-]+)"', page)
    renamed = await post_form(
        town.client, f"/campaigns/{cid}", f"/campaigns/{cid}/rewards/{reward_id}",
        title="Part solaire", description="",
    )  # fmt: skip
    assert any("enregistr" in f for f in flashes(await follow(town.client, renamed)))
    auth = town.cf.auth(holder.id, "organisation")
    energy = (await town.cf.client.get(f"/campaigns/{cid}/energy", headers=auth)).json()
    assert energy["units_total"] == 4 and energy["unit_price_cents"] == 250_00, energy
    [reward] = (await town.cf.client.get(f"/campaigns/{cid}", headers=auth)).json()["rewards"]
    assert reward["title"] == "Part solaire" and reward["stock"] == 4
