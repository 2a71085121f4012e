"""Use cases of the debate: post, reply, edit, withdraw, report; staff hide, restore and
dismiss reports; the thread of a subject, the moderation queue, a comment's history.

Every change of a comment writes a row of `moderation_actions` (who, when, what, why) and,
when it changes what counts as a contribution, an event in the portal's outbox in the same
transaction: `debate.comment.posted`, `.hidden` (moderation, or withdrawn by the author)
and `.restored`, with the author's pseudonymous id, never a name or the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common import outbox
from libs.common.contracts.debate import CommentHidden, CommentPosted, CommentRestored
from libs.common.events import make_event
from libs.common.ids import new_id
from services.portal import throttle
from services.portal.accounts import Account
from services.portal.config import PortalSettings
from services.portal.db import accounts, comment_reports, comments, moderation_actions
from services.portal.debate import domain
from services.portal.debate.domain import HIDDEN, VISIBLE, WITHDRAWN, Comment, DebateRefused

WITHDRAWN_REASON = "withdrawn"  # reason_code of the hidden event when the author withdraws


@dataclass(frozen=True)
class Limits:
    edit_window: timedelta
    per_window: int
    window: timedelta

    @classmethod
    def of(cls, portal: PortalSettings) -> Limits:
        return cls(
            edit_window=timedelta(minutes=portal.comment_edit_minutes),
            per_window=portal.comments_per_window,
            window=timedelta(minutes=portal.comment_window_minutes),
        )


@dataclass(frozen=True)
class Subject:
    """What is commented: a proposal or a campaign, where it is read, its neighbourhood."""

    kind: str
    id: str
    page: str
    neighbourhood: str | None = None


@dataclass(frozen=True)
class Posted:
    comment: Comment
    author_name: str
    page: str


def now() -> datetime:
    return throttle.now()  # one clock for the window and the rate limit (tests move it)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite drops the zone


def _comment(row) -> Comment:
    return Comment(
        id=row.id,
        subject_kind=row.subject_kind,
        subject_id=row.subject_id,
        author_id=row.author_id,
        in_reply_to=row.in_reply_to,
        body=row.body,
        state=row.state,
        created_at=_aware(row.created_at),
        edited_at=_aware(row.edited_at),
        hidden_reason=row.hidden_reason,
        hidden_note=row.hidden_note,
    )


_WITH_AUTHOR = select(comments, accounts.c.display_name.label("author_name")).outerjoin(
    accounts, accounts.c.id == comments.c.author_id
)


def _posted(row) -> Posted:
    return Posted(comment=_comment(row), author_name=row.author_name or "–", page=row.page)


async def _load(session: AsyncSession, comment_id: str):
    row = (await session.execute(select(comments).where(comments.c.id == comment_id))).first()
    if row is None:
        raise DebateRefused(code="debate.comment_not_found", status=404)
    return row


async def _record(session, *, comment_id, actor_id, action, reason=None, note="") -> None:
    await session.execute(
        insert(moderation_actions).values(
            id=new_id(),
            comment_id=comment_id,
            actor_id=actor_id,
            action=action,
            reason=reason,
            note=note,
            at=now(),
        )
    )


def _facts(row) -> dict:
    return dict(
        comment_id=row.id,
        author_id=row.author_id,
        subject_kind=row.subject_kind,
        subject_id=row.subject_id,
        neighbourhood=row.neighbourhood,
    )


async def _emit(session, runtime, row, data, *, actor: str) -> None:
    event = make_event(
        data, aggregate_id=row.id, territory=runtime.territory(row.neighbourhood), actor=actor
    )
    await outbox.record(session, event)


async def _set_state(session, row, *, to: str, **values) -> None:
    # Guarded by the state read: a concurrent moderator or author loses cleanly.
    changed = await session.execute(
        update(comments)
        .where(comments.c.id == row.id, comments.c.state == row.state)
        .values(state=to, **values)
    )
    if not changed.rowcount:
        raise DebateRefused(code="debate.wrong_state", status=409, state=row.state)


def _require_verified(account: Account) -> None:
    if not account.verified and not account.is_staff:
        raise DebateRefused(code="debate.verification_required", status=403)


async def post(
    *,
    runtime,
    subject: Subject,
    author: Account,
    body: object,
    in_reply_to: str | None,
    limits: Limits,
) -> Comment:
    """A comment (or a reply to a top-level one) by a verified account, within its rate."""
    _require_verified(author)
    domain.subject_kind(subject.kind)
    text = domain.clean_body(body)
    async with runtime.unit_of_work() as session:
        if in_reply_to:
            parent = await _load(session, in_reply_to)
            domain.check_reply(_comment(parent), subject_kind=subject.kind, subject_id=subject.id)
        wait = await throttle.take_turn(
            session, key=f"comment:{author.id}", limit=limits.per_window, window=limits.window
        )
        if wait:
            raise DebateRefused(
                code="debate.too_many",
                status=429,
                retry_after=wait,
                count=limits.per_window,
                minutes=int(limits.window.total_seconds() // 60),
            )
        row = dict(
            id=new_id(),
            subject_kind=subject.kind,
            subject_id=subject.id,
            page=subject.page,
            neighbourhood=subject.neighbourhood,
            author_id=author.id,
            in_reply_to=in_reply_to or None,
            body=text,
            state=VISIBLE,
            created_at=now(),
        )
        await session.execute(insert(comments).values(**row))
        saved = await _load(session, row["id"])
        await _record(session, comment_id=saved.id, actor_id=author.id, action="posted")
        posted = CommentPosted(**_facts(saved), in_reply_to=row["in_reply_to"])
        await _emit(session, runtime, saved, posted, actor=author.id)
        return _comment(saved)


async def edit(
    *, runtime, comment_id: str, author: Account, body: object, limits: Limits
) -> Posted:
    """The author corrects their comment, within the edit window."""
    text = domain.clean_body(body)
    async with runtime.unit_of_work() as session:
        row = await _load(session, comment_id)
        domain.check_author_change(_comment(row), by=author.id, at=now(), window=limits.edit_window)
        await session.execute(
            update(comments).where(comments.c.id == comment_id).values(body=text, edited_at=now())
        )
        await _record(session, comment_id=comment_id, actor_id=author.id, action="edited")
        return Posted(
            comment=_comment(await _load(session, comment_id)), author_name="", page=row.page
        )


async def withdraw(*, runtime, comment_id: str, author: Account, limits: Limits) -> Posted:
    """The author takes their comment back, within the edit window (for good: staff cannot
    restore it). It stops counting as a contribution, like a hidden one."""
    async with runtime.unit_of_work() as session:
        row = await _load(session, comment_id)
        domain.check_author_change(_comment(row), by=author.id, at=now(), window=limits.edit_window)
        await _set_state(session, row, to=WITHDRAWN)
        await _record(session, comment_id=comment_id, actor_id=author.id, action="withdrawn")
        withdrawn = CommentHidden(**_facts(row), reason_code=WITHDRAWN_REASON)
        await _emit(session, runtime, row, withdrawn, actor=author.id)
        return Posted(comment=_comment(row), author_name="", page=row.page)


async def report(
    *, runtime, comment_id: str, reporter: Account, reason: object, detail: object
) -> Posted:
    """A resident tells staff a comment breaks the rules (once per resident and comment)."""
    why = domain.reason(reason)
    note = domain.clean_detail(detail, field="detail")
    async with runtime.unit_of_work() as session:
        row = await _load(session, comment_id)
        domain.check_report(_comment(row), by=reporter.id)
        already = await session.scalar(
            select(func.count())
            .select_from(comment_reports)
            .where(
                comment_reports.c.comment_id == comment_id,
                comment_reports.c.reporter_id == reporter.id,
            )
        )
        if already:
            raise DebateRefused(code="debate.already_reported", status=409)
        await session.execute(
            insert(comment_reports).values(
                id=new_id(),
                comment_id=comment_id,
                reporter_id=reporter.id,
                reason=why,
                detail=note,
                status="open",
                created_at=now(),
            )
        )
        await _record(
            session,
            comment_id=comment_id,
            actor_id=reporter.id,
            action="reported",
            reason=why,
            note=note,
        )
        return Posted(comment=_comment(row), author_name="", page=row.page)


async def _close_reports(session, comment_id: str) -> int:
    closed = await session.execute(
        update(comment_reports)
        .where(comment_reports.c.comment_id == comment_id, comment_reports.c.status == "open")
        .values(status="closed")
    )
    return closed.rowcount


async def hide(
    *, runtime, comment_id: str, moderator: Account, reason: object, note: object
) -> Posted:
    """Staff hide a comment: its author reads why, everyone else a placeholder."""
    why = domain.reason(reason)
    said = domain.clean_detail(note, field="note")
    async with runtime.unit_of_work() as session:
        row = await _load(session, comment_id)
        domain.check_hide(_comment(row))
        await _set_state(session, row, to=HIDDEN, hidden_reason=why, hidden_note=said or None)
        await _close_reports(session, comment_id)
        await _record(
            session,
            comment_id=comment_id,
            actor_id=moderator.id,
            action="hidden",
            reason=why,
            note=said,
        )
        hidden = CommentHidden(**_facts(row), reason_code=why)
        await _emit(session, runtime, row, hidden, actor=moderator.id)
        return Posted(comment=_comment(row), author_name="", page=row.page)


async def restore(*, runtime, comment_id: str, moderator: Account, note: object) -> Posted:
    """Staff put a hidden comment back (a mistake, an appeal)."""
    said = domain.clean_detail(note, field="note")
    async with runtime.unit_of_work() as session:
        row = await _load(session, comment_id)
        domain.check_restore(_comment(row))
        await _set_state(session, row, to=VISIBLE, hidden_reason=None, hidden_note=None)
        await _record(
            session, comment_id=comment_id, actor_id=moderator.id, action="restored", note=said
        )
        await _emit(session, runtime, row, CommentRestored(**_facts(row)), actor=moderator.id)
        return Posted(comment=_comment(row), author_name="", page=row.page)


async def dismiss(*, runtime, comment_id: str, moderator: Account, note: object) -> Posted:
    """Staff read the reports and keep the comment: the reports close."""
    said = domain.clean_detail(note, field="note")
    async with runtime.unit_of_work() as session:
        row = await _load(session, comment_id)
        if not await _close_reports(session, comment_id):
            raise DebateRefused(code="debate.no_open_reports", status=409)
        await _record(
            session, comment_id=comment_id, actor_id=moderator.id, action="dismissed", note=said
        )
        return Posted(comment=_comment(row), author_name="", page=row.page)


# --- reads ---------------------------------------------------------------------------------


async def thread(*, runtime, subject_kind: str, subject_id: str) -> list[tuple[Posted, list]]:
    """The subject's comments: top-level ones in order, each with its replies."""
    async with runtime.db.read() as session:
        rows = (
            await session.execute(
                _WITH_AUTHOR.where(
                    comments.c.subject_kind == subject_kind, comments.c.subject_id == subject_id
                )
            )
        ).all()
    posted = {row.id: _posted(row) for row in rows}
    return [
        (posted[top.id], [posted[r.id] for r in replies])
        for top, replies in domain.threads([p.comment for p in posted.values()])
    ]


