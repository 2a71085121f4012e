# ruff: noqa: F811  (pytest fixtures imported from the lifecycle tests)
"""The Stripe adapter through the service, against a local fake of Stripe's HTTP API."""

import httpx
import pytest

from services.crowdfunding.app import create_app
from services.crowdfunding.payments import Payment, sign
from services.crowdfunding.pledges import Crowdfunding
from services.crowdfunding.tests.stripe_fake import FakeStripe
from services.crowdfunding.tests.test_crowdfunding_lifecycle import (  # noqa: F401
    clock,
    launch,
    live_campaign,
    pledge,
    staff,
)

WEBHOOK_SECRET = "whsec_fake_for_tests"


@pytest.fixture
async def fake_stripe():
    fake = await FakeStripe(WEBHOOK_SECRET).start()
    yield fake
    await fake.stop()


@pytest.fixture
async def service(service_factory, fake_stripe, monkeypatch):
    monkeypatch.setenv("CROWDFUNDING_PAYMENT_PROVIDER", "stripe")
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_fake")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("STRIPE_API_BASE", fake_stripe.url)
    return await service_factory("crowdfunding", create_app)


async def deliver(service, fake, *types: str) -> list[dict]:
    answers = []
    for body, headers in fake.signed_events(types=types):
        r = await service.client.post("/payments/webhooks/stripe", content=body, headers=headers)
        assert r.status_code == 200, r.text
        answers.append(r.json())
    return answers


async def settle(service) -> list[dict]:
    return (await service.client.post("/settlement/run", headers=staff(service))).json()["settled"]


async def view(service, pledge_id, backer) -> dict:
    r = await service.client.get(f"/pledges/{pledge_id}", headers=service.auth(backer))
    return r.json()


async def test_card_saved_at_pledge_time_is_charged_off_session_on_success(
    service, fake_stripe, clock
):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    made = await pledge(service, campaign["id"], "ann", 120_00, token="pm_card_visa")
    assert made.status_code == 201 and made.json()["status"] == "active", made.text
    assert made.json()["customer_id"].startswith("cus_")
    assert fake_stripe.charged_cents() == 0, "nothing is taken before the campaign succeeds"
    assert [c["customer"] for c in fake_stripe.attached_cards()] == [made.json()["customer_id"]]
    clock.advance(days=31)
    [result] = await settle(service)
    assert result["outcome"] == "succeeded" and result["raised_cents"] == 120_00
    captured = await view(service, made.json()["id"], "ann")
    assert captured["status"] == "captured" and captured["charge_id"].startswith("pi_")
    [intent] = fake_stripe.payment_intents.values()
    assert intent["amount"] == 120_00 and intent["currency"] == "eur"
    assert fake_stripe.charged_cents() == 120_00
    assert fake_stripe.attached_cards() == [], "the card is forgotten once charged"
    assert fake_stripe.keys_seen[f"{made.json()['id']}:capture"] == 1
    # The webhooks only confirm: duplicates and confirmations change nothing.
    answers = await deliver(service, fake_stripe)
    assert {a["status"] for a in answers} <= {"no-change", "applied"}
    assert (await view(service, made.json()["id"], "ann"))["status"] == "captured"


async def test_declined_card_is_declined_and_keeps_nothing(service, fake_stripe, clock):
    campaign = await launch(service, await live_campaign(service))
    made = await pledge(service, campaign["id"], "ann", 50_00, token="pm_card_chargeDeclined")
    assert made.status_code == 201
    assert made.json()["status"] == "declined"
    assert made.json()["failure"].startswith("card_declined")
    assert fake_stripe.attached_cards() == []
    shown = (await service.client.get(f"/campaigns/{campaign['id']}")).json()
    assert shown.get("pledged_cents", 0) == 0


async def test_a_token_that_is_no_card_is_declined(service, fake_stripe, clock):
    campaign = await launch(service, await live_campaign(service))
    made = await pledge(service, campaign["id"], "ann", 4_994_00, token="not-a-card")
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "declined"
    assert made.json()["failure"].startswith("resource_missing")
    assert fake_stripe.attached_cards() == [] and fake_stripe.setup_intents == {}


