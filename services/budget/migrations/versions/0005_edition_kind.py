"""An edition's kind: a participatory budget ("pb") or a Soup evening's vote ("soup").

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("editions") as batch:
        batch.add_column(sa.Column("kind", sa.String(10), nullable=False, server_default="pb"))


def downgrade() -> None:
    with op.batch_alter_table("editions") as batch:
        batch.drop_column("kind")