@dataclass(frozen=True)
class Queued:
    posted: Posted
    open_reports: int
    reasons: list[str]


async def queue(*, runtime, limit: int = 100) -> tuple[list[Queued], list[Posted]]:
    """Comments with open reports (most reported first), and the latest hidden ones."""
    async with runtime.db.read() as session:
        open_rows = (
            await session.execute(
                select(comment_reports.c.comment_id, comment_reports.c.reason).where(
                    comment_reports.c.status == "open"
                )
            )
        ).all()
        reasons: dict[str, list[str]] = {}
        for comment_id, why in open_rows:
            reasons.setdefault(comment_id, []).append(why)
        reported = (
            (await session.execute(_WITH_AUTHOR.where(comments.c.id.in_(list(reasons))))).all()
            if reasons
            else []
        )
        hidden = (
            await session.execute(
                _WITH_AUTHOR.where(comments.c.state == HIDDEN)
                .order_by(comments.c.created_at.desc())
                .limit(limit)
            )
        ).all()
    queued = [
        Queued(
            posted=_posted(row),
            open_reports=len(reasons[row.id]),
            reasons=sorted(set(reasons[row.id])),
        )
        for row in reported
    ]
    queued.sort(key=lambda q: (-q.open_reports, q.posted.comment.created_at))
    return queued[:limit], [_posted(row) for row in hidden]


