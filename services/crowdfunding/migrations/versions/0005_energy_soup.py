"""Citizen energy units and the Soup evening.

- `campaigns.kind`: standard | energy | soup (existing campaigns: standard).
- `pledges.units`: how many units of an energy installation a pledge buys (NULL: one, or
  a plain pledge).
- `energy_installations`: the installation an energy campaign sells units of (its unit
  price, the reward row that holds the stock, its estimated yearly return).
- `energy_production`: kWh produced per month, one row per (campaign, month); recording a
  month again replaces it.
- `soup_evenings`: an evening's pot (a soup campaign) and the budget edition its diners
  vote in; the winner once the results are published.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Money = sa.BigInteger().with_variant(sa.Integer, "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=20), nullable=False, server_default="standard")
        )
    with op.batch_alter_table("pledges") as batch:
        batch.add_column(sa.Column("units", sa.Integer(), nullable=True))
    op.create_table(
        "energy_installations",
        sa.Column("campaign_id", sa.String(36), sa.ForeignKey("campaigns.id"), primary_key=True),
        sa.Column("technology", sa.String(30), nullable=False),
        sa.Column("kwp", sa.String(20), nullable=False),
        sa.Column("unit_price_cents", Money, nullable=False),
        sa.Column("units_total", sa.Integer(), nullable=False),
        sa.Column("reward_id", sa.String(36), sa.ForeignKey("rewards.id"), nullable=False),
        sa.Column("estimated_return_cents_per_unit_year", Money, nullable=False),
        sa.Column("address", sa.String(200), nullable=False, server_default=""),
        sa.CheckConstraint("unit_price_cents > 0", name="ck_energy_unit_price"),
        sa.CheckConstraint("units_total > 0", name="ck_energy_units_total"),
    )
    op.create_table(
        "energy_production",
        sa.Column("campaign_id", sa.String(36), sa.ForeignKey("campaigns.id"), primary_key=True),
        sa.Column("month", sa.Date(), primary_key=True),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("wh", Money, nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.Column("recorded_at", When, nullable=False),
        sa.CheckConstraint("wh >= 0", name="ck_energy_production_wh"),
    )
    op.create_table(
        "soup_evenings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("campaign_id", sa.String(36), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("edition_id", sa.String(100), nullable=False, unique=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("neighbourhood", sa.String(50), nullable=False),
        sa.Column("entry_fee_cents", Money, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("winner_proposal_id", sa.String(100), nullable=True),
        sa.Column("winner_title", sa.String(300), nullable=True),
        sa.Column("winner_author_id", sa.String(100), nullable=True),
        sa.Column("assigned_at", When, nullable=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", When, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("soup_evenings")
    op.drop_table("energy_production")
    op.drop_table("energy_installations")
    with op.batch_alter_table("pledges") as batch:
        batch.drop_column("units")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("kind")
