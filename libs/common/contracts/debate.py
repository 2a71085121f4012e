"""Events of the debate (comments on proposals and campaigns, and their moderation).

Published by the portal, which hosts the comments. Authors appear as pseudonymous ids, never
names; the comment's text never travels (the impact service counts contributions, it does
not read them).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from libs.common.events import contract
from libs.common.publictext import PseudonymousId

SubjectKind = Literal["proposal", "campaign"]


class CommentFacts(BaseModel):
    comment_id: str
    author_id: PseudonymousId
    subject_kind: SubjectKind
    subject_id: str
    neighbourhood: str | None


@contract("debate.comment.posted", 1)
class CommentPosted(CommentFacts):
    in_reply_to: str | None


@contract("debate.comment.hidden", 1)
class CommentHidden(CommentFacts):
    """A moderator hid the comment: it no longer counts as a contribution."""

    reason_code: str


@contract("debate.comment.restored", 1)
class CommentRestored(CommentFacts):
    """A hidden comment is shown again: it counts again."""
