# ruff: noqa: F811  (pytest fixtures imported from the lifecycle tests)
"""Money invariants under random orders of events (hypothesis stateful), over HTTP.

Pledges (every sandbox card), desk pledges, cancellations, late and duplicate webhooks,
and settlement (reached or missed goal) come in any order; after every step:

- a pool's reserved amount equals the match of its live and captured pledges, and its
  released amount the match of its captured pledges;
- a pledge that ended without capture gave its match back and its reward unit back;
- the provider keeps a hold only for a live pledge, and every authorised pledge has one;
  once the campaign is settled, no hold is left.

The state machine runs in a worker thread and drives the service, which keeps running on
the test's event loop. Each example opens its own pool and campaign, so examples share
one service and stay independent. It runs twice: with the sandbox, and with the Stripe
adapter against the local fake of Stripe's API (its holds are saved cards; its webhooks
are the fake's signed events, delivered late and more than once).
"""

import asyncio

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from services.crowdfunding import domain
from services.crowdfunding.app import create_app
from services.crowdfunding.pledges import Crowdfunding
from services.crowdfunding.tests.stripe_fake import FakeStripe
from services.crowdfunding.tests.test_crowdfunding_lifecycle import (  # noqa: F401
    clock,
    launch,
    live_campaign,
    pledge,
    service,
    staff,
)
from services.crowdfunding.tests.test_crowdfunding_money import make_pool

SANDBOX_CARDS = [
    "tok_instant",
    "tok_3ds",  # authorised later, by webhook
    "tok_decline",  # declined later, by webhook
    "tok_decline_now",
    "tok_requires_action",
    "tok_capture_fails",
    "not-a-card",
]
STRIPE_CARDS = [
    "pm_card_visa",
    "pm_card_chargeDeclined",
    "pm_card_authenticationRequired",
    "pm_card_chargeCustomerFail",
    "pm_card_authenticationRequiredOnCharge",
    "not-a-card",
]
BACKERS = ["ann", "bob", "cat", "dan", "eve"]
LIVE = domain.OPEN
REWARD_STOCK = 2


class SandboxWorld:
    cards = SANDBOX_CARDS

    def __init__(self, service) -> None:
        self.service = service

    async def webhooks_arrive(self) -> None:
        r = await self.service.client.post(
            "/sandbox/webhooks/dispatch", headers=staff(self.service)
        )
        assert r.status_code == 200, r.text

    async def old_webhooks_arrive_again(self) -> None:
        hooks = (
            await self.service.client.get(
                "/sandbox/webhooks", params={"undelivered": False}, headers=staff(self.service)
            )
        ).json()
        for hook in hooks[-3:]:
            await self.deliver(hook["body"].encode(), hook["headers"], "sandbox")

    async def backer_authenticates(self, pledge: dict) -> None:
        """The sandbox's 3-D Secure step is completed by its own webhook."""

    async def deliver(self, body: bytes, headers: dict, provider: str) -> None:
        r = await self.service.client.post(
            f"/payments/webhooks/{provider}", content=body, headers=headers
        )
        # Out of order, duplicates, news of closed pledges: all harmless.
        assert r.status_code == 200, r.text


class StripeWorld(SandboxWorld):
    cards = STRIPE_CARDS

    def __init__(self, service, fake: FakeStripe) -> None:
        super().__init__(service)
        self.fake = fake
        self.delivered = 0

    async def webhooks_arrive(self) -> None:
        events = self.fake.signed_events()
        for body, headers in events[self.delivered :]:
            await self.deliver(body, headers, "stripe")
        self.delivered = len(events)

    async def old_webhooks_arrive_again(self) -> None:
        for body, headers in self.fake.signed_events()[:3]:
            await self.deliver(body, headers, "stripe")

    async def backer_authenticates(self, pledge: dict) -> None:
        if pledge.get("next_action_url"):
            async with httpx.AsyncClient() as bank:
                await bank.get(pledge["next_action_url"])


