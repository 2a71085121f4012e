"""Sealed ballots, edition keys, desk voters and voting extensions.

- `sealed_ballots`: ballots cast while voting is open, sealed with the edition's public key
  (random id, no voter, no timestamp; written in shuffled batches apart from the
  participation rows, see services/budget/voting.py). `tracker` is the voter's receipt.
- `edition_keys`: each edition's public key and its k-of-n keyholders; the private key is
  never stored.
- `desk_voters`: residents registered at the town-hall desk (a verified record).
- `voting_extensions`: staff extending the voting period, recorded.
`ballots` keeps the opened (and imported) ballots, as before: existing editions still count.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "edition_keys",
        sa.Column("edition_id", sa.String(36), sa.ForeignKey("editions.id"), primary_key=True),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("threshold", sa.Integer, nullable=False),
        sa.Column("keyholders", sa.JSON, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "sealed_ballots",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("envelope_id", sa.String(36), sa.ForeignKey("envelopes.id"), nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=True),
        sa.Column("tracker", sa.String(64), nullable=False, unique=True),
        sa.Column("replace_key", sa.String(64), nullable=True, unique=True),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_sealed_ballots_envelope", "sealed_ballots", ["envelope_id"])
    op.create_table(
        "desk_voters",
        sa.Column("edition_id", sa.String(36), sa.ForeignKey("editions.id"), primary_key=True),
        sa.Column("voter_id", sa.String(100), primary_key=True),
        sa.Column("neighbourhood", sa.String(50), nullable=False),
        sa.Column("birthdate", sa.Date, nullable=True),
        sa.Column("registered_by", sa.String(100), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "voting_extensions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("edition_id", sa.String(36), sa.ForeignKey("editions.id"), nullable=False),
        sa.Column("until", sa.Date, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("extended_by", sa.String(100), nullable=False),
        sa.Column("extended_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_voting_extensions_edition", "voting_extensions", ["edition_id"])


def downgrade() -> None:
    for table in ("voting_extensions", "desk_voters", "sealed_ballots", "edition_keys"):
        op.drop_table(table)