@dataclass(frozen=True)
class Step:
    action: str
    actor_name: str
    actor_id: str
    reason: str | None
    note: str
    at: datetime


async def history(*, runtime, comment_id: str) -> tuple[Posted, list[Step], int]:
    """A comment, every moderation step of it (oldest first), and its open reports."""
    async with runtime.db.read() as session:
        row = (await session.execute(_WITH_AUTHOR.where(comments.c.id == comment_id))).first()
        if row is None:
            raise DebateRefused(code="debate.comment_not_found", status=404)
        steps = (
            await session.execute(
                select(moderation_actions, accounts.c.display_name.label("actor_name"))
                .outerjoin(accounts, accounts.c.id == moderation_actions.c.actor_id)
                .where(moderation_actions.c.comment_id == comment_id)
                .order_by(moderation_actions.c.at, moderation_actions.c.id)
            )
        ).all()
        open_reports = await session.scalar(
            select(func.count())
            .select_from(comment_reports)
            .where(comment_reports.c.comment_id == comment_id, comment_reports.c.status == "open")
        )
    return (
        _posted(row),
        [
            Step(
                action=s.action,
                actor_name=s.actor_name or "–",
                actor_id=s.actor_id,
                reason=s.reason,
                note=s.note or "",
                at=_aware(s.at),
            )
            for s in steps
        ],
        open_reports or 0,
    )
