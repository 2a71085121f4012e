"""Members, item listings and search, ratings, problem reports, and events in JetStream."""

from __future__ import annotations

import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from libs.common.events import STREAM, Envelope
from services.exchange.testkit import list_item, request_loan


async def stream_events(url: str) -> list[Envelope]:
    """Every event stored in the SHARITORIES stream, in order (read with nats-py)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        total = (await js.stream_info(STREAM)).state.messages
        sub = await js.pull_subscribe(
            "sharitories.>", stream=STREAM, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        )
        events: list[Envelope] = []
        while len(events) < total:
            for msg in await sub.fetch(total - len(events), timeout=5):
                events.append(Envelope.model_validate_json(msg.data))
                await msg.ack()
        return events
    finally:
        await nc.close()


async def test_members_are_created_from_the_token_on_first_use(exchange):
    me = await exchange.client.get(
        "/members/me", headers=exchange.auth("alice", neighbourhood="west")
    )
    assert me.status_code == 200
    assert me.json()["kind"] == "resident" and me.json()["neighbourhood"] == "west"
    homeless = await exchange.client.get(
        "/members/me", headers=exchange.auth("zed", neighbourhood=None)
    )
    assert homeless.status_code == 422
    not_staff = await exchange.client.post(
        "/members",
        json={"id": "x", "kind": "resident", "neighbourhood": "west"},
        headers=exchange.auth("alice"),
    )
    assert not_staff.status_code == 403
    unknown = await exchange.client.get("/members/nobody", headers=exchange.auth("alice"))
    assert unknown.status_code == 404


async def test_items_are_searched_by_category_text_neighbourhood_and_free_dates(exchange):
    north, south = (
        exchange.auth("lena", neighbourhood="north"),
        exchange.auth("sid", neighbourhood="south"),
    )
    drill = await list_item(exchange.client, north)
    tent = await list_item(
        exchange.client, south, title="Family tent", category="tent", description="4 places"
    )
    await list_item(exchange.client, south, title="Old ladder", category="ladder")

    async def ids(**params):
        response = await exchange.client.get("/items", params=params)
        assert response.status_code == 200, response.text
        return {i["id"] for i in response.json()}

    assert await ids(category="tent") == {tent["id"]}
    assert await ids(q="PLACES") == {tent["id"]}
    assert await ids(neighbourhood="north") == {drill["id"]}
    loan = (await request_loan(exchange.client, south, drill["id"], 2, 4)).json()
    await exchange.client.post(f"/loans/{loan['id']}/accept", headers=north)
    assert drill["id"] in await ids(available_from="2030-06-01", available_to="2030-06-02")
    assert drill["id"] not in await ids(available_from="2030-06-03", available_to="2030-06-05")
    assert drill["id"] in await ids(available_from="2030-07-01")  # free after its period
    bad = await exchange.client.get("/items", params={"category": "spaceship"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.category"
    bad_item = await exchange.client.post(
        "/items", json={"title": "x", "category": "drill", "condition": "good"}, headers=north
    )
    assert (
        bad_item.status_code == 422
        and bad_item.json()["errors"][0]["field"] == "body.max_loan_days"
    )
    categories = (await exchange.client.get("/categories")).json()
    assert "cargo_bike" in categories and len(categories) == 21
    edited = await exchange.client.patch(
        f"/items/{tent['id']}", json={"deposit_cents": 500}, headers=north
    )
    assert edited.status_code == 403
    withdrawn = await exchange.client.post(f"/items/{tent['id']}/withdraw", headers=south)
    assert withdrawn.status_code == 200
    assert tent["id"] not in await ids()
    late = await request_loan(exchange.client, north, tent["id"])
    assert late.status_code == 409


async def test_parties_rate_each_other_once_and_reports_reach_staff(exchange):
    lender, borrower = exchange.auth("lena", neighbourhood="north"), exchange.auth("bob")
    staff, stranger = exchange.auth("stella", "staff"), exchange.auth("sam")
    item = await list_item(exchange.client, lender)
    loan = (await request_loan(exchange.client, borrower, item["id"])).json()
    early = await exchange.client.post(
        f"/loans/{loan['id']}/rating", json={"score": 5}, headers=borrower
    )
    assert early.status_code == 409
    for step in ("accept", "pick-up"):
        await exchange.client.post(f"/loans/{loan['id']}/{step}", headers=lender)
    await exchange.client.post(
        f"/loans/{loan['id']}/return", json={"condition": "worn"}, headers=lender
    )
    rated = await exchange.client.post(
        f"/loans/{loan['id']}/rating", json={"score": 4, "comment": "on time"}, headers=lender
    )
    assert rated.status_code == 201 and rated.json()["ratee_id"] == "bob"
    twice = await exchange.client.post(
        f"/loans/{loan['id']}/rating", json={"score": 1}, headers=lender
    )
    assert twice.status_code == 409
    outsider = await exchange.client.post(
        f"/loans/{loan['id']}/rating", json={"score": 1}, headers=stranger
    )
    assert outsider.status_code == 403
    out_of_range = await exchange.client.post(
        f"/loans/{loan['id']}/rating", json={"score": 6}, headers=borrower
    )
    assert out_of_range.status_code == 422
    profile = (await exchange.client.get("/members/bob", headers=stranger)).json()
    assert profile["ratings"] == {"count": 1, "average": 4.0}

    report = {
        "subject_type": "loan",
        "subject_id": loan["id"],
        "kind": "damage",
        "detail": "scratched",
    }
    filed = await exchange.client.post("/reports", json=report, headers=lender)
    assert filed.status_code == 201
    assert (
        await exchange.client.post("/reports", json=report, headers=stranger)
    ).status_code == 403
    assert (await exchange.client.get("/staff/reports", headers=lender)).status_code == 403
    queue = (await exchange.client.get("/staff/reports", headers=staff)).json()
    assert [r["id"] for r in queue] == [filed.json()["id"]]
    url = f"/staff/reports/{filed.json()['id']}/close"
    closed = await exchange.client.post(url, json={"resolution": "deposit kept"}, headers=staff)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert (
        await exchange.client.post(url, json={"resolution": "x"}, headers=staff)
    ).status_code == 409
    assert (await exchange.client.get("/staff/reports", headers=staff)).json() == []


async def test_loan_events_reach_jetstream_through_the_outbox(exchange, nats_server):
    lender, borrower = (
        exchange.auth("lena", neighbourhood="north"),
        exchange.auth("bob", neighbourhood="south"),
    )
    item = await list_item(exchange.client, lender)
    loan = (await request_loan(exchange.client, borrower, item["id"], 1, 3)).json()
    for step in ("accept", "pick-up"):
        await exchange.client.post(f"/loans/{loan['id']}/{step}", headers=lender)
    await exchange.client.post(
        f"/loans/{loan['id']}/return", json={"condition": "good"}, headers=lender
    )
    transfer = await exchange.client.post(
        "/transfers",
        json={"to_member": "lena", "minutes": 15},
        headers={**borrower, "Idempotency-Key": "thanks-0001"},
    )
    assert transfer.status_code == 201
    await exchange.flush_outbox()

    events = await stream_events(nats_server.url)
    types = [e.type for e in events]
    assert types == [
        "exchange.member.joined",
        "exchange.item.listed",
        "exchange.member.joined",
        "exchange.loan.requested",
        "exchange.loan.accepted",
        "exchange.loan.picked_up",
        "exchange.loan.returned",
        "exchange.credits.transferred",
    ]
    returned = next(e for e in events if e.type == "exchange.loan.returned").payload()
    assert returned.category == "drill"
    assert (returned.lender_neighbourhood, returned.borrower_neighbourhood) == ("north", "south")
    assert returned.days == 3 and returned.days_lent == 1 and returned.condition == "good"
    credits = events[-1].payload()
    assert (credits.from_account, credits.to_account, credits.minutes) == ("bob", "lena", 15)
    assert all(e.source == "exchange" and e.territory.city for e in events)
