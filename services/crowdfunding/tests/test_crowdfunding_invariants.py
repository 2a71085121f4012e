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
one service and stay independent.
"""

import asyncio

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
from services.crowdfunding.tests.test_crowdfunding_lifecycle import (  # noqa: F401
    clock,
    launch,
    live_campaign,
    pledge,
    service,
    staff,
)
from services.crowdfunding.tests.test_crowdfunding_money import make_pool

CARDS = [
    "tok_instant",
    "tok_3ds",  # authorised later, by webhook
    "tok_decline",  # declined later, by webhook
    "tok_decline_now",
    "tok_requires_action",
    "tok_capture_fails",
    "not-a-card",
]
BACKERS = ["ann", "bob", "cat", "dan", "eve"]
LIVE = domain.OPEN
REWARD_STOCK = 2


def machine_for(service, clock, loop):
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
            card=st.sampled_from(CARDS),
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
            r = run(service.client.post("/sandbox/webhooks/dispatch", headers=staff(service)))
            assert r.status_code == 200, r.text

        @rule()
        def old_webhooks_arrive_again(self):
            hooks = run(
                service.client.get(
                    "/sandbox/webhooks", params={"undelivered": False}, headers=staff(service)
                )
            ).json()
            for hook in hooks[-3:]:
                r = run(
                    service.client.post(
                        "/payments/webhooks/sandbox",
                        content=hook["body"].encode(),
                        headers=hook["headers"],
                    )
                )
                # Out of order (not yet delivered) or duplicates: both are harmless.
                assert r.status_code == 200, r.text

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
            holds = run(service.runtime.crowdfunding.provider.open_holds())
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


async def test_money_invariants_hold_in_any_order_of_events(service, clock):
    machine = machine_for(service, clock, asyncio.get_running_loop())
    budget = settings(
        max_examples=12,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    await asyncio.to_thread(run_state_machine_as_test, machine, settings=budget)