async def test_three_d_secure_step_then_webhook_makes_the_pledge_active(
    service, fake_stripe, clock
):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    made = await pledge(
        service, campaign["id"], "ann", 150_00, token="pm_card_authenticationRequired"
    )
    body = made.json()
    assert body["status"] == "awaiting_action"
    listed = await service.client.get(
        f"/campaigns/{campaign['id']}/pledges", headers=campaign["auth"]
    )
    assert "client_secret" not in listed.json()[0], "the holder never sees a backer's card"
    assert body["next_action_url"].startswith(fake_stripe.url + "/fake/3ds/")
    assert body["client_secret"].endswith("_secret_fake")
    async with httpx.AsyncClient() as bank:  # the backer authenticates at the bank
        assert (await bank.get(body["next_action_url"])).json()["status"] == "succeeded"
    answers = await deliver(service, fake_stripe, "setup_intent.succeeded")
    assert answers[-1]["status"] == "applied"
    active = await view(service, body["id"], "ann")
    assert active["status"] == "active" and active["next_action_url"] is None
    clock.advance(days=31)
    [result] = await settle(service)
    assert result["outcome"] == "succeeded" and fake_stripe.charged_cents() == 150_00


async def test_unfinished_three_d_secure_is_cancelled_at_settlement(service, fake_stripe, clock):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    await pledge(service, campaign["id"], "ann", 150_00, token="pm_card_visa")
    waiting = await pledge(
        service, campaign["id"], "bob", 50_00, token="pm_card_authenticationRequired"
    )
    clock.advance(days=31)
    [result] = await settle(service)
    assert result["raised_cents"] == 150_00
    assert (await view(service, waiting.json()["id"], "bob"))["status"] == "voided"
    [setup] = [
        i for i in fake_stripe.setup_intents.values() if i["id"] == waiting.json()["payment_id"]
    ]
    assert setup["status"] == "canceled"
    assert fake_stripe.attached_cards() == []


async def test_failed_campaign_forgets_every_saved_card(service, fake_stripe, clock):
    campaign = await launch(service, await live_campaign(service, goal=5_000_00))
    for backer in ("ann", "bob"):
        await pledge(service, campaign["id"], backer, 50_00, token="pm_card_visa")
    assert len(fake_stripe.attached_cards()) == 2
    clock.advance(days=31)
    [result] = await settle(service)
    assert result["outcome"] == "failed"
    assert fake_stripe.attached_cards() == [] and fake_stripe.payment_intents == {}
    assert await service.runtime.attached(Crowdfunding).provider.open_holds() == []
    assert fake_stripe.method_reads == 0, "one listing call, cards expanded in it"


async def test_charge_declined_or_needing_the_backer_is_capture_failed(service, fake_stripe, clock):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    ok = await pledge(service, campaign["id"], "ann", 150_00, token="pm_card_visa")
    declined = await pledge(
        service, campaign["id"], "bob", 20_00, token="pm_card_chargeCustomerFail"
    )
    needs_bob = await pledge(
        service, campaign["id"], "cat", 30_00, token="pm_card_authenticationRequiredOnCharge"
    )
    assert {p.json()["status"] for p in (ok, declined, needs_bob)} == {"active"}
    clock.advance(days=31)
    [result] = await settle(service)
    assert result["outcome"] == "succeeded" and result["raised_cents"] == 150_00
    assert (await view(service, declined.json()["id"], "bob"))["failure"].startswith(
        "card_declined"
    )
    failed = await view(service, needs_bob.json()["id"], "cat")
    assert failed["status"] == "capture_failed"
    assert failed["failure"].startswith("authentication_required")
    assert {i["status"] for i in fake_stripe.payment_intents.values()} == {
        "succeeded",
        "canceled",
    }
    assert fake_stripe.charged_cents() == 150_00
    assert fake_stripe.attached_cards() == [], "no card is kept after settlement"


