# ruff: noqa: F811  (pytest fixtures imported from the lifecycle tests)
"""Rewards edited by their holder, delivered, and confirmed by the backer; my pledges."""

from services.crowdfunding.tests.test_crowdfunding_lifecycle import (  # noqa: F401
    clock,
    launch,
    live_campaign,
    pledge,
    service,
    staff,
)
from services.crowdfunding.tests.test_crowdfunding_money import stream_types

PROBLEM = "application/problem+json"


async def test_holder_edits_rewards_but_not_their_terms_once_submitted(service, clock):
    campaign = await live_campaign(service)
    r = await service.client.post(
        f"/campaigns/{campaign['id']}/rewards",
        json={"title": "Mug", "description": "Grès local", "min_cents": 20_00, "stock": 5},
        headers=campaign["auth"],
    )
    reward = r.json()
    url = f"/campaigns/{campaign['id']}/rewards/{reward['id']}"
    r = await service.client.patch(url, json={"stock": 3}, headers=campaign["auth"])
    assert r.status_code == 200 and r.json()["remaining"] == 3
    r = await service.client.patch(url, json={"title": "Bol"}, headers=service.auth("mallory"))
    assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    await launch(service, campaign)
    r = await service.client.patch(url, json={"min_cents": 1_00}, headers=campaign["auth"])
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM
    r = await service.client.patch(url, json={"title": "Bol en grès"}, headers=campaign["auth"])
    assert r.status_code == 200 and r.json()["title"] == "Bol en grès"
    r = await service.client.patch(url, json={"min_cents": -5}, headers=campaign["auth"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.min_cents"


async def test_reward_delivered_by_the_holder_and_received_by_the_backer(
    service, clock, nats_server
):
    campaign = await launch(
        service,
        await live_campaign(service, goal=100_00),
        rewards=[{"title": "Mug", "min_cents": 20_00, "stock": 5}],
    )
    [reward] = campaign["rewards"]
    made = (await pledge(service, campaign["id"], "ann", 150_00, reward_id=reward)).json()
    url = f"/pledges/{made['id']}"
    r = await service.client.post(f"{url}/reward-delivered", headers=campaign["auth"])
    assert r.status_code == 409, "nothing to deliver before the money is captured"
    clock.advance(days=31)
    await service.client.post("/settlement/run", headers=staff(service))

    mine = (await service.client.get("/me/pledges", headers=service.auth("ann"))).json()
    assert [(p["campaign_title"], p["reward_title"], p["status"]) for p in mine] == [
        ("Repair café", "Mug", "captured")
    ]
    assert (await service.client.get("/me/pledges", headers=service.auth("bob"))).json() == []

    r = await service.client.post(f"{url}/reward-delivered", headers=service.auth("ann"))
    assert r.status_code == 403, "the backer does not mark their own reward delivered"
    for _ in range(2):  # once, even if clicked twice
        r = await service.client.post(f"{url}/reward-delivered", headers=campaign["auth"])
        assert r.status_code == 200 and r.json()["reward_delivered_at"]
    r = await service.client.post(f"{url}/reward-received", headers=campaign["auth"])
    assert r.status_code == 404, "only the backer confirms receipt"
    r = await service.client.post(f"{url}/reward-received", headers=service.auth("ann"))
    assert r.status_code == 200 and r.json()["reward_received_at"]
    await service.flush_outbox()
    types = await stream_types(nats_server.url)
    assert types.count("crowdfunding.reward.delivered") == 1
    assert types.count("crowdfunding.reward.received") == 1


async def test_commission_base_is_frozen_at_launch_and_spares_the_match(
    service, clock, monkeypatch
):
    from services.crowdfunding.tests.test_crowdfunding_money import make_pool

    rate = (await service.client.get("/platform/commission-rate")).json()
    assert rate == {"rate": "0.05", "base": "raised"}
    pool = await make_pool(service)
    campaign = await live_campaign(service, goal=100_00)
    await service.client.post(
        f"/campaigns/{campaign['id']}/match-pool",
        json={"pool_id": pool["id"]},
        headers=staff(service),
    )
    await launch(service, campaign)
    assert campaign["commission_base"] == "raised"
    await pledge(service, campaign["id"], "ann", 100_00)
    clock.advance(days=31)
    [result] = (await service.client.post("/settlement/run", headers=staff(service))).json()[
        "settled"
    ]
    assert (result["raised_cents"], result["matched_cents"]) == (100_00, 100_00)
    assert result["commission_cents"] == 5_00, "5 % of the backers' 100 €, not of 200 €"
    assert result["net_cents"] == 195_00
