"""No double booking under concurrency: 50 overlapping accepts, exactly one wins (both DBs)."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import func, select

from services.exchange.db import loans
from services.exchange.testkit import list_item, request_loan

N = 50


async def test_fifty_simultaneous_accepts_of_one_item_exactly_one_wins(exchange):
    lender = exchange.auth("lena", neighbourhood="north")
    item = await list_item(exchange.client, lender)
    requests = [
        await request_loan(
            exchange.client, exchange.auth(f"b{i}", neighbourhood="south"), item["id"], 1 + i % 3
        )
        for i in range(N)
    ]
    loan_ids = [r.json()["id"] for r in requests]

    responses = await asyncio.gather(
        *(exchange.client.post(f"/loans/{i}/accept", headers=lender) for i in loan_ids)
    )

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 409: N - 1}, statuses
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.headers["content-type"] == "application/problem+json"
        assert "already lent or promised" in refused.json()["detail"]
    async with exchange.runtime.db.transaction() as session:
        held = await session.scalar(
            select(func.count()).select_from(loans).where(loans.c.state == "accepted")
        )
    assert held == 1


async def test_fifty_clients_requesting_and_accepting_at_once_book_the_item_once(exchange):
    lender = exchange.auth("lena", neighbourhood="north")
    item = await list_item(exchange.client, lender)

    async def borrow(i: int) -> int:
        borrower = exchange.auth(f"b{i}", neighbourhood="south")
        requested = await request_loan(exchange.client, borrower, item["id"], 2, 4)
        assert requested.status_code == 201, requested.text
        accepted = await exchange.client.post(
            f"/loans/{requested.json()['id']}/accept", headers=lender
        )
        return accepted.status_code

    statuses = Counter(await asyncio.gather(*(borrow(i) for i in range(N))))
    assert statuses == {200: 1, 409: N - 1}, statuses


async def test_postgresql_exclusion_constraint_refuses_overlap_without_the_app_check(exchange):
    import pytest
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    if exchange.runtime.db.is_sqlite:
        pytest.skip("SQLite relies on serialised writes and the in-transaction check")
    lender = exchange.auth("lena", neighbourhood="north")
    item = await list_item(exchange.client, lender)
    first = (await request_loan(exchange.client, exchange.auth("b1"), item["id"], 1, 2)).json()
    second = (await request_loan(exchange.client, exchange.auth("b2"), item["id"], 5, 6)).json()
    async with exchange.runtime.db.transaction() as session:
        await session.execute(
            update(loans).where(loans.c.id == first["id"]).values(state="picked_up")
        )
    with pytest.raises(IntegrityError, match="ex_loans_no_double_booking"):
        async with exchange.runtime.db.transaction() as session:
            await session.execute(
                update(loans).where(loans.c.id == second["id"]).values(state="accepted")
            )


async def test_postgresql_deadlocked_accept_is_refused_as_double_booked(exchange):
    """Two accepts of one item can deadlock on the exclusion check; the one PostgreSQL
    aborts gets 409, not 500, and leaves nothing behind."""
    import pytest
    from sqlalchemy import text

    if exchange.runtime.db.is_sqlite:
        pytest.skip("SQLite serialises writers: no deadlock to have")
    lender = exchange.auth("lena", neighbourhood="north")
    item = await list_item(exchange.client, lender)
    first = (await request_loan(exchange.client, exchange.auth("b1"), item["id"], 1, 2)).json()
    second = (await request_loan(exchange.client, exchange.auth("b2"), item["id"], 1, 2)).json()

    async with exchange.runtime.db.engine.connect() as other:
        await other.begin()
        # Another accept of the same item, in flight: its index entry is in, uncommitted.
        await other.execute(
            text("UPDATE loans SET state = 'accepted' WHERE id = :id"), {"id": first["id"]}
        )
        accepting = asyncio.create_task(
            exchange.client.post(f"/loans/{second['id']}/accept", headers=lender)
        )
        await asyncio.sleep(0.3)  # our accept now waits on the other's entry...
        assert not accepting.done()
        # ...and the other waits on our row: a cycle. Our side waited first, so PostgreSQL's
        # detector (after deadlock_timeout, 1 s by default) aborts our side.
        await other.execute(
            text("UPDATE loans SET updated_at = now() WHERE id = :id"), {"id": second["id"]}
        )
        refused = await accepting
        await other.rollback()
    assert refused.status_code == 409, refused.text
    assert "already lent or promised" in refused.json()["detail"]
    # Nothing was half-written: the refused loan is still requested and can be accepted.
    again = await exchange.client.post(f"/loans/{second['id']}/accept", headers=lender)
    assert again.status_code == 200, again.text
