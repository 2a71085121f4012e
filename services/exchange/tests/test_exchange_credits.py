"""Time credits and services over HTTP: idempotency, limits, paper transfers, corrections."""

from __future__ import annotations

import asyncio
from collections import Counter


async def pay(service, headers, to, minutes, key, **extra):
    return await service.client.post(
        "/transfers",
        json={"to_member": to, "minutes": minutes, **extra},
        headers={**headers, "Idempotency-Key": key},
    )


async def balance(service, headers) -> int:
    return (await service.client.get("/accounts/me", headers=headers)).json()["balance"]


async def test_double_click_pays_once_and_reused_key_with_other_body_is_409(exchange):
    alice, bob = exchange.auth("alice"), exchange.auth("bob")
    await balance(exchange, bob)  # bob becomes a member
    clicks = await asyncio.gather(
        *(pay(exchange, alice, "bob", 30, "key-00000001") for _ in range(5))
    )
    assert sorted(r.status_code for r in clicks) == [200, 200, 200, 200, 201]
    assert len({r.json()["id"] for r in clicks}) == 1
    assert await balance(exchange, alice) == -30
    assert await balance(exchange, bob) == 30
    other = await pay(exchange, alice, "bob", 45, "key-00000001")
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()["detail"]
    missing = await exchange.client.post(
        "/transfers", json={"to_member": "bob", "minutes": 5}, headers=alice
    )
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "header.Idempotency-Key"


async def test_an_account_cannot_pay_itself(exchange):
    alice = exchange.auth("alice")
    itself = await pay(exchange, alice, "alice", 10, "key-self-01")
    assert itself.status_code == 409
    assert itself.json()["code"] == "credits.same_account"
    assert await balance(exchange, alice) == 0


async def test_debit_limit_holds_under_concurrent_transfers(exchange):
    alice, staff = exchange.auth("alice"), exchange.auth("stella", "staff")
    for n in range(10):
        await balance(exchange, exchange.auth(f"p{n}"))
    await balance(exchange, alice)
    limits = await exchange.client.put(
        "/accounts/alice/limits", json={"debit_limit": 100, "credit_limit": 100}, headers=staff
    )
    assert limits.status_code == 200
    results = await asyncio.gather(
        *(pay(exchange, alice, f"p{n}", 30, f"concurrent-{n:04}") for n in range(10))
    )
    statuses = Counter(r.status_code for r in results)
    assert statuses == {201: 3, 409: 7}, statuses
    assert await balance(exchange, alice) == -90
    refused = next(r for r in results if r.status_code == 409)
    assert "debit limit" in refused.json()["detail"]
    # Clients word it in their reader's language from the stable code and its params.
    assert refused.json()["code"] == "credits.debit_limit"
    assert refused.json()["params"] == {"limit_minutes": 100, "balance_minutes": -90, "minutes": 30}
    not_staff = await exchange.client.put(
        "/accounts/alice/limits", json={"debit_limit": 0, "credit_limit": 0}, headers=alice
    )
    assert not_staff.status_code == 403
    below_balance = await exchange.client.put(
        "/accounts/alice/limits", json={"debit_limit": 10, "credit_limit": 10}, headers=staff
    )
    assert below_balance.status_code == 409


async def test_credit_limit_blocks_the_receiver(exchange):
    alice, bob, staff = exchange.auth("alice"), exchange.auth("bob"), exchange.auth("s", "staff")
    await balance(exchange, bob)
    await balance(exchange, alice)
    await exchange.client.put(
        "/accounts/bob/limits", json={"debit_limit": 0, "credit_limit": 60}, headers=staff
    )
    over = await pay(exchange, alice, "bob", 61, "credit-0001")
    assert over.status_code == 409
    assert over.json()["code"] == "credits.credit_limit"
    assert over.json()["params"]["limit_minutes"] == 60
    assert (await pay(exchange, alice, "bob", 60, "credit-0002")).status_code == 201
    assert (await pay(exchange, alice, "alice", 5, "credit-0003")).status_code == 409


