"""Events published by the portal's debate: comments on proposals and campaigns.

The author is a `PseudonymousId`; the comment's text never travels (it may be hidden by
moderation, and the stream keeps what it carries). `neighbourhood` is the subject's (the
proposal's or the campaign's) when known. A hidden comment no longer counts as a
contribution; a restored one counts again.
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
    neighbourhood: str | None = None


@contract("debate.comment.posted", 1)
class CommentPosted(CommentFacts):
    in_reply_to: str | None = None


@contract("debate.comment.hidden", 1)
class CommentHidden(CommentFacts):
    reason_code: str


@contract("debate.comment.restored", 1)
class CommentRestored(CommentFacts):
    pass
