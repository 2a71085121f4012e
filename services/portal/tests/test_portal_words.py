"""Every word in the reader's language: the services' refusals reach the portal as a code and
params, and the pages word them from the FR/EN catalogues (never the English detail, never
an internal id), with numbers written the local way. Against the real exchange and budget
services where they can run in-process."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest

from services.budget.app import create_app as budget_app
from services.budget.tests.support import Desk
from services.exchange.app import create_app as exchange_app
from services.portal.backends import Backends
from services.portal.config import PortalSettings
from services.portal.testkit import csrf_of, log_in, make_account

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class RealThenFake(httpx.AsyncBaseTransport):
    """Calls to the given hosts reach the real apps; the others the portal's fake."""

    def __init__(self, apps: dict, fake) -> None:
        self.apps = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}
        self.fake = httpx.MockTransport(fake.handle)

    async def handle_async_request(self, request):
        transport = self.apps.get(request.url.host, self.fake)
        return await transport.handle_async_request(request)


@pytest.fixture
async def real(portal, service_factory):
    exchange = await service_factory("exchange", exchange_app)
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
        transport=RealThenFake(
            {"exchange.test": exchange.app, "budget.test": budget.app}, portal.fake
        ),
    )
    portal.fake.on("GET", "http://crowdfunding.test/campaigns", [])
    portal.exchange, portal.budget = exchange, budget
    return portal


