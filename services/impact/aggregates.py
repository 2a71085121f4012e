"""The pre-aggregated tables: folded from the fact and activity rows, in bulk.

`Fold` turns the rows of many events into aggregate deltas (pure Python, no I/O);
`write_rows` inserts fact/activity rows and `write_fold` applies the deltas, each with ONE
executemany per table at the driver level (no per-row SQL compilation):

- sums: INSERT ... ON CONFLICT DO UPDATE SET x = x + excluded.x (commutative: any order of
  events, any batching, gives the same totals);
- member sets: INSERT ... ON CONFLICT DO NOTHING (a set);
- loan cohort: one row per loan, INSERT ... ON CONFLICT (loan) DO UPDATE: met if any event
  met it; the smallest day and neighbourhood, and `multi` when the events disagreed on them
  (both commutative, so the row does not depend on the order of events).

Each event reaches these tables exactly once (the consumer's inbox), in the same transaction
as its fact rows, so facts and aggregates never disagree. `refold` recomputes the aggregates
from the facts (after a rebuild's swap, or when migration 0003 meets existing rows).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, delete, select, tuple_
from sqlalchemy.engine import Connection

from libs.common.db import insert_many
from services.impact.db import NONE, PROJECTION_VERSION, SUM_COLUMNS, state

RETURNED = "exchange.loan.returned"
COMPLETED = "exchange.service.completed"
PLEDGE_MADE = "crowdfunding.pledge.made"
LOAN_PREFIX = "exchange.loan."
LOAN_TYPES_MET = frozenset(
    (
        "exchange.loan.accepted",
        "exchange.loan.picked_up",
        "exchange.loan.returned",
        "exchange.loan.overdue",
        "exchange.loan.disputed",
    )
)
# The (role, event type) whose distinct people the report counts by neighbourhood/category.
PEOPLE = frozenset((("borrower", RETURNED), ("provider", COMPLETED), ("backer", PLEDGE_MADE)))
ACTIVE = "active"


def people_scope(role: str, event_type: str, dimension: str) -> str:
    """dimension: "n" (by neighbourhood), "c" (by category)."""
    return f"{role}|{event_type}|{dimension}"


def _month(day: date) -> date:
    return day.replace(day=1)


def merge_loan(a: tuple, b: tuple) -> tuple:
    """Two (ref_day, neighbourhood, met, multi) of one loan: commutative and associative,
    like the UPSERT of `write_fold`: met if either; multi if either is or they disagree on
    the day or the neighbourhood; then the smallest day and no neighbourhood (a multi loan
    is counted from its fact rows, these two only keep the row independent of order)."""
    multi = 1 if a[3] or b[3] or a[0] != b[0] or a[1] != b[1] else 0
    return (min(a[0], b[0]), NONE if multi else a[1], max(a[2], b[2]), multi)


class Fold:
    """Aggregate deltas of a set of fact and activity rows."""

    __slots__ = ("loans", "members", "sums")

    def __init__(self) -> None:
        self.sums: dict[tuple, list[int]] = {}
        self.members: set[tuple] = set()
        self.loans: dict[str, tuple] = {}  # entity -> (ref_day, neighbourhood, met, multi)

    def __bool__(self) -> bool:
        return bool(self.sums or self.members or self.loans)

    def add_facts(self, rows: Iterable[dict[str, Any]]) -> None:
        sums, loans = self.sums, self.loans
        for r in rows:
            day = r["day"]
            t = r["type"]
            nbhd = r["neighbourhood"] or NONE
            tail = (t, nbhd, r["category"] or NONE, r["subcategory"] or NONE)
            values = (
                1,
                r["quantity"] or 0,
                r["days"] or 0,
                r["minutes"] or 0,
                r["passenger_m"] or 0,
                r["cents"] or 0,
                r["matched_cents"] or 0,
                r["commission_cents"] or 0,
            )
            for key in (("d", day, *tail), ("m", _month(day), *tail)):
                acc = sums.get(key)
                if acc is None:
                    sums[key] = list(values)
                else:
                    for i, v in enumerate(values):
                        acc[i] += v
            if t.startswith(LOAN_PREFIX) and r["ref_day"] is not None and r["entity"] is not None:
                row = (r["ref_day"], nbhd, 1 if t in LOAN_TYPES_MET else 0, 0)
                known = loans.get(r["entity"])
                loans[r["entity"]] = row if known is None else merge_loan(known, row)

    def add_activity(self, rows: Iterable[dict[str, Any]]) -> None:
        add = self.members.add
        periods_of: dict[date, tuple] = {}  # a batch holds few distinct days
        scopes: dict[tuple[str, str], str | None] = {}
        for r in rows:
            day = r["day"]
            member = r["member_id"]
            nbhd = r["neighbourhood"] or NONE
            periods = periods_of.get(day)
            if periods is None:
                periods = periods_of[day] = (("m", _month(day)), ("y", day.replace(month=1, day=1)))
            for grain, start in periods:
                add((grain, start, ACTIVE, nbhd, NONE, member))
            who = (r["role"], r["type"])
            scope = scopes.get(who, "")
            if scope == "":
                scope = scopes[who] = f"{who[0]}|{who[1]}|" if who in PEOPLE else None
            if scope is not None:
                cat = r["category"] or NONE
                for grain, start in periods:
                    add((grain, start, scope + "n", nbhd, NONE, member))
                    add((grain, start, scope + "c", NONE, cat, member))


# --- writing at the driver level ----------------------------------------------------------------


def write_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert dict rows (every column of `table` present in each) with one executemany."""
    if not rows:
        return
    columns = [c.name for c in table.columns]
    values = itemgetter(*columns)
    insert_many(conn, table, columns, [values(r) for r in rows])


