"""The debate's rules, without a database: text, reply depth, edit window, who sees what."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.portal.debate import domain
from services.portal.debate.domain import HIDDEN, VISIBLE, WITHDRAWN, Comment, DebateRefused

AT = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
TOP = Comment(id="c1", subject_kind="proposal", subject_id="p1", author_id="ana",
              in_reply_to=None, body="Un banc de plus ?", state=VISIBLE, created_at=AT)  # fmt: skip
REPLY = replace(TOP, id="c2", author_id="ben", in_reply_to="c1")


def refused(call, *args, **kwargs) -> DebateRefused:
    with pytest.raises(DebateRefused) as caught:
        call(*args, **kwargs)
    return caught.value


def test_text_is_trimmed_and_kept_within_its_limits():
    assert domain.clean_body("  Oui, bonne idée.\r\n ") == "Oui, bonne idée."
    short = refused(domain.clean_body, " a ")
    assert (short.code, short.status, short.field) == ("debate.body_length", 422, "body")
    assert short.params == {"min": 2, "max": 2000}
    assert domain.clean_body("x" * 2000)
    assert refused(domain.clean_body, "x" * 2001).code == "debate.body_length"


@pytest.mark.parametrize("leak", ["écrivez-moi à ana@example.org", "appelez le 06 12 34 56 78"])
def test_public_text_refuses_an_email_or_a_phone_number(leak):
    assert refused(domain.clean_body, leak).code == "debate.personal_data"


def test_one_level_of_replies_on_the_same_subject():
    domain.check_reply(TOP, subject_kind="proposal", subject_id="p1")
    assert refused(domain.check_reply, REPLY, subject_kind="proposal",
                   subject_id="p1").code == "debate.reply_depth"  # fmt: skip
    assert refused(domain.check_reply, TOP, subject_kind="campaign",
                   subject_id="p1").code == "debate.reply_elsewhere"  # fmt: skip
    gone = replace(TOP, state=HIDDEN)
    assert refused(domain.check_reply, gone, subject_kind="proposal",
                   subject_id="p1").code == "debate.reply_to_removed"  # fmt: skip


def test_the_author_changes_a_comment_only_within_the_window():
    domain.check_author_change(TOP, by="ana", at=AT + WINDOW - timedelta(seconds=1), window=WINDOW)
    late = refused(domain.check_author_change, TOP, by="ana", at=AT + WINDOW, window=WINDOW)
    assert (late.code, late.status, late.params) == ("debate.edit_window_closed", 409,
                                                     {"minutes": 15})  # fmt: skip
    other = refused(domain.check_author_change, TOP, by="ben", at=AT, window=WINDOW)
    assert (other.code, other.status) == ("debate.not_author", 403)
    hidden = refused(domain.check_author_change, replace(TOP, state=HIDDEN), by="ana", at=AT,
                     window=WINDOW)  # fmt: skip
    assert hidden.code == "debate.wrong_state" and hidden.params == {"state": "hidden"}
    assert domain.may_change(TOP, reader_id="ana", at=AT, window=WINDOW)
    assert not domain.may_change(TOP, reader_id="ana", at=AT + WINDOW, window=WINDOW)
    assert not domain.may_change(TOP, reader_id="ben", at=AT, window=WINDOW)


def test_hide_and_restore_follow_the_state():
    domain.check_hide(TOP)
    assert refused(domain.check_hide, replace(TOP, state=WITHDRAWN)).code == "debate.wrong_state"
    domain.check_restore(replace(TOP, state=HIDDEN))
    assert refused(domain.check_restore, TOP).code == "debate.wrong_state"
    assert refused(domain.check_restore, replace(TOP, state=WITHDRAWN)).status == 409


def test_reports_need_a_known_reason_and_someone_elses_visible_comment():
    assert domain.reason("insult") == "insult"
    assert refused(domain.reason, "boring").code == "debate.reason_unknown"
    assert refused(domain.check_report, TOP, by="ana").code == "debate.report_own"
    domain.check_report(TOP, by="ben")
    assert refused(domain.clean_detail, "x" * 501, field="detail").field == "detail"


def test_a_hidden_comment_shows_its_reason_to_its_author_and_staff_a_placeholder_to_others():
    hidden = replace(TOP, state=HIDDEN, hidden_reason="insult")
    assert domain.shown_as(hidden, reader_id="ana", reader_is_staff=False) == "hidden_with_reason"
    assert domain.shown_as(hidden, reader_id="sam", reader_is_staff=True) == "hidden_with_reason"
    assert domain.shown_as(hidden, reader_id="ben", reader_is_staff=False) == "hidden"
    assert domain.shown_as(hidden, reader_id=None, reader_is_staff=False) == "hidden"
    assert domain.shown_as(TOP, reader_id=None, reader_is_staff=False) == "text"
    gone = replace(TOP, state=WITHDRAWN)
    assert domain.shown_as(gone, reader_id="ana", reader_is_staff=True) == "withdrawn"


def test_threads_put_replies_under_their_comment_in_posting_order():
    later = replace(TOP, id="c3", created_at=AT + timedelta(minutes=5))
    second_reply = replace(REPLY, id="c4", created_at=AT + timedelta(minutes=9))
    first_reply = replace(REPLY, created_at=AT + timedelta(minutes=1))
    shape = [
        (top.id, [r.id for r in replies])
        for top, replies in domain.threads([second_reply, later, first_reply, TOP])
    ]
    assert shape == [("c1", ["c2", "c4"]), ("c3", [])]


def test_only_proposals_and_campaigns_are_debated():
    assert domain.subject_kind("campaign") == "campaign"
    assert refused(domain.subject_kind, "item").status == 404
