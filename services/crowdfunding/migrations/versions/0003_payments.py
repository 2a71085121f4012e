"""Real payments and fulfilment: saved cards, charges, 3-D Secure steps, reward delivery,
and the commission base frozen at launch.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PLEDGE_COLUMNS = [
    sa.Column("customer_id", sa.String(length=64), nullable=True),
    sa.Column("method_id", sa.String(length=64), nullable=True),
    sa.Column("charge_id", sa.String(length=64), nullable=True),
    sa.Column("next_action_url", sa.String(length=500), nullable=True),
    sa.Column("client_secret", sa.String(length=200), nullable=True),
    sa.Column("reward_delivered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("reward_received_at", sa.DateTime(timezone=True), nullable=True),
]


def upgrade() -> None:
    with op.batch_alter_table("pledges") as batch:
        for column in PLEDGE_COLUMNS:
            batch.add_column(column)
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("commission_base", sa.String(length=20), nullable=True))
    with op.batch_alter_table("rewards") as batch:
        batch.add_column(sa.Column("description", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("rewards") as batch:
        batch.drop_column("description")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("commission_base")
    with op.batch_alter_table("pledges") as batch:
        for column in reversed(PLEDGE_COLUMNS):
            batch.drop_column(column.name)