def bump_version(conn: Connection) -> None:
    """+1 on the projection's version (db.state): report snapshots older than this are stale.
    In the transaction that changes the rows, so a snapshot never outlives its data."""
    conn.exec_driver_sql(
        f'UPDATE "{state.name}" SET "version" = "version" + 1 WHERE "key" = '
        f"'{PROJECTION_VERSION}'"
    )


def write_fold(
    conn: Connection,
    fold: Fold,
    *,
    sums: Table,
    members: Table,
    loans: Table,
    version: bool = True,
) -> None:
    """Apply the deltas of `fold` to the aggregate tables (one executemany per table);
    `version`: and bump the projection's version (migrations older than 0007: no table).

    Rows go in key order: SQLite then walks each b-tree forward instead of jumping around
    it (a third less time on impact_members, measured by bench_impact's ingestion)."""
    if fold and version:
        bump_version(conn)
    if fold.sums:
        key = ["grain", "day", "type", "neighbourhood", "category", "subcategory"]
        measures = ["count", *SUM_COLUMNS]
        update = ", ".join(f'"{m}" = "{sums.name}"."{m}" + excluded."{m}"' for m in measures)
        keys = ", ".join(f'"{k}"' for k in key)
        insert_many(
            conn,
            sums,
            key + measures,
            [(*k, *v) for k, v in sorted(fold.sums.items())],
            f" ON CONFLICT ({keys}) DO UPDATE SET {update}",
        )
    if fold.members:
        columns = ["grain", "day", "scope", "neighbourhood", "category", "member_id"]
        insert_many(conn, members, columns, sorted(fold.members), " ON CONFLICT DO NOTHING")
    if fold.loans:
        t = f'"{loans.name}"'
        pg = conn.dialect.name == "postgresql"
        least, greatest = ("least", "greatest") if pg else ("min", "max")
        multi = (
            f'{t}."multi" = 1 OR excluded."multi" = 1 OR {t}."ref_day" <> excluded."ref_day"'
            f' OR {t}."neighbourhood" <> excluded."neighbourhood"'
        )
        insert_many(
            conn,
            loans,
            ["entity", "ref_day", "neighbourhood", "met", "multi"],
            [(entity, *row) for entity, row in sorted(fold.loans.items())],
            ' ON CONFLICT ("entity") DO UPDATE SET'
            f' "multi" = CASE WHEN {multi} THEN 1 ELSE 0 END,'
            f' "neighbourhood" = CASE WHEN {multi} THEN \'{NONE}\' ELSE {t}."neighbourhood" END,'
            f' "ref_day" = {least}({t}."ref_day", excluded."ref_day"),'
            f' "met" = {greatest}({t}."met", excluded."met")',
        )


def _chunks(conn: Connection, query, table: Table, size: int):
    """The rows of `query` in primary-key order, `size` at a time (keyset pages: no
    server-side cursor stays open, which PostgreSQL would hold against later DDL)."""
    key = list(table.primary_key.columns)
    last = None
    while True:
        page = query.order_by(*key).limit(size)
        if last is not None:
            page = page.where(tuple_(*key) > tuple_(*last))
        rows = conn.execute(page).mappings().all()
        if not rows:
            return
        yield rows
        last = [rows[-1][c.name] for c in key]


def refold(
    conn: Connection,
    *,
    facts: Table,
    activity: Table,
    sums: Table,
    members: Table,
    loans: Table,
    chunk: int = 50_000,
    version: bool = True,
) -> None:
    """Recompute the aggregate tables from every fact and activity row (sync connection)."""
    for table in (sums, members, loans):
        conn.execute(delete(table))
    if version:
        bump_version(conn)
    for source, method in ((facts, "add_facts"), (activity, "add_activity")):
        for part in _chunks(conn, select(source), source, chunk):
            fold = Fold()
            getattr(fold, method)(part)
            write_fold(conn, fold, sums=sums, members=members, loans=loans, version=version)


def refold_sync(conn: Connection) -> None:
    """Migration 0003: fold the rows already in the live tables."""
    from services.impact import db

    refold(
        conn,
        facts=db.facts,
        activity=db.activity,
        sums=db.sums,
        members=db.members,
        loans=db.loans,
        version=False,  # migration 0003: the version table comes with 0007
    )


def refold_loans_sync(conn: Connection, *, chunk: int = 50_000) -> None:
    """Migration 0004: fold the loan cohort rows (one per loan) from the live loan facts."""
    from services.impact import db

    f = db.facts
    conn.execute(delete(db.loans))
    query = select(f).where(f.c.type.startswith(LOAN_PREFIX, autoescape=True))
    for part in _chunks(conn, query, f, chunk):
        fold = Fold()
        fold.add_facts(part)
        fold.sums.clear()  # the sums were folded already (0003): the loans only
        write_fold(conn, fold, sums=db.sums, members=db.members, loans=db.loans, version=False)
