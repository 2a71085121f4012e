"""Tables of the crowdfunding service (SQLAlchemy Core). Money columns are integer cents.

Datetimes are stored in UTC; SQLite hands them back naive, so read them through `utc()`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()
Money = BigInteger().with_variant(Integer, "sqlite")
AutoId = BigInteger().with_variant(Integer, "sqlite")
When = DateTime(timezone=True)


def utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


campaigns = Table(
    "campaigns",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("holder_id", String(100), nullable=False, index=True),
    Column("holder_kind", String(20), nullable=False),
    Column("holder_verified", Boolean, nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("category", String(50), nullable=False),
    Column("neighbourhood", String(50), nullable=False),
    Column("goal_cents", Money, nullable=False),
    Column("duration_days", Integer, nullable=False),
    Column("state", String(20), nullable=False, index=True),
    # Frozen at launch: the platform rate of that moment, the deadline.
    Column("commission_rate", String(20)),
    Column("commission_base", String(20)),  # raised | raised_plus_match (NULL before 0003)
    Column("launched_at", When),
    Column("deadline", When, index=True),
    Column("match_pool_id", String(36)),
    Column("origin_proposal_id", String(100), unique=True),  # a PB proposal turned campaign
    Column("origin_edition_id", String(100)),
    Column("created_at", When, nullable=False),
    # Settlement: claimed by one worker under a lease, resumable after a crash.
    Column("settle_outcome", String(20)),
    Column("settle_lease_until", When),
    Column("raised_cents", Money),
    Column("matched_cents", Money),
    Column("total_cents", Money),
    Column("commission_cents", Money),
    Column("net_cents", Money),
    Column("backers", Integer),
    Column("settled_at", When),
    Column("payout_reference", String(200)),
    Column("paid_out_at", When),
    Column("kind", String(20), nullable=False, server_default="standard"),  # energy | soup
    CheckConstraint("goal_cents > 0", name="ck_campaign_goal_positive"),
)

reviews = Table(
    "reviews",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("campaign_id", String(36), ForeignKey("campaigns.id"), nullable=False, index=True),
    Column("reviewer_id", String(100), nullable=False),
    Column("approved", Boolean, nullable=False),
    Column("checks", JSON, nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("reviewed_at", When, nullable=False),
)

rewards = Table(
    "rewards",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("campaign_id", String(36), ForeignKey("campaigns.id"), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("min_cents", Money, nullable=False),
    Column("stock", Integer),  # NULL: unlimited
    Column("remaining", Integer),
    CheckConstraint("remaining IS NULL OR remaining >= 0", name="ck_reward_remaining"),
)

pledges = Table(
    "pledges",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("campaign_id", String(36), ForeignKey("campaigns.id"), nullable=False, index=True),
    Column("backer_id", String(100), nullable=False, index=True),
    Column("backer_kind", String(20), nullable=False),
    Column("backer_neighbourhood", String(50)),
    Column("amount_cents", Money, nullable=False),
    Column("reward_id", String(36), ForeignKey("rewards.id")),
    Column("channel", String(10), nullable=False),  # online | desk
    Column("method", String(10), nullable=False),  # card | cash | cheque
    Column("status", String(20), nullable=False, index=True),
    Column("provider", String(30)),
    Column("payment_id", String(64)),
    Column("failure", String(200)),
    Column("match_pool_id", String(36)),
    Column("matched_cents", Money, nullable=False, server_default="0"),
    Column("match_status", String(10), nullable=False, server_default="none"),
    Column("recorded_by", String(100)),  # staff member at the desk
    # The provider's saved card (Stripe: customer + payment method), the charge taken at
    # success (Stripe: the PaymentIntent), and the 3-D Secure step the backer owes.
    Column("customer_id", String(64)),
    Column("method_id", String(64)),
    Column("charge_id", String(64)),
    Column("next_action_url", String(500)),
    Column("client_secret", String(200)),
    # Fulfilment (Goteo's): the holder sends the reward, the backer confirms receipt.
    Column("reward_delivered_at", When),
    Column("reward_received_at", When),
    Column("units", Integer),  # units of an energy installation bought (NULL: one)
    Column("created_at", When, nullable=False),
    Column("updated_at", When, nullable=False),
    CheckConstraint("amount_cents > 0", name="ck_pledge_amount_positive"),
)

match_pools = Table(
    "match_pools",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("budget_cents", Money, nullable=False),
    Column("reserved_cents", Money, nullable=False, server_default="0"),  # incl. released
    Column("released_cents", Money, nullable=False, server_default="0"),
    Column("last_grant_cents", Money, nullable=False, server_default="0"),
    Column("match_factor", String(20), nullable=False),
    Column("cap_per_pledge_cents", Money),
    Column("cap_per_project_cents", Money),
    Column("cap_per_backer_cents", Money),
    Column("residents_only", Boolean, nullable=False, server_default="0"),
    Column("neighbourhoods", JSON),  # NULL: every neighbourhood
    Column("categories", JSON),  # NULL: every category
    Column("from_budget_edition", String(100)),
    Column("created_by", String(100), nullable=False),
    Column("created_at", When, nullable=False),
    CheckConstraint(
        "reserved_cents >= 0 AND reserved_cents <= budget_cents", name="ck_pool_not_overdrawn"
    ),
)

# Per-project and per-backer counters of a pool: each capped by one conditional update.
pool_campaigns = Table(
    "pool_campaigns",
    metadata,
    Column("pool_id", String(36), ForeignKey("match_pools.id"), primary_key=True),
    Column("campaign_id", String(36), ForeignKey("campaigns.id"), primary_key=True),
    Column("reserved_cents", Money, nullable=False, server_default="0"),
    Column("last_grant_cents", Money, nullable=False, server_default="0"),
)

pool_backers = Table(
    "pool_backers",
    metadata,
    Column("pool_id", String(36), ForeignKey("match_pools.id"), primary_key=True),
    Column("backer_id", String(100), primary_key=True),
    Column("reserved_cents", Money, nullable=False, server_default="0"),
    Column("last_grant_cents", Money, nullable=False, server_default="0"),
)

payment_webhooks = Table(
    "payment_webhooks",
    metadata,
    Column("provider", String(30), primary_key=True),
    Column("event_id", String(100), primary_key=True),
    Column("type", String(50), nullable=False),
    Column("payment_id", String(64)),
    Column("received_at", When, nullable=False),
)

budget_leftovers = Table(
    "budget_leftovers",
    metadata,
    Column("edition_id", String(100), primary_key=True),
    Column("envelope_id", String(100), primary_key=True),
    Column("district", String(50)),
    Column("leftover_cents", Money, nullable=False),
    Column("pool_id", String(36)),
    Column("recorded_at", When, nullable=False),
)

platform_settings = Table(
    "platform_settings",
    metadata,
    Column("key", String(50), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("updated_by", String(100)),
    Column("updated_at", When, nullable=False),
)

# --- citizen energy units and the Soup evening (migration 0005) -----------------------

energy_installations = Table(
    "energy_installations",
    metadata,
    Column("campaign_id", String(36), ForeignKey("campaigns.id"), primary_key=True),
    Column("technology", String(30), nullable=False),
    Column("kwp", String(20), nullable=False),  # decimal text: peak power in kW
    Column("unit_price_cents", Money, nullable=False),
    Column("units_total", Integer, nullable=False),
    # The stock of units is this reward's `remaining`: one conditional update sells it.
    Column("reward_id", String(36), ForeignKey("rewards.id"), nullable=False),
    Column("estimated_return_cents_per_unit_year", Money, nullable=False),
    Column("address", String(200), nullable=False, server_default=""),
    CheckConstraint("unit_price_cents > 0", name="ck_energy_unit_price"),
    CheckConstraint("units_total > 0", name="ck_energy_units_total"),
)

energy_production = Table(
    "energy_production",
    metadata,
    Column("campaign_id", String(36), ForeignKey("campaigns.id"), primary_key=True),
    Column("month", Date, primary_key=True),  # first day of the month
    Column("record_id", String(36), nullable=False),
    Column("wh", Money, nullable=False),
    Column("source", String(10), nullable=False),  # form | csv
    Column("recorded_by", String(100), nullable=False),
    Column("recorded_at", When, nullable=False),
    CheckConstraint("wh >= 0", name="ck_energy_production_wh"),
)

soup_evenings = Table(
    "soup_evenings",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("campaign_id", String(36), ForeignKey("campaigns.id"), nullable=False),
    Column("edition_id", String(100), nullable=False, unique=True),  # the budget edition
    Column("title", String(200), nullable=False),
    Column("neighbourhood", String(50), nullable=False),
    Column("entry_fee_cents", Money, nullable=False),
    Column("state", String(20), nullable=False),  # open | assigned | paid_out
    Column("winner_proposal_id", String(100)),
    Column("winner_title", String(300)),
    Column("winner_author_id", String(100)),
    Column("assigned_at", When),
    Column("created_by", String(100), nullable=False),
    Column("created_at", When, nullable=False),
)

# --- the sandbox payment provider's own books (what a PSP keeps on its side) ------------

sandbox_payments = Table(
    "sandbox_payments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("reference", String(100), nullable=False),
    Column("amount_cents", Money, nullable=False),
    Column("card_token", String(100), nullable=False),
    Column("status", String(20), nullable=False),
    Column("captured_cents", Money, nullable=False, server_default="0"),
    Column("refunded_cents", Money, nullable=False, server_default="0"),
    Column("created_at", When, nullable=False),
)

sandbox_operations = Table(
    "sandbox_operations",
    metadata,
    Column("idempotency_key", String(200), primary_key=True),
    Column("operation", String(20), nullable=False),
    Column("payment_id", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("failure", String(200)),
    Column("created_at", When, nullable=False),
)

sandbox_webhooks = Table(
    "sandbox_webhooks",
    metadata,
    Column("seq", AutoId, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("payment_id", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", When, nullable=False),
    Column("delivered_at", When),
    Index("ix_sandbox_webhooks_payment", "payment_id"),
)
