"""The Stripe card page in headless Chromium, under the portal's real Content-Security-Policy.

There is no internet here: the browser's requests to https://js.stripe.com/v3/ get a small
stand-in for Stripe.js (same calls: `Stripe(key)`, `elements({clientSecret})`,
`create("payment")`, `confirmSetup`), and those to https://api.stripe.com go to the local
fake of Stripe's API. The browser still checks the page's CSP before either request, so a
policy that forgot one of Stripe's origins fails here. The SetupIntent's outcome comes back
as Stripe's signed webhook, delivered to the crowdfunding service.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request

import pytest

from tests.browser.conftest import (
    CHROMIUM_ARGS,
    STAFF_EMAIL,
    STAFF_PASSWORD,
    Platform,
    account_maker,
    chromium_path,
)

WEBHOOK_SECRET = "whsec_fake_for_browser_tests"
PUBLISHABLE_KEY = "pk_test_fake_browser"

# What the page's script uses of Stripe.js; the card "typed" is one of the fake's test cards.
STRIPE_JS_STAND_IN = """
window.Stripe = function (key, options) {
  window.stripeSeen = { key: key, locale: options && options.locale };
  return {
    elements: function (opts) {
      window.stripeSeen.clientSecret = opts.clientSecret;
      return { create: function (type) {
        window.stripeSeen.type = type;
        var handlers = {};
        return {
          mount: function (selector) {
            var input = document.createElement("input");
            input.id = "stand-in-card";
            input.setAttribute("aria-label", "Numéro de carte");
            document.querySelector(selector).appendChild(input);
            setTimeout(function () { if (handlers.ready) { handlers.ready(); } }, 0);
          },
          on: function (name, handler) { handlers[name] = handler; }
        };
      } };
    },
    confirmSetup: function (args) {
      var secret = window.stripeSeen.clientSecret;
      var id = secret.split("_secret_")[0];
      var body = new URLSearchParams({
        client_secret: secret,
        payment_method: document.getElementById("stand-in-card").value
      });
      return fetch("https://api.stripe.com/v1/setup_intents/" + id + "/confirm",
                   { method: "POST", body: body })
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          if (answer.error) {
            return { error: { type: answer.error.type, message: answer.error.message } };
          }
          window.location.assign(args.confirmParams.return_url + "?setup_intent=" + id +
            "&setup_intent_client_secret=" + secret + "&redirect_status=succeeded");
          return new Promise(function () {});
        });
    }
  };
};
"""


class FakeStripeThread:
    """The fake Stripe API on its own event loop (the platform runs on another one)."""

    def __init__(self) -> None:
        from services.crowdfunding.tests.stripe_fake import FakeStripe

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.fake = self.run(FakeStripe(WEBHOOK_SECRET).start())

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def stop(self) -> None:
        self.run(self.fake.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def stripe_api():
    running = FakeStripeThread()
    yield running.fake
    running.stop()


@pytest.fixture(scope="module")
def platform(tmp_path_factory, stripe_api):
    """The platform with crowdfunding on Stripe (the fake) and the portal's card form on."""
    if chromium_path() is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    from services.portal.config import PortalSettings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CROWDFUNDING_PAYMENT_PROVIDER", "stripe")
        patch.setenv("STRIPE_SECRET_KEY", "sk_test_fake")
        patch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
        patch.setenv("STRIPE_API_BASE", stripe_api.url)
        running = Platform(tmp_path_factory.mktemp("platform")).start()
    portal_app = running.apps["portal"]
    portal_app.state.portal_settings = PortalSettings(
        **portal_app.state.portal_settings.model_dump(
            exclude={"payment_provider", "stripe_publishable_key", "stripe_return_url"}
        ),
        CROWDFUNDING_PAYMENT_PROVIDER="stripe",
        STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        CROWDFUNDING_STRIPE_RETURN_URL=running.url() + "/my-pledges",
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser(platform):
    """This module's own browser: the package's is bound to the package's platform, and this
    module runs a platform of its own (crowdfunding on the Stripe fake)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def verified_account(platform):
    return account_maker(platform)


def deliver(platform, stripe_api, event_type: str) -> None:
    for body, headers in stripe_api.signed_events(types=(event_type,)):
        request = urllib.request.Request(
            platform.url("crowdfunding") + "/payments/webhooks/stripe",
            data=body,
            headers={**headers, "content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200


def stripe_network(page, stripe_api, violations: list[str]) -> None:
    page.route(
        "https://js.stripe.com/v3/**",
        lambda route: route.fulfill(
            status=200, content_type="application/javascript", body=STRIPE_JS_STAND_IN
        ),
    )

    def api(route):
        answer = route.fetch(
            url=route.request.url.replace("https://api.stripe.com", stripe_api.url)
        )
        route.fulfill(
            status=answer.status,
            body=answer.body(),
            headers={"content-type": "application/json", "access-control-allow-origin": "*"},
        )

    page.route("https://api.stripe.com/**", api)
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )


def test_a_card_typed_in_stripes_form_saves_it_and_a_refused_one_says_so(
    platform, stripe_api, new_page, verified_account, login
):
    from playwright.sync_api import expect

    verified_account("jardin@valmont.test", "5 avenue de la Gare")
    holder = new_page()
    login(holder, "jardin@valmont.test")
    holder.goto("/campaigns/new")
    holder.get_by_label("Titre").fill("Des bancs pour la place")
    holder.get_by_label("Catégorie").select_option("public-space")
    holder.get_by_label("Objectif").fill("150")
    holder.get_by_label("Durée (jours)").fill("30")
    holder.get_by_role("button", name="Enregistrer le brouillon").click()
    holder.get_by_role("button", name="Soumettre à l'instruction").click()
    campaign_url = holder.url
    staff = new_page()
    login(staff, STAFF_EMAIL, STAFF_PASSWORD)
    staff.goto("/staff/campaigns")
    staff.get_by_role("button", name="Instruire").first.click()
    holder.goto(campaign_url)
    holder.get_by_role("button", name="Lancer la campagne").click()
    expect(holder.get_by_test_id("campaign-state")).to_have_text("En cours")

    verified_account("marc@valmont.test", "2 rue Pierre Sémard")
    backer = new_page()
    violations: list[str] = []
    stripe_network(backer, stripe_api, violations)
    login(backer, "marc@valmont.test")

    # An accepted card: saved at Stripe, the webhook authorises the pledge.
    backer.goto(campaign_url)
    expect(backer.get_by_label("Carte de paiement")).to_have_count(0)
    backer.get_by_label("Montant").fill("40")
    backer.get_by_role("button", name="Contribuer").click()
    expect(backer.get_by_role("heading", name="Votre carte")).to_be_visible()
    submit = backer.get_by_role("button", name="Enregistrer ma carte")
    expect(submit).to_be_enabled()
    seen = backer.evaluate("window.stripeSeen")
    [setup] = [i for i in stripe_api.setup_intents.values() if i["payment_method"] is None]
    assert seen == {
        "key": PUBLISHABLE_KEY,
        "locale": "fr",
        "clientSecret": setup["client_secret"],
        "type": "payment",
    }
    backer.get_by_label("Numéro de carte").fill("pm_card_visa")
    submit.click()
    backer.wait_for_url("**/my-pledges")
    expect(backer.get_by_text("Carte enregistrée")).to_be_visible()
    assert "secret" not in backer.url
    deliver(platform, stripe_api, "setup_intent.succeeded")
    backer.reload()
    expect(backer.locator("tr[data-status='active']")).to_have_count(1)

    # A refused card: said on the page, then "declined" on my pledges once Stripe tells us.
    backer.goto(campaign_url)
    backer.get_by_label("Montant").fill("25")
    backer.get_by_role("button", name="Contribuer").click()
    backer.get_by_label("Numéro de carte").fill("pm_card_chargeDeclined")
    backer.get_by_role("button", name="Enregistrer ma carte").click()
    expect(backer.get_by_role("alert")).to_contain_text("Your card was declined.")
    backer.get_by_role("link", name="Voir mes contributions").click()
    deliver(platform, stripe_api, "setup_intent.setup_failed")
    backer.reload()
    expect(backer.locator("tr[data-status='declined']")).to_have_count(1)
    expect(backer.get_by_text("Refusée par la banque")).to_be_visible()
    assert violations == [], json.dumps(violations)
