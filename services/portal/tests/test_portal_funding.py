# ruff: noqa: F811  (the clock fixture comes from the crowdfunding tests)
"""The funding pages against the real crowdfunding service (in-process, same databases)."""

import re
from html import unescape

import httpx
import pytest

from services.crowdfunding.app import create_app as crowdfunding_app
from services.crowdfunding.tests.test_crowdfunding_lifecycle import clock, launch  # noqa: F401
from services.portal.app import create_app as portal_app
from services.portal.backends import Backends
from services.portal.config import PortalSettings
from services.portal.testkit import csrf_of, log_in, make_account


@pytest.fixture
async def funding(service_factory):
    cf = await service_factory("crowdfunding", crowdfunding_app)
    portal = await service_factory("portal", portal_app)
    await portal.app.state.backends.close()
    portal.app.state.backends = Backends(
        portal.settings,
        PortalSettings(crowdfunding_url="http://crowdfunding.test"),
        transport=httpx.ASGITransport(app=cf.app),
    )
    portal.cf = cf
    yield portal
    await portal.app.state.backends.close()


def browser(portal) -> httpx.AsyncClient:
    """Another person's browser on the same portal (own cookies)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=portal.app), base_url="http://portal"
    )


async def live_campaign(portal, holder, *, goal=100_00, rewards=()) -> dict:
    cf = portal.cf
    auth = cf.auth(holder.id, "resident")
    body = {"title": "Jardin partagé", "category": "environment", "goal_cents": goal}
    r = await cf.client.post("/campaigns", json={**body, "duration_days": 30}, headers=auth)
    assert r.status_code == 201, r.text
    return await launch(cf, {"id": r.json()["id"], "auth": auth}, rewards=list(rewards))


async def post_form(client, page: str, action: str, **fields) -> httpx.Response:
    token = await csrf_of(client, page)
    return await client.post(action, data={"csrf": token, **fields})


def flashes(html: str) -> list[str]:
    found = re.findall(r'class="flash [a-z]+"[^>]*>([^<]*)<', html)
    return [unescape(re.sub(r"[ \t\n]+", " ", m)) for m in found]


async def read(client, path: str) -> str:
    """The page's text as a person reads it (entities decoded)."""
    return unescape((await client.get(path)).text)


async def settle(portal) -> None:
    r = await portal.cf.client.post("/settlement/run", headers=portal.cf.auth("sam", "staff"))
    assert r.status_code == 200, r.text


async def test_declined_card_is_said_plainly_and_my_pledges_shows_each_status(funding, clock):
    holder = await make_account(funding, email="hugo@valmont.example")
    await make_account(funding, email="ines@valmont.example")
    campaign = await live_campaign(funding, holder, goal=100_00)
    page = f"/campaigns/{campaign['id']}"
    action = f"{page}/pledge"
    client = funding.client
    await log_in(client, "ines@valmont.example")

    r = await post_form(client, page, action, amount="20", card_token="tok_decline_now")
    assert r.headers["location"] == "/my-pledges"
    [message] = flashes((await client.get("/my-pledges")).text)
    assert "refusé" in message and "rien n'a été prélevé" in message
    assert "Merci" not in message and "attend" not in message

    r = await post_form(client, page, action, amount="1 800,50 €", card_token="tok_instant")
    [message] = flashes((await client.get(r.headers["location"])).text)
    assert message.startswith("Merci") and "1\u202f800,50\u00a0€" in message
    await post_form(client, page, action, amount="30", card_token="tok_requires_action")
    await post_form(client, page, action, amount="40", card_token="tok_visa")
    html = await read(client, "/my-pledges")
    statuses = re.findall(r'<tr data-status="([a-z_]+)"', html)
    assert sorted(statuses) == ["active", "awaiting_action", "declined", "pending"]
    for label in ("Refusée par la banque", "Autorisée", "3-D Secure à terminer"):
        assert label in html

    r = await post_form(client, page, action, amount="1,800", card_token="tok_instant")
    [message] = flashes((await client.get(r.headers["location"])).text)
    assert "ambigu" in message, "1,800: 1.80 € or 1 800 €? The resident is asked"

    await funding.cf.client.post(
        "/sandbox/webhooks/dispatch", headers=funding.cf.auth("sam", "staff")
    )
    clock.advance(days=31)
    await settle(funding)
    html = (await client.get("/my-pledges")).text
    assert sorted(re.findall(r'<tr data-status="([a-z_]+)"', html)) == [
        "captured",
        "captured",
        "captured",
        "declined",
    ]
    assert "Prélevée" in html


