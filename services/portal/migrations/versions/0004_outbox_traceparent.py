"""The outbox keeps the trace context of the request that wrote each event.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from libs.common.messaging import add_outbox_traceparent, drop_outbox_traceparent

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_traceparent(op)


def downgrade() -> None:
    drop_outbox_traceparent(op)