async def test_staff_enter_paper_transfers_and_correct_with_reversing_entries(exchange):
    staff = exchange.auth("stella", "staff")
    for member in ("rita", "omar"):
        created = await exchange.client.post(
            "/members",
            json={"id": member, "kind": "resident", "neighbourhood": "east"},
            headers=staff,
        )
        assert created.status_code == 201
    again = await exchange.client.post(
        "/members", json={"id": "rita", "kind": "resident", "neighbourhood": "east"}, headers=staff
    )
    assert again.status_code == 409
    forbidden = await pay(
        exchange, exchange.auth("eve"), "omar", 60, "paper-0000", on_behalf_of="rita"
    )
    assert forbidden.status_code == 403
    paper = await pay(exchange, staff, "omar", 60, "paper-0001", on_behalf_of="rita")
    assert paper.status_code == 201, paper.text
    assert paper.json()["reason"] == "paper" and paper.json()["entered_by"] == "stella"
    transfer_id = paper.json()["id"]
    by_resident = await exchange.client.post(
        f"/transfers/{transfer_id}/reverse", json={"memo": "typo"}, headers=exchange.auth("rita")
    )
    assert by_resident.status_code == 403
    reversal = await exchange.client.post(
        f"/transfers/{transfer_id}/reverse", json={"memo": "wrong slip"}, headers=staff
    )
    assert reversal.status_code == 201, reversal.text
    assert reversal.json()["reverses"] == transfer_id
    assert reversal.json()["from_account"] == "omar"
    replay = await exchange.client.post(
        f"/transfers/{transfer_id}/reverse", json={"memo": "wrong slip"}, headers=staff
    )
    assert replay.status_code == 200 and replay.json()["id"] == reversal.json()["id"]
    twice = await exchange.client.post(
        f"/transfers/{transfer_id}/reverse",
        json={"memo": "again"},
        headers=exchange.auth("s2", "staff"),
    )
    assert twice.status_code == 409
    rita = (await exchange.client.get("/accounts/rita", headers=staff)).json()
    assert rita["balance"] == 0
    assert sorted(e["minutes"] for e in rita["entries"]) == [-60, 60]  # nothing was edited
    private = await exchange.client.get("/accounts/rita", headers=exchange.auth("eve"))
    assert private.status_code == 403


async def test_organisations_hold_accounts(exchange):
    asso = exchange.auth("repair-cafe", "organisation", neighbourhood="centre")
    me = (await exchange.client.get("/members/me", headers=asso)).json()
    assert me["kind"] == "organisation"
    await balance(exchange, exchange.auth("alice"))
    assert (await pay(exchange, asso, "alice", 90, "org-000001")).status_code == 201
    assert await balance(exchange, asso) == -90


async def test_completed_service_settles_in_credits_once(exchange):
    provider, receiver = exchange.auth("paul", neighbourhood="north"), exchange.auth("rose")
    offer = await exchange.client.post(
        "/services",
        json={
            "kind": "carpool",
            "direction": "offer",
            "title": "Home to the plant",
            "route_km": 18.5,
        },
        headers=provider,
    )
    assert offer.status_code == 201, offer.text
    no_km = await exchange.client.post(
        "/services", json={"kind": "carpool", "direction": "offer", "title": "x"}, headers=provider
    )
    assert no_km.status_code == 422 and no_km.json()["errors"][0]["field"] == "body.route_km"
    service_id = offer.json()["id"]
    body = {"minutes": 40, "passengers": 1, "settle_in_credits": True}
    url = f"/services/{service_id}/completions"
    own = await exchange.client.post(
        url, json=body, headers={**provider, "Idempotency-Key": "done-0001"}
    )
    assert own.status_code == 403
    done = await exchange.client.post(
        url, json=body, headers={**receiver, "Idempotency-Key": "done-0001"}
    )
    assert done.status_code == 201, done.text
    assert done.json()["km"] == 18.5 and done.json()["transfer_id"]
    again = await exchange.client.post(
        url, json=body, headers={**receiver, "Idempotency-Key": "done-0001"}
    )
    assert again.status_code == 200 and again.json()["id"] == done.json()["id"]
    assert await balance(exchange, receiver) == -40
    assert await balance(exchange, provider) == 40
    found = await exchange.client.get("/services", params={"kind": "carpool"})
    assert [s["id"] for s in found.json()] == [service_id]


async def test_a_request_is_confirmed_by_its_author_naming_the_provider(exchange):
    author, helper = exchange.auth("rose"), exchange.auth("paul")
    await balance(exchange, helper)
    request = await exchange.client.post(
        "/services",
        json={
            "kind": "gardening",
            "direction": "request",
            "title": "Hedge",
            "minutes_estimate": 60,
        },
        headers=author,
    )
    url = f"/services/{request.json()['id']}/completions"
    missing = await exchange.client.post(
        url, json={"minutes": 60}, headers={**author, "Idempotency-Key": "req-00001"}
    )
    assert missing.status_code == 422
    not_author = await exchange.client.post(
        url,
        json={"minutes": 60, "provider_id": "rose"},
        headers={**helper, "Idempotency-Key": "req-00002"},
    )
    assert not_author.status_code == 403
    unpaid = await exchange.client.post(
        url,
        json={"minutes": 60, "provider_id": "paul", "settle_in_credits": False},
        headers={**author, "Idempotency-Key": "req-00003"},
    )
    assert unpaid.status_code == 201 and unpaid.json()["transfer_id"] is None
    assert await balance(exchange, helper) == 0
