# ruff: noqa: F811  (fixtures come from the crowdfunding tests)
"""The Stripe card page: the card is typed into Stripe's Payment Element (Stripe.js), never
into the portal. Stripe.js cannot load here (no internet), so what is tested is what the
server does: the page and its policy, and pledge → SetupIntent → signed webhook → status,
against the real crowdfunding service and the local fake of Stripe's API."""

import re
from html import unescape

import httpx
import pytest

from services.crowdfunding.app import create_app as crowdfunding_app
from services.crowdfunding.tests.stripe_fake import FakeStripe
from services.crowdfunding.tests.test_crowdfunding_lifecycle import clock, launch  # noqa: F401
from services.portal.app import SECURITY_HEADERS
from services.portal.app import create_app as portal_app
from services.portal.backends import Backends
from services.portal.config import PortalSettings
from services.portal.pages_funding import widened_policy
from services.portal.testkit import csrf_of, log_in, make_account

WEBHOOK_SECRET = "whsec_fake_for_portal_tests"
PUBLISHABLE_KEY = "pk_test_fake_publishable"
RETURN_URL = "http://portal/my-pledges"
INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle=|\son[a-z]+=|javascript:", re.I)


@pytest.fixture
async def fake_stripe():
    fake = await FakeStripe(WEBHOOK_SECRET).start()
    yield fake
    await fake.stop()


@pytest.fixture
async def portal(service_factory, fake_stripe, monkeypatch):
    # The portal first: it caches its settings from the environment (get_portal_settings),
    # and the Stripe variables below are for the crowdfunding service only.
    portal = await service_factory("portal", portal_app)
    monkeypatch.setenv("CROWDFUNDING_PAYMENT_PROVIDER", "stripe")
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_fake")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("STRIPE_API_BASE", fake_stripe.url)
    cf = await service_factory("crowdfunding", crowdfunding_app)
    await portal.app.state.backends.close()
    portal.app.state.backends = Backends(
        portal.settings,
        PortalSettings(crowdfunding_url="http://crowdfunding.test"),
        transport=httpx.ASGITransport(app=cf.app),
    )
    portal.app.state.portal_settings = PortalSettings(
        CROWDFUNDING_PAYMENT_PROVIDER="stripe",
        STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        CROWDFUNDING_STRIPE_RETURN_URL=RETURN_URL,
    )
    portal.cf = cf
    yield portal
    await portal.app.state.backends.close()


async def backer_on_a_live_campaign(portal, *, rewards=()) -> dict:
    holder = await make_account(portal, email="hugo@valmont.example")
    await make_account(portal, email="ines@valmont.example")
    cf = portal.cf
    auth = cf.auth(holder.id, "resident")
    body = {"title": "Jardin partagé", "category": "environment", "goal_cents": 100_00}
    r = await cf.client.post("/campaigns", json={**body, "duration_days": 30}, headers=auth)
    assert r.status_code == 201, r.text
    campaign = await launch(cf, {"id": r.json()["id"], "auth": auth}, rewards=list(rewards))
    await log_in(portal.client, "ines@valmont.example")
    return campaign


async def pledge_form(portal, campaign, amount="25") -> httpx.Response:
    page = f"/campaigns/{campaign['id']}"
    token = await csrf_of(portal.client, page)
    return await portal.client.post(f"{page}/pledge", data={"csrf": token, "amount": amount})


