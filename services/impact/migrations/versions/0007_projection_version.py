"""Impact: the projection's version, which report snapshots are checked against.

Revision ID: 0007
Revises: 0006

One row, +1 in every transaction that changes the facts or the aggregates: a report built
at version v is still the report as long as the version is v.
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    state = op.create_table(
        "impact_state",
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("token", sa.String(36), nullable=False),
    )
    op.bulk_insert(state, [{"key": "projection", "version": 0, "token": str(uuid.uuid4())}])


def downgrade() -> None:
    op.drop_table("impact_state")
