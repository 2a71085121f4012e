"""Loan request+accept under 50 concurrent clients, as a ratio to a bare FastAPI endpoint.

    python -m bench.bench_exchange [--ops 1500] [--concurrency 50] [--database-url URL]

Each operation is one borrower asking for a loan (POST /loans) and the lender accepting
it (POST /loans/{id}/accept): two write transactions, two outbox events, JWT checks.
Items are listed before the clock starts (one per operation, so every accept wins).
The bare endpoint is measured by the same client, in the same run, on the same machine.
Goal (issue 18): exchange requests/s at least 50 % of the bare endpoint's on SQLite; with
--database-url (PostgreSQL) at least 30 % of a bare endpoint writing one row there.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # `python bench/bench_exchange.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import BenchEnv, measure_bare, report, run_load
from libs.common.auth import mint_token
from services.exchange.testkit import ITEM

# Issue 18: at least half the bare endpoint on SQLite; on PostgreSQL at least 30 % of a
# bare endpoint that writes one row in its own transaction (harness.bare_pg_app).
TARGET = 0.50
TARGET_POSTGRESQL = 0.30


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=1500, help="request+accept operations")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default SQLite)")
    return parser.parse_args(argv)


async def _bench(url: str, settings, *, ops: int, concurrency: int):
    lender = {
        "Authorization": "Bearer "
        + mint_token(settings, sub="lena", roles=["resident"], neighbourhood="north")
    }
    borrowers = [
        {
            "Authorization": "Bearer "
            + mint_token(settings, sub=f"b{n}", roles=["resident"], neighbourhood="south")
        }
        for n in range(concurrency)
    ]
    item_ids: list[str] = []

    async def list_item(client, n):
        response = await client.post("/items", json={**ITEM, "title": f"Drill {n}"}, headers=lender)
        response.raise_for_status()
        item_ids.append(response.json()["id"])
        return 1

    async def warm_up(client, n):  # members exist before timing starts
        (await client.get("/members/me", headers=borrowers[n])).raise_for_status()
        return 1

    await run_load(url, list_item, total=ops, concurrency=concurrency)
    await run_load(url, warm_up, total=concurrency, concurrency=concurrency)
    start = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    due = (datetime.now(UTC).date() + timedelta(days=3)).isoformat()

    async def request_and_accept(client, n):
        asked = await client.post(
            "/loans",
            json={"item_id": item_ids[n], "starts_on": start, "due_on": due},
            headers=borrowers[n % concurrency],
        )
        asked.raise_for_status()
        accepted = await client.post(f"/loans/{asked.json()['id']}/accept", headers=lender)
        accepted.raise_for_status()
        return 2

    return await run_load(
        url, request_and_accept, total=ops, concurrency=concurrency, name="loan request+accept"
    )


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv if argv is not None else sys.argv[1:])
    with BenchEnv(database_url=args.database_url) as env:
        env.migrate("exchange")
        bare = measure_bare(
            total=args.ops * 2, concurrency=args.concurrency, database_url=args.database_url
        )
        with env.serve("services.exchange.app:create_app", ready_path="/readyz") as url:
            loans = asyncio.run(
                _bench(url, env.settings(), ops=args.ops, concurrency=args.concurrency)
            )
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"exchange on {backend}, {args.concurrency} concurrent clients, uvicorn subprocesses")
    print(report([loans], baseline=bare))
    ratio = loans.requests_per_second / bare.requests_per_second
    target = TARGET_POSTGRESQL if args.database_url else TARGET
    verdict = "meets" if ratio >= target else "MISSES"
    pairs = loans.ops_per_second / bare.requests_per_second
    print(
        f"loan request+accept: {ratio:.0%} of the bare endpoint's requests/s "
        f"({verdict} the {target:.0%} goal); {pairs:.0%} counting a request+accept pair as one; "
        f"p99 {loans.p99_ms:.1f} ms per pair vs {bare.p99_ms:.1f} ms bare"
    )
    return 0 if loans.errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
