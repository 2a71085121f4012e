"""Tables of the budget service.

Ballot secrecy lives in the schema:
- `participations` records WHO took part in an envelope (and through which channel), with a
  primary key (envelope_id, voter_id): one counted ballot per voter and envelope, across
  channels, enforced by the database whatever the concurrency. It has no timestamp.
- `sealed_ballots` records WHAT was voted, sealed with the edition's public key, while
  voting is open: a random id, the envelope, the sealed bytes and their SHA-256 (the
  voter's tracker). No voter id, no channel, no timestamp, no sequence; written in shuffled
  batches in transactions of their own (voting.py). `replace_key` exists only in editions
  that allow ballot replacement: an HMAC of (edition, envelope, voter) under
  BUDGET_BALLOT_SECRET, so the database alone cannot link it to anybody. It is unique:
  still one ballot per voter.
- `ballots` holds opened ballots: those opened at the count (stored shuffled, under new
  random ids, without trackers), those of imported .pb files, and the plain ballots of
  editions created before sealing (with the SHA-256 of their random receipt).
- On SQLite both tables are WITHOUT ROWID, so their rows are stored in key order (random
  for ballots), not in the order voters arrived.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

editions = sa.Table(
    "editions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("city", sa.String(50), nullable=False),
    sa.Column("phase", sa.String(20), nullable=False),
    sa.Column("rule", sa.String(20), nullable=False),
    sa.Column("ballot_format", sa.JSON, nullable=False),
    sa.Column("allow_replacement", sa.Boolean, nullable=False),
    sa.Column("min_age", sa.Integer, nullable=True),
    sa.Column("preselection", sa.JSON, nullable=False),  # {"threshold": int?, "top_n": int?}
    sa.Column("eligible_population", sa.JSON, nullable=False),  # {neighbourhood: residents}
    sa.Column("phase_dates", sa.JSON, nullable=False),  # {phase: {"start":…, "end":…}}
    sa.Column("results", sa.JSON, nullable=True),
    sa.Column("source_meta", sa.JSON, nullable=True),  # META of an imported .pb file
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False, server_default="pb"),  # pb | soup
)

envelopes = sa.Table(
    "envelopes",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("edition_id", sa.String(36), sa.ForeignKey("editions.id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("district", sa.String(50), nullable=True),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.CheckConstraint("amount_cents > 0", name="ck_envelopes_amount"),
    sa.UniqueConstraint("edition_id", "district", name="uq_envelopes_district"),
)

proposals = sa.Table(
    "proposals",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("edition_id", sa.String(36), sa.ForeignKey("editions.id"), nullable=False),
    sa.Column("envelope_id", sa.String(36), sa.ForeignKey("envelopes.id"), nullable=False),
    sa.Column("external_id", sa.String(100), nullable=True),  # project id in a .pb file
    sa.Column("author_id", sa.String(100), nullable=True),
    sa.Column("channel", sa.String(10), nullable=False),  # online | desk
    sa.Column("entered_by", sa.String(100), nullable=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("neighbourhood", sa.String(50), nullable=True),
    sa.Column("proposed_cost_cents", sa.BigInteger, nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
    # submitted → promoted | not_promoted → feasible | unfeasible → selected | not_selected
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("supports", sa.Integer, nullable=False, server_default="0"),
    sa.Column("feasible", sa.Boolean, nullable=True),
    sa.Column("assessment_reason", sa.Text, nullable=True),
    sa.Column("cost_cents", sa.BigInteger, nullable=True),
    sa.Column("assessed_by", sa.String(100), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("edition_id", "external_id", name="uq_proposals_external"),
)

proposal_revisions = sa.Table(
    "proposal_revisions",
    metadata,
    sa.Column("proposal_id", sa.String(36), sa.ForeignKey("proposals.id"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("proposed_cost_cents", sa.BigInteger, nullable=True),
    sa.Column("edited_by", sa.String(100), nullable=False),
    sa.Column("edited_at", sa.DateTime(timezone=True), nullable=False),
)

supports = sa.Table(
    "supports",
    metadata,
    sa.Column("proposal_id", sa.String(36), sa.ForeignKey("proposals.id"), primary_key=True),
    sa.Column("supporter_id", sa.String(100), primary_key=True),
)

participations = sa.Table(
    "participations",
    metadata,
    sa.Column("envelope_id", sa.String(36), sa.ForeignKey("envelopes.id"), primary_key=True),
    sa.Column("voter_id", sa.String(100), primary_key=True),
    sa.Column("edition_id", sa.String(36), nullable=False),
    sa.Column("neighbourhood", sa.String(50), nullable=True),
    sa.Column("channel", sa.String(10), nullable=False),  # online | paper
    sa.Column("checked_in_by", sa.String(100), nullable=True),  # staff, for paper
    sa.Index("ix_participations_edition_id", "edition_id"),
    sqlite_with_rowid=False,
)

ballots = sa.Table(
    "ballots",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # random, never time-ordered
    sa.Column("envelope_id", sa.String(36), sa.ForeignKey("envelopes.id"), nullable=False),
    sa.Column("contents", sa.JSON, nullable=False),
    sa.Column("receipt_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("replace_key", sa.String(64), nullable=True, unique=True),
    sqlite_with_rowid=False,
)

milestones = sa.Table(
    "milestones",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("proposal_id", sa.String(36), sa.ForeignKey("proposals.id"), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("on", sa.Date, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("recorded_by", sa.String(100), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_milestones_proposal", "proposal_id"),
)

# --- sealed ballots (migration 0003) ----------------------------------------------------
# `ballots` above now holds opened ballots only: those of imported files, those opened at
# the count (written shuffled), and those of editions created before sealing existed.

edition_keys = sa.Table(
    "edition_keys",
    metadata,
    sa.Column("edition_id", sa.String(36), sa.ForeignKey("editions.id"), primary_key=True),
    sa.Column("public_key", sa.String(64), nullable=False),  # hex X25519; private key: nowhere
    sa.Column("threshold", sa.Integer, nullable=False),
    sa.Column("keyholders", sa.JSON, nullable=False),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
)

sealed_ballots = sa.Table(
    "sealed_ballots",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # random
    sa.Column("envelope_id", sa.String(36), sa.ForeignKey("envelopes.id"), nullable=False),
    sa.Column("sealed", sa.LargeBinary, nullable=True),  # erased once opened and counted
    sa.Column("tracker", sa.String(64), nullable=False, unique=True),  # SHA-256 of `sealed`
    sa.Column("replace_key", sa.String(64), nullable=True, unique=True),
    sa.Index("ix_sealed_ballots_envelope", "envelope_id"),
    sqlite_with_rowid=False,
)

desk_voters = sa.Table(
    "desk_voters",
    metadata,
    sa.Column("edition_id", sa.String(36), sa.ForeignKey("editions.id"), primary_key=True),
    sa.Column("voter_id", sa.String(100), primary_key=True),
    sa.Column("neighbourhood", sa.String(50), nullable=False),
    sa.Column("birthdate", sa.Date, nullable=True),
    sa.Column("registered_by", sa.String(100), nullable=False),
    sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
)

voting_extensions = sa.Table(
    "voting_extensions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("edition_id", sa.String(36), sa.ForeignKey("editions.id"), nullable=False),
    sa.Column("until", sa.Date, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("extended_by", sa.String(100), nullable=False),
    sa.Column("extended_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_voting_extensions_edition", "edition_id"),
)
