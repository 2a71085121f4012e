"""Impact: the participatory-budget editions' names, so reports name editions.

Revision ID: 0006
Revises: 0005

Existing editions get their names when `sharitories impact rebuild` replays their
budget.edition.created events; until then a report shows their ids.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "impact_edition_names",
        sa.Column("edition", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("impact_edition_names")