async def test_lost_answer_is_retried_with_the_same_idempotency_key(service, fake_stripe, clock):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    fake_stripe.lose_next_response("/v1/setup_intents")
    made = await pledge(service, campaign["id"], "ann", 150_00, token="pm_card_visa")
    assert made.status_code == 201 and made.json()["status"] == "active", made.text
    key = f"{made.json()['id']}:authorise:setup"
    assert fake_stripe.keys_seen[key] == 2, "the library retried with the same key"
    assert len(fake_stripe.setup_intents) == 1, "and Stripe did it once"
    fake_stripe.lose_next_response("/v1/payment_intents")
    clock.advance(days=31)
    [result] = await settle(service)
    assert result["outcome"] == "succeeded"
    assert fake_stripe.keys_seen[f"{made.json()['id']}:capture"] == 2
    assert len(fake_stripe.payment_intents) == 1 and fake_stripe.charged_cents() == 150_00


async def test_refund_gives_the_charge_back_once(service, fake_stripe, clock):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    made = (await pledge(service, campaign["id"], "ann", 150_00, token="pm_card_visa")).json()
    clock.advance(days=31)
    await settle(service)
    captured = await view(service, made["id"], "ann")
    provider = service.runtime.attached(Crowdfunding).provider
    payment = Payment(
        payment_id=captured["payment_id"],
        reference=made["id"],
        amount_cents=150_00,
        charge_id=captured["charge_id"],
    )
    first = await provider.refund(idempotency_key=f"{made['id']}:refund", payment=payment)
    again = await provider.refund(idempotency_key=f"{made['id']}:refund", payment=payment)
    assert first.status == again.status == "refunded"
    assert len(fake_stripe.refunds) == 1 and fake_stripe.charged_cents() == 0
    [(body, headers)] = fake_stripe.signed_events(types=("charge.refunded",))
    hook = provider.parse_webhook(body=body, headers=headers)
    assert (hook.status, hook.reference, hook.payment_id) == (
        "refunded",
        made["id"],
        captured["charge_id"],
    )


async def test_forged_stripe_webhook_is_refused(service, fake_stripe, clock):
    campaign = await launch(service, await live_campaign(service))
    await pledge(service, campaign["id"], "ann", 50_00, token="pm_card_authenticationRequired")
    [(body, _)] = fake_stripe.signed_events(types=("setup_intent.requires_action",))
    forged = {"stripe-signature": sign(body, "whsec_someone_else")}
    r = await service.client.post("/payments/webhooks/stripe", content=body, headers=forged)
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    r = await service.client.post("/payments/webhooks/sandbox", content=body, headers=forged)
    assert r.status_code == 404


async def test_reconcile_forgets_a_saved_card_nobody_recorded(
    service, fake_stripe, clock, monkeypatch
):
    from services.crowdfunding.reconcile import reconcile

    campaign = await launch(service, await live_campaign(service, goal=100_00))
    await pledge(service, campaign["id"], "ann", 150_00, token="pm_card_visa")
    cf = service.runtime.attached(Crowdfunding)
    real = cf.provider.authorise

    async def dies_after_stripe_answered(**kw):
        await real(**kw)
        raise RuntimeError("the worker died before recording the answer")

    monkeypatch.setattr(cf.provider, "authorise", dies_after_stripe_answered)
    with pytest.raises(RuntimeError):
        await pledge(service, campaign["id"], "bob", 40_00, token="pm_card_visa")
    monkeypatch.setattr(cf.provider, "authorise", real)
    clock.advance(days=31)
    [result] = await settle(service)
    assert result["raised_cents"] == 150_00
    assert len(fake_stripe.attached_cards()) == 1, "bob's card is still saved at Stripe"
    [finding] = await reconcile(cf)
    assert (finding.problem, finding.action) == ("orphan-hold", "would-void")
    [finding] = await reconcile(cf, apply=True)
    assert finding.action == "voided" and fake_stripe.attached_cards() == []
    assert await reconcile(cf) == []


def test_stripe_without_its_secrets_does_not_start(monkeypatch):
    from services.crowdfunding.app import payment_provider
    from services.crowdfunding.config import CrowdfundingSettings

    for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    settings = CrowdfundingSettings(CROWDFUNDING_PAYMENT_PROVIDER="stripe", STRIPE_SECRET_KEY="sk")
    with pytest.raises(RuntimeError, match="STRIPE_WEBHOOK_SECRET"):
        payment_provider(None, settings)


# --- the card typed in the browser (Stripe Elements): no card token reaches the service ---


