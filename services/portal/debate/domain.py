"""The rules of the debate, pure: what may be posted, replied to, edited, withdrawn,
reported, hidden and restored, and what each reader sees of a comment.

- One level of replies: a reply answers a top-level comment of the same subject, never
  another reply (threads stay readable on a phone, and moderation sees whole exchanges).
- The author may edit or withdraw a comment during the edit window only: after it, others
  may have answered or quoted it, so it stays as it was read.
- Text is public: no e-mail address or phone number (the PublicText rules), 2 to 2,000
  characters.
- Hidden by moderation: the author still reads the text and the reason; everyone else a
  placeholder. Staff can restore it. A withdrawn comment stays withdrawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from libs.common.publictext import personal_data_in

SUBJECT_KINDS: tuple[str, ...] = ("proposal", "campaign")
SubjectKind = Literal["proposal", "campaign"]
BODY_MIN, BODY_MAX = 2, 2000
DETAIL_MAX = 500  # a report's detail, a moderator's note
VISIBLE, HIDDEN, WITHDRAWN = "visible", "hidden", "withdrawn"
# Why a resident reports a comment, and why staff hide one: one vocabulary for both, so
# the queue shows the residents' reasons in the words staff choose from.
REASONS: tuple[str, ...] = ("insult", "personal_data", "spam", "off_topic", "illegal", "other")


class DebateRefused(Exception):
    """A refusal a person can understand: a problem code, its params, the field at fault."""

    def __init__(self, *, code: str, status: int, field: str | None = None, **params: Any) -> None:
        super().__init__(code)
        self.code, self.status, self.field, self.params = code, status, field, params


@dataclass(frozen=True)
class Comment:
    id: str
    subject_kind: str
    subject_id: str
    author_id: str
    in_reply_to: str | None
    body: str
    state: str
    created_at: datetime
    edited_at: datetime | None = None
    hidden_reason: str | None = None
    hidden_note: str | None = None

    def editable_until(self, window: timedelta) -> datetime:
        return self.created_at + window


def subject_kind(value: str) -> str:
    if value not in SUBJECT_KINDS:
        raise DebateRefused(code="debate.subject_unknown", status=404, field="subject_kind")
    return value


def clean_body(text: object) -> str:
    """The comment's text, trimmed, within the length limits and free of personal data."""
    body = str(text or "").strip().replace("\r\n", "\n")
    if not BODY_MIN <= len(body) <= BODY_MAX:
        raise DebateRefused(
            code="debate.body_length", status=422, field="body", min=BODY_MIN, max=BODY_MAX
        )
    if personal_data_in(body):
        raise DebateRefused(code="debate.personal_data", status=422, field="body")
    return body


def clean_detail(text: object, *, field: str) -> str:
    detail = str(text or "").strip()
    if len(detail) > DETAIL_MAX:
        raise DebateRefused(code="debate.detail_length", status=422, field=field, max=DETAIL_MAX)
    return detail


def reason(value: object, *, field: str = "reason") -> str:
    if value not in REASONS:
        raise DebateRefused(code="debate.reason_unknown", status=422, field=field)
    return str(value)


def check_reply(parent: Comment, *, subject_kind: str, subject_id: str) -> None:
    """A reply answers a visible top-level comment of the same subject."""
    if (parent.subject_kind, parent.subject_id) != (subject_kind, subject_id):
        raise DebateRefused(code="debate.reply_elsewhere", status=422, field="in_reply_to")
    if parent.in_reply_to is not None:
        raise DebateRefused(code="debate.reply_depth", status=422, field="in_reply_to")
    if parent.state != VISIBLE:
        raise DebateRefused(code="debate.reply_to_removed", status=409, field="in_reply_to")


def check_author_change(comment: Comment, *, by: str, at: datetime, window: timedelta) -> None:
    """The author edits or withdraws a visible comment, within the edit window."""
    if comment.author_id != by:
        raise DebateRefused(code="debate.not_author", status=403)
    if comment.state != VISIBLE:
        raise DebateRefused(code="debate.wrong_state", status=409, state=comment.state)
    if at >= comment.editable_until(window):
        raise DebateRefused(
            code="debate.edit_window_closed",
            status=409,
            minutes=int(window.total_seconds() // 60),
        )


def check_report(comment: Comment, *, by: str) -> None:
    if comment.author_id == by:
        raise DebateRefused(code="debate.report_own", status=422)
    if comment.state != VISIBLE:
        raise DebateRefused(code="debate.wrong_state", status=409, state=comment.state)


def check_hide(comment: Comment) -> None:
    if comment.state != VISIBLE:
        raise DebateRefused(code="debate.wrong_state", status=409, state=comment.state)


def check_restore(comment: Comment) -> None:
    if comment.state != HIDDEN:
        raise DebateRefused(code="debate.wrong_state", status=409, state=comment.state)


# "hidden_with_reason": the author (and staff) read the text under the moderation notice.
Shown = Literal["text", "hidden_with_reason", "hidden", "withdrawn"]


def shown_as(comment: Comment, *, reader_id: str | None, reader_is_staff: bool) -> Shown:
    """What a reader sees of a comment: its text, the moderation notice, or a placeholder."""
    if comment.state == WITHDRAWN:
        return "withdrawn"
    if comment.state == HIDDEN:
        if reader_is_staff or (reader_id is not None and reader_id == comment.author_id):
            return "hidden_with_reason"
        return "hidden"
    return "text"


def may_change(comment: Comment, *, reader_id: str | None, at: datetime, window: timedelta) -> bool:
    """Whether the page offers the author the edit and withdraw forms."""
    return (
        reader_id == comment.author_id
        and comment.state == VISIBLE
        and at < comment.editable_until(window)
    )


def threads(comments: list[Comment]) -> list[tuple[Comment, list[Comment]]]:
    """Top-level comments in posting order, each with its replies in posting order."""
    ordered = sorted(comments, key=lambda c: (c.created_at, c.id))
    replies: dict[str, list[Comment]] = {}
    for c in ordered:
        if c.in_reply_to is not None:
            replies.setdefault(c.in_reply_to, []).append(c)
    return [(c, replies.get(c.id, [])) for c in ordered if c.in_reply_to is None]