def data_attributes(html: str) -> dict[str, str]:
    [form] = re.findall(r'<form[^>]*id="card-form"[^>]*>', html, re.S)
    return {k: unescape(v) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', form)}


def directives(policy: str) -> dict[str, list[str]]:
    parts = [p.split() for p in policy.split(";") if p.strip()]
    return {p[0]: p[1:] for p in parts}


async def deliver(portal, fake, *types: str) -> list[dict]:
    answers = []
    for body, headers in fake.signed_events(types=types):
        r = await portal.cf.client.post("/payments/webhooks/stripe", content=body, headers=headers)
        assert r.status_code == 200, r.text
        answers.append(r.json())
    return answers


async def test_pledge_form_sends_no_card_and_leads_to_stripes_card_page(portal, fake_stripe, clock):
    campaign = await backer_on_a_live_campaign(portal)
    form = (await portal.client.get(f"/campaigns/{campaign['id']}")).text
    assert 'name="card_token"' not in form and "pm_card_visa" not in form
    assert 'data-testid="card-next-step"' in form

    r = await pledge_form(portal, campaign)
    assert r.status_code == 303
    [pledge_id] = re.findall(r"^/my-pledges/([^/]+)/card$", r.headers["location"])
    [setup] = fake_stripe.setup_intents.values()
    assert setup["payment_method"] is None, "no card went through the portal"

    page = await portal.client.get(r.headers["location"])
    assert page.status_code == 200
    assert data_attributes(page.text) == {
        "testid": "card-form",
        "stripe-key": PUBLISHABLE_KEY,
        "client-secret": setup["client_secret"],
        "return-url": RETURN_URL,
        "locale": "fr",
    }
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    assert "https://js.stripe.com/v3/" in scripts and "/static/stripe-card.js" in scripts
    assert INLINE.findall(page.text) == [], "the strict CSP forbids inline script and style"
    assert 'id="payment-element"' in page.text and "25,00" in page.text
    assert page.headers["cache-control"] == "no-store"
    script = await portal.client.get("/static/stripe-card.js")
    assert script.status_code == 200 and "confirmSetup" in script.text

    policy = directives(page.headers["content-security-policy"])
    base = directives(SECURITY_HEADERS["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'", "https://js.stripe.com"]
    assert policy["frame-src"] == ["'self'", "https://js.stripe.com", "https://hooks.stripe.com"]
    assert policy["connect-src"] == ["'self'", "https://api.stripe.com"]
    widened = ("script-src", "frame-src", "connect-src")
    assert {k: v for k, v in policy.items() if k not in widened} == {
        k: v for k, v in base.items() if k not in widened
    }, "nothing else is loosened"
    other = await portal.client.get(f"/campaigns/{campaign['id']}")
    assert other.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    assert "stripe" not in other.headers["content-security-policy"]

    mine = await portal.client.get("/my-pledges")
    assert f'href="/my-pledges/{pledge_id}/card"' in mine.text


async def test_card_saved_in_stripes_form_makes_the_pledge_authorised_by_webhook(
    portal, fake_stripe, clock
):
    campaign = await backer_on_a_live_campaign(portal)
    r = await pledge_form(portal, campaign, amount="120")
    secret = data_attributes((await portal.client.get(r.headers["location"])).text)
    # What Stripe.js does with the key and the secret when the backer submits the card.
    confirmed = await fake_stripe.confirm_in_browser(secret["client-secret"], "pm_card_visa")
    assert confirmed["status"] == "succeeded"
    # Stripe sends the backer back with the SetupIntent's secret in the address.
    query = f"setup_intent=x&setup_intent_client_secret={secret['client-secret']}"
    back = await portal.client.get(f"/my-pledges?{query}&redirect_status=succeeded")
    assert back.status_code == 303 and back.headers["location"] == "/my-pledges"
    back = await portal.client.get("/my-pledges")
    assert "Carte enregistrée" in unescape(back.text)
    assert re.findall(r'<tr data-status="([a-z_]+)"', back.text) == ["awaiting_action"]

    [answer] = await deliver(portal, fake_stripe, "setup_intent.succeeded")
    assert answer["status"] == "applied"
    html = unescape((await portal.client.get("/my-pledges")).text)
    assert re.findall(r'<tr data-status="([a-z_]+)"', html) == ["active"]
    assert "Autorisée" in html and "/card" not in html
    # The page is gone once the pledge no longer waits for a card.
    pledge_id = r.headers["location"].split("/")[2]
    again = await portal.client.get(f"/my-pledges/{pledge_id}/card")
    assert again.status_code == 303 and again.headers["location"] == "/my-pledges"

    clock.advance(days=31)
    settled = await portal.cf.client.post("/settlement/run", headers=portal.cf.auth("sam", "staff"))
    assert settled.json()["settled"][0]["outcome"] == "succeeded"
    assert fake_stripe.charged_cents() == 120_00


async def test_card_declined_in_stripes_form_shows_the_declined_message(portal, fake_stripe, clock):
    campaign = await backer_on_a_live_campaign(portal)
    r = await pledge_form(portal, campaign, amount="30")
    secret = data_attributes((await portal.client.get(r.headers["location"])).text)
    refused = await fake_stripe.confirm_in_browser(
        secret["client-secret"], "pm_card_chargeDeclined"
    )
    assert refused["error"]["code"] == "card_declined"
    back = await portal.client.get("/my-pledges?setup_intent=x&redirect_status=failed")
    assert "n'a pas confirmé la carte" in unescape((await portal.client.get("/my-pledges")).text)
    assert back.headers["location"] == "/my-pledges"
    [answer] = await deliver(portal, fake_stripe, "setup_intent.setup_failed")
    assert answer["status"] == "applied"
    html = unescape((await portal.client.get("/my-pledges")).text)
    assert re.findall(r'<tr data-status="([a-z_]+)"', html) == ["declined"]
    assert "Refusée par la banque" in html and "/card" not in html


async def test_someone_elses_pledge_has_no_card_page(portal, fake_stripe, clock):
    campaign = await backer_on_a_live_campaign(portal)
    r = await pledge_form(portal, campaign)
    card_page = r.headers["location"]
    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=portal.app), base_url="http://portal"
    )
    async with other:
        await log_in(other, "hugo@valmont.example")
        page = await other.get(card_page)
    assert page.status_code == 404, "the service shows a pledge to its backer only"
    assert "data-client-secret" not in page.text and "_secret_" not in page.text


async def test_without_a_publishable_key_stripes_test_cards_stay_and_the_sandbox_too(
    portal, fake_stripe, clock
):
    campaign = await backer_on_a_live_campaign(portal)
    portal.app.state.portal_settings = PortalSettings(CROWDFUNDING_PAYMENT_PROVIDER="stripe")
    form = (await portal.client.get(f"/campaigns/{campaign['id']}")).text
    assert 'name="card_token"' in form and "pm_card_visa" in form
    portal.app.state.portal_settings = PortalSettings(
        CROWDFUNDING_PAYMENT_PROVIDER="sandbox", STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY
    )
    form = (await portal.client.get(f"/campaigns/{campaign['id']}")).text
    assert "tok_instant" in form and 'data-testid="card-next-step"' not in form


def test_widened_policy_adds_sources_and_starts_absent_directives_from_default_src():
    policy = "default-src 'self'; script-src 'self'; frame-ancestors 'none'"
    assert widened_policy(policy, {"script-src": ("https://a",), "frame-src": ("https://b",)}) == (
        "default-src 'self'; script-src 'self' https://a; frame-ancestors 'none'; "
        "frame-src 'self' https://b"
    )
    assert widened_policy(policy, {"script-src": ("'self'",)}) == policy, "no duplicates"