def browser(portal) -> httpx.AsyncClient:
    """Another person's browser on the same portal (own cookies)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=portal.app), base_url="http://portal"
    )


def text_of(html: str) -> str:
    """The page as read: entities decoded, every kind of space a plain one."""
    return re.sub(r"[\u00a0\u202f\s]+", " ", unescape(html))


def errors_on(html: str) -> list[str]:
    return [text_of(m) for m in re.findall(r'class="flash error"[^>]*>([^<]*)<', html)]


async def post_form(client, page: str, action: str, data: dict) -> httpx.Response:
    token = await csrf_of(client, page)
    return await client.post(action, data={**data, "csrf": token})


async def choose(client, lang: str) -> None:
    r = await post_form(client, "/login", "/lang", {"lang": lang, "next": "/"})
    assert r.status_code == 303


async def test_a_transfer_over_the_debit_limit_is_refused_in_the_readers_language(real):
    ben = await make_account(real, email="ben@example.org")
    dora = await make_account(real, email="dora@example.org")
    async with browser(real) as hers:
        await log_in(hers, dora.email)
        assert (await hers.get("/credits")).status_code == 200  # her time account opens
    client = real.client
    await log_in(client, ben.email)
    give = {"to_email": dora.email, "memo": ""}
    r = await post_form(client, "/credits", "/credits/transfer", {**give, "minutes": "75"})
    assert errors_on((await client.get(r.headers["location"])).text) == []

    r = await post_form(client, "/credits", "/credits/transfer", {**give, "minutes": "1 200"})
    [message] = errors_on((await client.get(r.headers["location"])).text)
    assert "limite de découvert de 1 200 minutes" in message
    assert "solde actuel : -75 minutes" in message
    assert "debit limit" not in message and ben.id not in message

    await choose(client, "en")
    r = await post_form(client, "/credits", "/credits/transfer", {**give, "minutes": "1300"})
    [message] = errors_on((await client.get(r.headers["location"])).text)
    assert "debit limit of 1,200 minutes (current balance: -75 minutes)" in message
    assert ben.id not in message


async def test_an_unknown_item_is_said_in_french_without_its_id(real):
    await make_account(real, email="ben@example.org")
    await log_in(real.client, "ben@example.org")
    page = await real.client.get("/items/nope")
    assert page.status_code == 404
    assert "Cet objet est introuvable" in text_of(page.text)
    assert "No item" not in page.text and "nope." not in page.text


async def test_a_ballot_naming_a_project_off_the_paper_is_refused_without_ids(real):
    voter = await make_account(real, email="ben@example.org")
    desk = Desk(real.budget)
    await desk.edition(envelopes=[{"name": "Ville", "amount_cents": 100_000_00}])
    await desk.to_voting({"Bancs": 30_000_00, "Fontaine": 50_000_00})
    await log_in(real.client, voter.email)
    vote = f"/budget/{desk.ed['id']}/vote/{desk.city}"
    stranger = "01a21cf2-0000-7000-8000-000000000000"
    r = await post_form(real.client, vote, vote, {"projects": [stranger]})
    assert r.status_code == 422
    [message] = errors_on(r.text)
    assert message.startswith("Un projet choisi ne figure pas sur ce bulletin")
    assert stranger not in r.text and "Not on this ballot paper" not in r.text


async def test_the_desk_offers_every_edition_in_voting_one_paper_per_envelope(real):
    await make_account(real, email="agent@example.org", roles=("staff",))
    first, second = Desk(real.budget), Desk(real.budget)
    await first.edition(name="Budget 2030")  # a city-wide envelope and the Gare's
    city_ids = await first.to_voting({"Bancs": 30_000_00})
    await second.edition(name="Budget 2031", envelopes=[{"name": "Ville", "amount_cents": 1}])
    await second.to_voting({"Fontaine": 50_000_00})
    await log_in(real.client, "agent@example.org")
    page = (await real.client.get("/staff/desk")).text
    papers = re.findall(r'data-testid="desk-paper">(.*?)</form>', page, flags=re.S)
    headings = [text_of(re.search(r"<h3>(.*?)</h3>", p, flags=re.S).group(1)) for p in papers]
    assert len(papers) == 3, headings  # 2030: city + Gare; 2031: city
    assert any(h.startswith("Budget 2030 — Gare") for h in headings)
    assert "Budget 2031 — Ville" in headings
    [city_2030] = [p for p, h in zip(papers, headings, strict=True) if h == "Budget 2030 — City"]
    assert city_ids[0] in city_2030 and "Fontaine" not in city_2030
    [gare_2030] = [p for p, h in zip(papers, headings, strict=True) if "Gare" in h]
    assert city_ids[0] not in gare_2030  # the Gare's paper holds only the Gare's projects


async def test_the_support_button_changes_and_the_proposal_form_closes(real):
    voter = await make_account(real, email="ben@example.org")
    desk = Desk(real.budget)
    await desk.edition()
    await desk.phase("proposals")
    await log_in(real.client, voter.email)
    propose = f"/budget/{desk.ed['id']}/propose"
    assert (await real.client.get(propose)).status_code == 200
    pid = await desk.propose("Bancs")
    await desk.phase("pre_selection")
    closed = await real.client.get(propose)
    assert closed.status_code == 409
    assert "Le dépôt des propositions est clos" in text_of(closed.text)

    edition = f"/budget/{desk.ed['id']}"
    support = f"{edition}/proposals/{pid}/support"
    assert support in (await real.client.get(edition)).text
    r = await post_form(real.client, edition, support, {})
    assert r.status_code == 303
    page = (await real.client.get(edition)).text
    assert support not in page and 'data-testid="supported"' in page
    assert "Vous soutenez ce projet" in text_of(page)


REPORT = {
    "territory": {"name": "Valmont"},
    "min_cell": 5,
    "catalogue": {"version": "2026.1"},
    "indicators": {
        "environment.co2e_avoided": {"value": {"central": 380.0}, "unit": "kgCO2e"},
        "participation.active_members": {"value": 1200, "unit": "members"},
        "money.raised": {"value": 600000, "unit": "EUR_cent"},
    },
    "neighbourhoods": [],
    "monthly": [],
    "editions": [{"edition": "ed-1", "proposals": 12, "ballots_counted": 1500,
                  "turnout": {"percent": 0.2}, "projects_selected": 3}],
}  # fmt: skip


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("fr", ["380,0", "1 200", "6 000,00 €", "0,2 %", "1 500", "Budget 2030"]),
        ("en", ["380.0", "1,200", "€6,000.00", "0.2%", "1,500", "Budget 2030"]),
    ],
)
async def test_the_dashboard_writes_numbers_the_readers_way(portal, lang, expected):
    portal.fake.on("GET", "http://impact.test/report", REPORT)
    portal.fake.on("GET", "http://impact.test/indicators", {"indicators": []})
    portal.fake.on("GET", "http://budget.test/editions", [{"id": "ed-1", "name": "Budget 2030"}])
    await choose(portal.client, lang)
    page = await portal.client.get("/impact")
    assert page.status_code == 200
    text = text_of(page.text)
    for figure in expected:
        assert figure in text, figure
    assert "ed-1" not in text


async def test_a_second_paper_ballot_is_refused_in_french_at_the_desk(real):
    await make_account(real, email="agent@example.org", roles=("staff",))
    desk = Desk(real.budget)
    await desk.edition(envelopes=[{"name": "Ville", "amount_cents": 100_000_00}])
    ids = await desk.to_voting({"Bancs": 30_000_00})
    await log_in(real.client, "agent@example.org")
    ballot = {"edition_id": desk.ed["id"], "identity": "CNI 0042", "neighbourhood": "centre",
              "envelope_id": desk.city, "projects": [ids[0]]}  # fmt: skip
    first = await post_form(real.client, "/staff/desk", "/staff/desk/ballot", ballot)
    assert errors_on((await real.client.get(first.headers["location"])).text) == []
    again = await post_form(real.client, "/staff/desk", "/staff/desk/ballot", ballot)
    [message] = errors_on((await real.client.get(again.headers["location"])).text)
    assert message == "Cette personne a déjà voté dans cette enveloppe."
