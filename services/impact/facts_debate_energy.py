"""From debate and citizen-energy events to facts: pure, like facts.py (registered there).

- `debate.comment.posted`: one fact (entity = the comment) in the comment's neighbourhood,
  and the author as a "commenter" (an active member). `hidden` and `restored` are one fact
  each on the same comment: a comment counts as a contribution unless its latest moderation
  event (by envelope time, then event id) is a hiding; so arrival order does not matter.
- `crowdfunding.soup.pot_assigned`: one fact (entity = the evening, ref = the project won),
  the Soup evening's trail; its money is counted from the pot campaign's own events.
- `crowdfunding.energy.production_recorded`: one fact per record (entity = the campaign,
  ref_day = the month produced, quantity = watt-hours). A later record of the same
  (campaign, month) replaces the earlier one: the report keeps the latest by envelope time.
"""

from __future__ import annotations

from typing import Any

from libs.common.contracts import crowdfunding as cf
from libs.common.contracts import debate as dt

POSTED = "debate.comment.posted"
HIDDEN = "debate.comment.hidden"
RESTORED = "debate.comment.restored"
ENERGY = "crowdfunding.energy.production_recorded"
COMMENTER = "commenter"


def _comment_posted(b: Any, d: dt.CommentPosted) -> None:
    b.fact(
        neighbourhood=d.neighbourhood,
        category=d.subject_kind,
        subcategory="reply" if d.in_reply_to else "comment",
        entity=d.comment_id,
        ref=d.subject_id,
    )
    b.active(d.author_id, COMMENTER, d.neighbourhood)


def _comment_moderated(b: Any, d: dt.CommentHidden | dt.CommentRestored) -> None:
    b.fact(
        neighbourhood=d.neighbourhood,
        category=d.subject_kind,
        subcategory=getattr(d, "reason_code", None),
        entity=d.comment_id,
        ref=d.subject_id,
    )


def _energy_recorded(b: Any, d: cf.EnergyProductionRecorded) -> None:
    b.fact(
        neighbourhood=d.neighbourhood,
        entity=d.campaign_id,
        ref=d.record_id,
        ref_day=d.month,
        quantity=d.wh,
    )


def _soup_pot_assigned(b: Any, d: cf.SoupPotAssigned) -> None:
    # The trail of a Soup evening: which project its pot went to. The money itself is
    # counted from the pot campaign's own events (pledges, success, payout).
    b.fact(
        neighbourhood=d.neighbourhood,
        edition=d.edition_id,
        entity=d.evening_id,
        ref=d.proposal_id,
    )


PROJECTED = [
    (dt.CommentPosted, _comment_posted),
    (dt.CommentHidden, _comment_moderated),
    (dt.CommentRestored, _comment_moderated),
    (cf.EnergyProductionRecorded, _energy_recorded),
    (cf.SoupPotAssigned, _soup_pot_assigned),
]