async def browser_pledge(service, campaign_id, backer, amount):
    return await service.client.post(
        f"/campaigns/{campaign_id}/pledges",
        json={"amount_cents": amount},
        headers=service.auth(backer, "resident"),
    )


async def test_card_saved_in_the_browser_is_authorised_by_webhook_then_charged(
    service, fake_stripe, clock
):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    made = await browser_pledge(service, campaign["id"], "ann", 120_00)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["status"] == "awaiting_action" and body["next_action_url"] is None
    [setup] = fake_stripe.setup_intents.values()
    assert body["client_secret"] == setup["client_secret"]
    assert setup["status"] == "requires_payment_method" and setup["payment_method"] is None
    assert setup["usage"] == "off_session" and setup["metadata"]["pledge"] == body["id"]
    assert fake_stripe.attached_cards() == []
    # The backer types the card into Stripe's form; Stripe tells us by signed webhook.
    confirmed = await fake_stripe.confirm_in_browser(body["client_secret"], "pm_card_visa")
    assert confirmed["status"] == "succeeded"
    [answer] = await deliver(service, fake_stripe, "setup_intent.succeeded")
    assert answer["status"] == "applied"
    active = await view(service, body["id"], "ann")
    assert active["status"] == "active" and active["client_secret"] is None
    assert active["method_id"] == confirmed["payment_method"], "the webhook names the card"
    clock.advance(days=31)
    [result] = await settle(service)
    assert result["outcome"] == "succeeded" and fake_stripe.charged_cents() == 120_00
    assert (await view(service, body["id"], "ann"))["status"] == "captured"
    assert fake_stripe.attached_cards() == []


async def test_card_refused_in_the_browser_declines_the_pledge_and_returns_its_reward(
    service, fake_stripe, clock
):
    campaign = await launch(
        service,
        await live_campaign(service, goal=100_00),
        rewards=[{"title": "Affiche", "min_cents": 10_00, "stock": 1}],
    )
    [reward_id] = campaign["rewards"]
    made = await service.client.post(
        f"/campaigns/{campaign['id']}/pledges",
        json={"amount_cents": 30_00, "reward_id": reward_id},
        headers=service.auth("ann", "resident"),
    )
    assert made.json()["status"] == "awaiting_action", made.text
    refused = await fake_stripe.confirm_in_browser(
        made.json()["client_secret"], "pm_card_chargeDeclined"
    )
    assert refused["error"]["code"] == "card_declined"
    [answer] = await deliver(service, fake_stripe, "setup_intent.setup_failed")
    assert answer["status"] == "applied"
    declined = await view(service, made.json()["id"], "ann")
    assert declined["status"] == "declined" and declined["client_secret"] is None
    shown = (await service.client.get(f"/campaigns/{campaign['id']}")).json()
    assert shown["rewards"][0]["remaining"] == 1, "the reward unit went back to stock"


async def test_unconfirmed_browser_setup_is_cancelled_at_settlement(service, fake_stripe, clock):
    campaign = await launch(service, await live_campaign(service, goal=100_00))
    await pledge(service, campaign["id"], "ann", 150_00, token="pm_card_visa")
    left = await browser_pledge(service, campaign["id"], "bob", 50_00)
    clock.advance(days=31)
    [result] = await settle(service)
    assert result["outcome"] == "succeeded" and result["raised_cents"] == 150_00
    assert (await view(service, left.json()["id"], "bob"))["status"] == "voided"
    assert fake_stripe.setup_intents[left.json()["payment_id"]]["status"] == "canceled"


async def test_a_forged_setup_succeeded_webhook_authorises_nothing(service, fake_stripe, clock):
    campaign = await launch(service, await live_campaign(service))
    made = await browser_pledge(service, campaign["id"], "ann", 30_00)
    await fake_stripe.confirm_in_browser(made.json()["client_secret"], "pm_card_visa")
    [(body, _)] = fake_stripe.signed_events(types=("setup_intent.succeeded",))
    forged = {"stripe-signature": sign(body, "whsec_someone_else")}
    r = await service.client.post("/payments/webhooks/stripe", content=body, headers=forged)
    assert r.status_code == 400
    assert (await view(service, made.json()["id"], "ann"))["status"] == "awaiting_action"