async def test_holder_manages_rewards_and_backer_confirms_receipt(funding, clock):
    holder = await make_account(funding, email="hugo@valmont.example")
    await make_account(funding, email="ines@valmont.example")
    cf = funding.cf
    auth = cf.auth(holder.id, "resident")
    body = {"title": "Four à pain", "category": "solidarity", "goal_cents": 100_00}
    r = await cf.client.post("/campaigns", json={**body, "duration_days": 30}, headers=auth)
    campaign_id = r.json()["id"]
    page = f"/campaigns/{campaign_id}"
    async with browser(funding) as hugo:
        await log_in(hugo, "hugo@valmont.example")
        html = await read(hugo, page)
        assert "des contributions des habitants" in html, "the commission is shown before launch"
        r = await post_form(
            hugo, page, f"{page}/rewards", title="Pain", description="", min="1 000", stock="2"
        )
        [message] = flashes((await hugo.get(r.headers["location"])).text)
        reward = (await cf.client.get(page, headers=auth)).json()["rewards"][0]
        assert reward["min_cents"] == 1_000_00, message
        r = await post_form(
            hugo,
            page,
            f"{page}/rewards/{reward['id']}",
            title="Pain au levain",
            description="Une miche",
            min="10,50 €",
            stock="3",
        )
        reward = (await cf.client.get(page, headers=auth)).json()["rewards"][0]
        assert (reward["title"], reward["min_cents"], reward["stock"]) == (
            "Pain au levain",
            10_50,
            3,
        )
    await launch(cf, {"id": campaign_id, "auth": auth})

    client = funding.client
    await log_in(client, "ines@valmont.example")
    html = await read(client, page)
    assert "5\u00a0% des contributions des habitants" in html
    await post_form(
        client,
        page,
        f"{page}/pledge",
        amount="150",
        card_token="tok_instant",
        reward_id=reward["id"],
    )
    clock.advance(days=31)
    await settle(funding)

    async with browser(funding) as hugo:
        await log_in(hugo, "hugo@valmont.example")
        statement = (await hugo.get(page)).text
        assert 'data-testid="holder-statement"' in statement
        assert "142,50" in statement, "150 € less 5 % of 150 €"
        backers = f"{page}/backers"
        [pledge_id] = re.findall(r"/backers/([0-9a-f-]+)/delivered", (await hugo.get(backers)).text)
        r = await post_form(hugo, backers, f"{backers}/{pledge_id}/delivered")
        assert r.status_code == 303
        assert "réception non confirmée" in await read(hugo, backers)

    assert 'data-testid="holder-statement"' not in (await client.get(page)).text
    html = (await client.get("/my-pledges")).text
    assert "envoyée le" in html
    r = await post_form(client, "/my-pledges", f"/my-pledges/{pledge_id}/received")
    html = await read(client, "/my-pledges")
    assert "reçue le" in html and "J'ai reçu ma contrepartie" not in html


async def test_sandbox_in_production_says_no_real_money_moves(funding):
    assert 'data-testid="sandbox-banner"' not in (await funding.client.get("/campaigns")).text
    runtime = funding.app.state.runtime
    runtime.settings = runtime.settings.model_copy(update={"env": "production"})
    for path in ("/", "/campaigns", "/login"):
        html = await read(funding.client, path)
        assert 'data-testid="sandbox-banner"' in html, path
        assert "aucun argent réel" in html
    funding.app.state.portal_settings = PortalSettings(CROWDFUNDING_PAYMENT_PROVIDER="stripe")
    assert 'data-testid="sandbox-banner"' not in (await funding.client.get("/")).text


async def test_a_pledge_below_a_rewards_minimum_is_refused_in_euros_in_the_readers_language(
    funding,
):
    holder = await make_account(funding, email="hugo@valmont.example")
    await make_account(funding, email="ines@valmont.example")
    reward = {"title": "Pain au levain", "min_cents": 40_00, "stock": 5}
    campaign = await live_campaign(funding, holder, rewards=[reward])
    page = f"/campaigns/{campaign['id']}"
    client = funding.client
    await log_in(client, "ines@valmont.example")
    fields = {"amount": "12,50", "card_token": "tok_instant", "reward_id": campaign["rewards"][0]}
    r = await post_form(client, page, f"{page}/pledge", **fields)
    [message] = flashes((await client.get(r.headers["location"])).text)
    assert message == "Cette contrepartie demande une contribution d'au moins 40,00\u00a0€."
    assert "cents" not in message and "4000" not in message
    await post_form(client, "/login", "/lang", lang="en", next="/")
    r = await post_form(client, page, f"{page}/pledge", **fields)
    [message] = flashes((await client.get(r.headers["location"])).text)
    assert message == "This reward needs a pledge of at least €40.00."
