# ruff: noqa: F811  (pytest fixtures imported from the lifecycle tests)
"""Regressions of issue 13: no match money, reward unit or card hold is left behind."""

from services.crowdfunding.tests.test_crowdfunding_lifecycle import (  # noqa: F401
    clock,
    launch,
    live_campaign,
    pledge,
    service,
    staff,
)
from services.crowdfunding.tests.test_crowdfunding_money import make_pool


async def attach(service, campaign, pool) -> None:
    r = await service.client.post(
        f"/campaigns/{campaign['id']}/match-pool",
        json={"pool_id": pool["id"]},
        headers=staff(service),
    )
    assert r.status_code == 200, r.text


async def test_failed_campaign_returns_the_match_and_reward_of_desk_pledges(service, clock):
    pool = await make_pool(service, budget_cents=100_00)
    campaign = await live_campaign(service, goal=5_000_00)
    await attach(service, campaign, pool)
    await launch(service, campaign, rewards=[{"title": "Mug", "min_cents": 10_00, "stock": 2}])
    [reward] = campaign["rewards"]
    desk = await service.client.post(
        f"/campaigns/{campaign['id']}/desk-pledges",
        json={
            "backer_id": "dan",
            "verified_resident": True,
            "amount_cents": 15_03,
            "method": "cash",
            "reward_id": reward,
        },
        headers=staff(service),
    )
    assert desk.status_code == 201 and desk.json()["matched_cents"] == 15_03, desk.text
    online = await pledge(service, campaign["id"], "ann", 20_00, reward_id=reward)
    assert online.json()["matched_cents"] == 20_00
    pool_view = (await service.client.get(f"/match-pools/{pool['id']}")).json()
    assert pool_view["reserved_cents"] == 35_03

    clock.advance(days=31)
    [result] = (await service.client.post("/settlement/run", headers=staff(service))).json()[
        "settled"
    ]
    assert result["outcome"] == "failed"
    pledges = (
        await service.client.get(f"/campaigns/{campaign['id']}/pledges", headers=staff(service))
    ).json()
    assert sorted((p["status"], p["match_status"]) for p in pledges) == [
        ("refunded", "returned"),
        ("voided", "returned"),
    ]
    pool_view = (await service.client.get(f"/match-pools/{pool['id']}")).json()
    assert pool_view["reserved_cents"] == 0 and pool_view["released_cents"] == 0
    shown = (await service.client.get(f"/campaigns/{campaign['id']}")).json()
    assert shown["rewards"][0]["remaining"] == 2