def machine_for(service, clock, loop, world: SandboxWorld):
    def run(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    class Money(RuleBasedStateMachine):
        made = Bundle("pledges")

        @initialize(
            goal=st.integers(100_00, 300_00),
            budget=st.integers(10_00, 120_00),
            cap=st.sampled_from([None, 15_00, 40_00]),
        )
        def open_campaign(self, goal, budget, cap):
            self.pool = run(make_pool(service, budget_cents=budget, cap_per_pledge_cents=cap))
            self.campaign = run(live_campaign(service, goal=goal))
            r = run(
                service.client.post(
                    f"/campaigns/{self.campaign['id']}/match-pool",
                    json={"pool_id": self.pool["id"]},
                    headers=staff(service),
                )
            )
            assert r.status_code == 200, r.text
            reward = {"title": "Mug", "min_cents": 5_00, "stock": REWARD_STOCK}
            run(launch(service, self.campaign, rewards=[reward]))
            self.reward = self.campaign["rewards"][0]
            self.settled = False

        # --- events ------------------------------------------------------------------

        @rule(
            target=made,
            backer=st.sampled_from(BACKERS),
            amount=st.integers(5_00, 90_00),
            card=st.sampled_from(world.cards),
            with_reward=st.booleans(),
        )
        def pledge(self, backer, amount, card, with_reward):
            extra = {"reward_id": self.reward} if with_reward else {}
            r = run(pledge(service, self.campaign["id"], backer, amount, token=card, **extra))
            if self.settled:
                assert r.status_code == 409, r.text
            else:
                assert r.status_code in (201, 409), r.text  # 409: the reward is sold out
            return r.json().get("id", "")

        @rule(target=made, amount=st.integers(5_00, 90_00), with_reward=st.booleans())
        def desk_pledge(self, amount, with_reward):
            body = {"backer_id": "zoe", "verified_resident": True, "amount_cents": amount}
            body |= {"method": "cash", "reward_id": self.reward if with_reward else None}
            r = run(
                service.client.post(
                    f"/campaigns/{self.campaign['id']}/desk-pledges",
                    json=body,
                    headers=staff(service),
                )
            )
            assert r.status_code in (201, 409), r.text
            return r.json().get("id", "")

        @rule(pledge_id=made)
        def cancel(self, pledge_id):
            if not pledge_id:
                return
            r = run(service.client.post(f"/pledges/{pledge_id}/cancel", headers=staff(service)))
            assert r.status_code in (200, 409), r.text

        @rule()
        def webhooks_arrive(self):
            run(world.webhooks_arrive())

        @rule()
        def old_webhooks_arrive_again(self):
            run(world.old_webhooks_arrive_again())

        @rule(pledge_id=made)
        def backer_authenticates(self, pledge_id):
            if pledge_id:
                r = run(service.client.get(f"/pledges/{pledge_id}", headers=staff(service)))
                run(world.backer_authenticates(r.json()))

        @rule(reach_goal=st.booleans())
        def settle(self, reach_goal):
            if self.settled:
                return
            if reach_goal:
                self.desk_pledge(self.campaign["goal_cents"], False)
            clock.advance(days=31)
            r = run(service.client.post("/settlement/run", headers=staff(service)))
            assert r.status_code == 200, r.text
            self.settled = True
            assert self.campaign_state() in ("succeeded", "failed")

        # --- what the books say ------------------------------------------------------

        def pledges(self) -> list[dict]:
            r = run(
                service.client.get(
                    f"/campaigns/{self.campaign['id']}/pledges", headers=staff(service)
                )
            )
            return r.json()

        def campaign_state(self) -> str:
            return run(service.client.get(f"/campaigns/{self.campaign['id']}")).json()["state"]

        @invariant()
        def pool_holds_the_match_of_live_and_captured_pledges(self):
            pool = run(service.client.get(f"/match-pools/{self.pool['id']}")).json()
            pledges = self.pledges()
            kept = [p for p in pledges if p["status"] in LIVE | {domain.CAPTURED}]
            captured = [p for p in pledges if p["status"] == domain.CAPTURED]
            assert pool["reserved_cents"] == sum(p["matched_cents"] for p in kept)
            assert pool["released_cents"] == sum(p["matched_cents"] for p in captured)
            assert pool["reserved_cents"] <= pool["budget_cents"]

        @invariant()
        def pledges_ended_without_capture_gave_back_match_and_reward(self):
            pledges = self.pledges()
            for p in pledges:
                if p["status"] in domain.RELEASING and p["matched_cents"]:
                    assert p["match_status"] == "returned", p
            view = run(service.client.get(f"/campaigns/{self.campaign['id']}")).json()
            holding = [
                p for p in pledges if p["reward_id"] and p["status"] in LIVE | {domain.CAPTURED}
            ]
            assert view["rewards"][0]["remaining"] == REWARD_STOCK - len(holding)

        @invariant()
        def provider_holds_match_live_pledges(self):
            pledges = {p["id"]: p for p in self.pledges()}
            holds = run(service.runtime.attached(Crowdfunding).provider.open_holds())
            held = {h.reference for h in holds if h.reference in pledges}
            for reference in held:
                assert pledges[reference]["status"] in LIVE, pledges[reference]
            active_online = {
                i
                for i, p in pledges.items()
                if p["status"] == domain.ACTIVE and p["channel"] == "online"
            }
            assert active_online <= held
            if self.settled:
                assert held == set(), "a settled campaign leaves no hold open"

        def teardown(self):
            if not getattr(self, "campaign", None) or self.settled:
                return
            self.settle(reach_goal=False)
            self.provider_holds_match_live_pledges()
            self.pool_holds_the_match_of_live_and_captured_pledges()

    return Money


BUDGET = settings(
    max_examples=12,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


async def test_money_invariants_hold_in_any_order_of_events(service, clock):
    machine = machine_for(service, clock, asyncio.get_running_loop(), SandboxWorld(service))
    await asyncio.to_thread(run_state_machine_as_test, machine, settings=BUDGET)


WEBHOOK_SECRET = "whsec_fake_for_invariants"


@pytest.fixture
async def fake_stripe():
    fake = await FakeStripe(WEBHOOK_SECRET).start()
    yield fake
    await fake.stop()


async def test_money_invariants_hold_with_stripe(service_factory, fake_stripe, clock, monkeypatch):
    monkeypatch.setenv("CROWDFUNDING_PAYMENT_PROVIDER", "stripe")
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_fake")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("STRIPE_API_BASE", fake_stripe.url)
    stripe_service = await service_factory("crowdfunding", create_app)
    world = StripeWorld(stripe_service, fake_stripe)
    machine = machine_for(stripe_service, clock, asyncio.get_running_loop(), world)
    await asyncio.to_thread(run_state_machine_as_test, machine, settings=BUDGET)
