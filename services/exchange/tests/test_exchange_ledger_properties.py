"""The time ledger keeps balances summing to zero and never breaks a limit (hypothesis).

Tested twice: on the pure in-memory Ledger, and through the database with the transfers
of each example running concurrently (so the account locks are what keeps the limits).
"""

from __future__ import annotations

import asyncio
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from libs.common.problems import Conflict
from services.exchange import ledger
from services.exchange.db import accounts, entries
from services.exchange.domain import Ledger, LedgerRuleBroken, Limits
from services.exchange.members import create_member

ACCOUNTS = 4
limits_st = st.builds(Limits, st.integers(0, 300), st.integers(0, 300))
transfer_st = st.tuples(
    st.integers(0, ACCOUNTS - 1), st.integers(0, ACCOUNTS - 1), st.integers(-5, 200)
)


@settings(max_examples=100, deadline=None)
@given(st.lists(limits_st, min_size=ACCOUNTS, max_size=ACCOUNTS), st.lists(transfer_st))
def test_pure_ledger_sums_to_zero_and_respects_limits(limits, moves):
    book = Ledger()
    for n, lim in enumerate(limits):
        book.open(f"a{n}", lim)
    for n, (src, dst, minutes) in enumerate(moves):
        before = dict(book.balances)
        try:
            book.transfer(f"t{n}", f"a{src}", f"a{dst}", minutes)
        except LedgerRuleBroken:
            assert book.balances == before  # a refused transfer changes nothing
        assert sum(book.balances.values()) == 0
        for account, balance in book.balances.items():
            assert -book.limits[account].debit_limit <= balance
            assert balance <= book.limits[account].credit_limit
    assert sum(m for _, _, m in book.entries) == 0


_example = itertools.count()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    limits=st.lists(limits_st, min_size=ACCOUNTS, max_size=ACCOUNTS),
    moves=st.lists(transfer_st, max_size=25),
)
async def test_database_ledger_under_concurrent_transfers(exchange, limits, moves):
    runtime = exchange.runtime
    run = next(_example)
    ids = [f"m{run}-{n}" for n in range(ACCOUNTS)]
    async with runtime.unit_of_work() as session:
        for member_id, lim in zip(ids, limits, strict=True):
            await create_member(
                session,
                runtime=runtime,
                member_id=member_id,
                kind="resident",
                neighbourhood="centre",
                created_by="test",
            )
            await session.execute(
                accounts.update()
                .where(accounts.c.id == member_id)
                .values(debit_limit=lim.debit_limit, credit_limit=lim.credit_limit)
            )

    async def move(n, src, dst, minutes):
        if minutes <= 0 or src == dst:
            return False
        try:
            async with runtime.unit_of_work() as session:
                await ledger.transfer(
                    session,
                    runtime=runtime,
                    initiator_id=ids[src],
                    idempotency_key=f"k{n}",
                    from_account=ids[src],
                    to_account=ids[dst],
                    minutes=minutes,
                    reason="gift",
                )
            return True
        except Conflict:
            return False

    done = await asyncio.gather(*(move(n, *m) for n, m in enumerate(moves)))

    async with runtime.db.transaction() as session:
        rows = (await session.execute(select(accounts).where(accounts.c.id.in_(ids)))).all()
        by_entries = dict(
            (
                await session.execute(
                    select(entries.c.account_id, func.sum(entries.c.minutes))
                    .where(entries.c.account_id.in_(ids))
                    .group_by(entries.c.account_id)
                )
            ).all()
        )
        entry_count = await session.scalar(
            select(func.count()).select_from(entries).where(entries.c.account_id.in_(ids))
        )
    assert sum(r.balance for r in rows) == 0
    for r in rows:
        assert -r.debit_limit <= r.balance <= r.credit_limit
        assert r.balance == by_entries.get(r.id, 0)  # the balance is the sum of its entries
    assert entry_count == 2 * sum(done)
