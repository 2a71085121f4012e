"""No double booking under concurrency: 50 overlapping accepts, exactly one wins; 50
bookings ahead racing each other and a loan already out (both DBs)."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import func, select

from services.exchange.db import loans
from services.exchange.testkit import day, list_item, request_loan

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


async def test_fifty_bookings_ahead_race_each_other_and_a_loan_already_out(exchange):
    """Periods, not items, are held: two disjoint future periods are each booked once, and
    nothing that overlaps the loan already out is accepted."""
    lender = exchange.auth("lena", neighbourhood="north")
    item = await list_item(exchange.client, lender)
    out = (await request_loan(exchange.client, exchange.auth("first"), item["id"], 1, 3)).json()
    for action in ("accept", "pick-up"):
        done = await exchange.client.post(f"/loans/{out['id']}/{action}", headers=lender)
        assert done.status_code == 200, done.text
    # Every period of a group shares a day (3, 12 or 21); the groups do not overlap.
    periods = [
        [(2 + i % 2, 4 + i % 2), (10 + i % 3, 12 + i % 2), (19 + i % 3, 21 + i % 4)][i % 3]
        for i in range(N)
    ]
    requested = [
        await request_loan(exchange.client, exchange.auth(f"b{i}"), item["id"], *period)
        for i, period in enumerate(periods)
    ]
    assert all(r.status_code == 201 for r in requested)

    responses = await asyncio.gather(
        *(
            exchange.client.post(f"/loans/{r.json()['id']}/accept", headers=lender)
            for r in requested
        )
    )

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 2, 409: N - 2}, statuses
    won = {periods[i] for i, r in enumerate(responses) if r.status_code == 200}
    assert sorted("day 12" if start < 15 else "day 21" for start, _ in won) == ["day 12", "day 21"]
    async with exchange.runtime.db.transaction() as session:
        held = (
            await session.execute(
                select(loans.c.starts_on, loans.c.due_on).where(
                    loans.c.state.in_(["accepted", "picked_up"])
                )
            )
        ).all()
    assert len(held) == 3
    for a in held:
        for b in held:
            assert a == b or a.due_on < b.starts_on or b.due_on < a.starts_on, held
    calendar = await exchange.client.get(f"/items/{item['id']}/bookings")
    assert [p["state"] for p in calendar.json()] == ["out", "booked", "booked"]
    assert calendar.json()[0]["starts_on"] == day(1)


async def test_postgresql_exclusion_constraint_refuses_overlap_without_the_app_check(exchange):
    import pytest
    from sqlalchemy import update
    from sqlalchemy.exc import IntegrityError

    if exchange.runtime.db.is_sqlite:
        pytest.skip("SQLite relies on serialised writes and the in-transaction check")
    lender = exchange.auth("lena", neighbourhood="north")
    item = await list_item(exchange.client, lender)
    first = (await request_loan(exchange.client, exchange.auth("b1"), item["id"], 1, 2)).json()
    second = (await request_loan(exchange.client, exchange.auth("b2"), item["id"], 2, 6)).json()
    later = (await request_loan(exchange.client, exchange.auth("b3"), item["id"], 3, 6)).json()
    async with exchange.runtime.db.transaction() as session:
        await session.execute(
            update(loans).where(loans.c.id == first["id"]).values(state="picked_up")
        )
    # The day after a period ends, the item can be promised again.
    async with exchange.runtime.db.transaction() as session:
        await session.execute(
            update(loans).where(loans.c.id == later["id"]).values(state="accepted")
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
