"""Tables of the impact service: per-event facts, member activity, and parked events.

Every row is a pure function of ONE event (its id is part of the primary key), so the
projection is the *set* of facts of the events seen: the order in which events arrive cannot
change it, and a duplicate cannot add to it (the inbox skips it, and the primary key would
refuse it anyway). Indicators are queries over these sets plus the factor catalogue, so a
report can be recomputed under another catalogue version from the same events.

- `impact_fact`: one or more rows per event (most events give one; a results publication gives
  one per envelope, selected project and turnout line). Measures are integers: cents, minutes,
  days, seconds, passenger-metres (exact; km x passengers x 1000).
- `impact_activity`: one row per (event, pseudonymous member) who did something, with that
  member's neighbourhood: the base of active members, backers and small-cell contributor counts.
- `impact_parked`: events of an unknown type or version, or whose data does not validate,
  kept whole so that a later version of the service can re-apply them.

Pre-aggregated tables, maintained in the consumer's transaction from the same rows (and
recomputed from them by `rebuild`), so that a report never scans the per-event rows:
- `impact_sums`: count and sums of facts per (grain, day, type, neighbourhood, category,
  subcategory); grain "d" = one UTC day, "m" = the month starting at `day`. Updated with a
  commutative UPSERT (x = x + excluded.x): order-independent, like the facts.
- `impact_members`: distinct-member sets per (grain, day, scope, neighbourhood, category);
  grain "m" = month, "y" = year. Scope "active" (any role; category NONE) counts active
  members; "<role>|<type>|n" / "|c" count the people of one role and event type by
  neighbourhood and by category (by category within one neighbourhood reads the activity
  rows of that neighbourhood: a tenth of them, through a covering index).
- `impact_loans`: one row per loan with its request day, neighbourhood and whether it was
  met: the cohort of loan requests. Events of one loan carry the same request time and
  borrower neighbourhood; should they ever disagree the loan is flagged `multi` and the
  report counts it from its fact rows instead (exact either way).
Key columns of these tables hold NONE ("") for a missing value (a NULL never conflicts).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

# The summed measures of a fact (impact_sums keeps one sum of each).
SUM_COLUMNS = (
    "quantity",
    "days",
    "minutes",
    "passenger_m",
    "cents",
    "matched_cents",
    "commission_cents",
)

ID = String(64)
EDITION_INDEX = (
    "edition",
    "type",
    "day",
    "subcategory",
    "quantity",
    "cents",
    "entity",
    "occurred_at",
    "event_id",
)
CODE = String(64)


def fact_table(name: str, meta: MetaData = metadata) -> Table:
    """The facts table (also built under another name by `rebuild` for a fresh projection)."""
    return Table(
        name,
        meta,
        Column("event_id", String(36), primary_key=True),
        Column("part", Integer, primary_key=True, default=0),
        Column("type", String(80), nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("day", Date, nullable=False),  # UTC day of occurred_at: the period anchor
        Column("neighbourhood", CODE),
        Column("category", CODE),  # item category, service kind, member kind, part kind...
        Column("subcategory", CODE),  # repaired category, channel, phase, status...
        Column("edition", ID),
        Column("entity", ID),  # loan, item, campaign, pledge, proposal, transfer id
        Column("ref", ID),  # a second id: the loan's item, the pledge's campaign...
        Column("ref_day", Date),  # loans: the day the loan was requested (cohort of requests)
        Column("flag", Boolean),
        Column("quantity", BigInteger),  # voters, backers, days planned...
        Column("total", BigInteger),  # eligible residents...
        Column("days", Integer),
        Column("minutes", BigInteger),
        Column("seconds", BigInteger),
        Column("passenger_m", BigInteger),
        Column("cents", BigInteger),
        Column("matched_cents", BigInteger),
        Column("commission_cents", BigInteger),
        Column("goal_cents", BigInteger),
        Index(f"ix_{name}_type_day", "type", "day"),
        # request-to-match waits in order (only accepted loans carry seconds)
        Index(
            f"ix_{name}_waits",
            "type",
            "seconds",
            "day",
            "neighbourhood",
            sqlite_where=text("seconds IS NOT NULL"),
            postgresql_where=text("seconds IS NOT NULL"),
        ),
        Index(f"ix_{name}_entity", "entity"),
        Index(f"ix_{name}_ref", "ref"),
        # PB figures of an edition (only the rows that have one; covering)
        Index(
            f"ix_{name}_edition",
            *EDITION_INDEX,
            sqlite_where=text("edition IS NOT NULL"),
            postgresql_where=text("edition IS NOT NULL"),
        ),
    )


def activity_table(name: str, meta: MetaData = metadata) -> Table:
    """Who did something, when and where (pseudonymous ids only)."""
    return Table(
        name,
        meta,
        Column("event_id", String(36), primary_key=True),
        Column("member_id", ID, primary_key=True),
        Column("role", String(20), primary_key=True),  # lender, borrower, backer, author...
        Column("type", String(80), nullable=False),
        Column("day", Date, nullable=False),
        Column("neighbourhood", CODE),
        Column("category", CODE),  # the loan's item category, the service's kind
        # partial months of the member counts read these rows directly (covering)
        Index(f"ix_{name}_day_nbhd_member", "day", "neighbourhood", "member_id"),
        Index(
            f"ix_{name}_role_day", "role", "type", "day", "neighbourhood", "category", "member_id"
        ),
    )


def parked_table(name: str, meta: MetaData = metadata) -> Table:
    return Table(
        name,
        meta,
        Column("event_id", String(36), primary_key=True),
        Column("type", String(80), nullable=False),
        Column("version", Integer, nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("reason", Text, nullable=False),
        Column("envelope", Text, nullable=False),  # the whole envelope as JSON
        Column("parked_at", DateTime(timezone=True), nullable=False),
    )


NONE = ""  # a missing key value in the aggregate tables


def sums_table(name: str, meta: MetaData = metadata) -> Table:
    return Table(
        name,
        meta,
        Column("grain", String(1), primary_key=True),
        Column("day", Date, primary_key=True),
        Column("type", String(80), primary_key=True),
        Column("neighbourhood", CODE, primary_key=True),
        Column("category", CODE, primary_key=True),
        Column("subcategory", CODE, primary_key=True),
        Column("count", BigInteger, nullable=False),
        *(Column(c, BigInteger, nullable=False) for c in SUM_COLUMNS),
        sqlite_with_rowid=False,  # one b-tree (the key) per row instead of table + index
    )


def members_table(name: str, meta: MetaData = metadata) -> Table:
    return Table(
        name,
        meta,
        Column("grain", String(1), primary_key=True),
        Column("day", Date, primary_key=True),
        Column("scope", String(120), primary_key=True),
        Column("neighbourhood", CODE, primary_key=True),
        Column("category", CODE, primary_key=True),
        Column("member_id", ID, primary_key=True),
        sqlite_with_rowid=False,
    )


def loans_table(name: str, meta: MetaData = metadata) -> Table:
    return Table(
        name,
        meta,
        Column("entity", ID, primary_key=True),
        Column("ref_day", Date, nullable=False),  # the smallest request day seen
        Column("neighbourhood", CODE, nullable=False),  # the smallest neighbourhood seen
        Column("met", Integer, nullable=False),
        Column("multi", Integer, nullable=False),  # events disagreed on (day, neighbourhood)
        # the cohort of a window is a range of this index (count and sum, no DISTINCT)
        Index(f"ix_{name}_cohort", "multi", "ref_day", "neighbourhood", "met"),
        sqlite_with_rowid=False,
    )


# The participatory-budget editions' public names, so a report says "Budget 2026" rather
# than an id. Outside the projection's tables: written again identically by a rebuild's
# replay, and read by every projection.
edition_names = Table(
    "impact_edition_names",
    metadata,
    Column("edition", ID, primary_key=True),
    Column("name", Text, nullable=False),
)

# The projection's version: +1 in every transaction that writes facts or aggregates (the
# consumer's batch, a re-applied parked event, a rebuild's swap), so a report snapshot built
# at version v is still the report while the version is v (services/impact/snapshots.py).
state = Table(
    "impact_state",
    metadata,
    Column("key", String(32), primary_key=True),
    Column("version", BigInteger, nullable=False),
    # Random, set when the row is created: a database recreated at the same address and
    # brought to the same version is still another projection.
    Column("token", String(36), nullable=False),
)
PROJECTION_VERSION = "projection"

facts = fact_table("impact_fact")
activity = activity_table("impact_activity")
parked_events = parked_table("impact_parked")
sums = sums_table("impact_sums")
members = members_table("impact_members")
loans = loans_table("impact_loans")

PROJECTION_TABLES = (facts, activity, parked_events)


@dataclass(frozen=True)
class Tables:
    """The tables of one projection: the live ones, or fresh ones during a rebuild (the
    consumer's `handlers.Projection` has these same attributes)."""

    facts: Table
    activity: Table
    parked: Table
    sums: Table
    members: Table
    loans: Table


LIVE = Tables(facts, activity, parked_events, sums, members, loans)
