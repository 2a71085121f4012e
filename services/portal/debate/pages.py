"""Debate pages: the comment block of a proposal or a campaign and its forms, the staff
moderation queue and a comment's history, and one JSON route (a subject's thread).

Thin: read the form, call `comments`, word a refusal from its code. A refusal answers its
own status (422, 409, 403, 404, 429 with Retry-After): the page says why, with a link
back; a script asking for JSON gets problem+json."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from libs.common.problems import Problem
from libs.common.taxonomy import PUBLIC_CAMPAIGN_STATES
from libs.common.web import problem_response
from services.portal.accounts import Account
from services.portal.backends import Backends
from services.portal.debate import comments, domain
from services.portal.debate.comments import Limits, Posted, Subject
from services.portal.debate.domain import REASONS, VISIBLE, DebateRefused
from services.portal.debate.schemas import CommentOut, ThreadOut
from services.portal.i18n import problem_message, translate
from services.portal.web import (
    Form,
    Member,
    Services,
    Staff,
    caller,
    flash,
    language,
    redirect,
    render,
    runtime,
    wants_problem,
)

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/debate", tags=["debate"])


def limits(request: Request) -> Limits:
    return Limits.of(request.app.state.portal_settings)


def refused(request: Request, exc: DebateRefused, *, back: str | None) -> Response:
    """The refusal in the reader's words, with its own status (and Retry-After)."""
    headers = {"Retry-After": str(exc.params["retry_after"])} if exc.status == 429 else {}
    if wants_problem(request):
        detail = problem_message("en", code=exc.code, params=exc.params, status=exc.status)
        problem = Problem(detail, field=exc.field, code=exc.code, params=exc.params)
        problem.status = exc.status
        response = problem_response(problem, request)
        response.headers.update(headers)
        return response
    message = problem_message(
        language(request), code=exc.code, params=exc.params, status=exc.status
    )
    page = render(request, "debate/refused.html", status=exc.status, message=message, back=back)
    page.headers.update(headers)
    return page


def done(request: Request, key: str, url: str) -> Response:
    flash(request, translate(language(request), key), "success")
    return redirect(url)


def _view(posted: Posted, me: Account | None, window, at) -> dict[str, Any]:
    c = posted.comment
    reader = me.id if me else None
    return {
        "id": c.id,
        "author": posted.author_name,
        "body": c.body,
        "created_at": c.created_at,
        "edited": c.edited_at is not None,
        "shown": domain.shown_as(c, reader_id=reader, reader_is_staff=bool(me and me.is_staff)),
        "reason": c.hidden_reason,
        "note": c.hidden_note,
        "mine": reader == c.author_id,
        "may_change": domain.may_change(c, reader_id=reader, at=at, window=window),
        "may_report": me is not None and reader != c.author_id and c.state == VISIBLE,
        "may_reply": c.in_reply_to is None and c.state == VISIBLE,
        "until": c.editable_until(window),
    }


async def block(
    request: Request, me: Account | None, *, kind: str, subject_id: str, post_url: str
) -> dict[str, Any]:
    """The context of the comment block a proposal or campaign page includes."""
    rules = limits(request)
    at = comments.now()
    rows = await comments.thread(runtime=runtime(request), subject_kind=kind, subject_id=subject_id)
    return {
        "post_url": post_url,
        "threads": [
            (
                _view(top, me, rules.edit_window, at),
                [_view(r, me, rules.edit_window, at) for r in replies],
            )
            for top, replies in rows
        ],
        "count": sum(1 + len(replies) for _, replies in rows),
        "edit_minutes": int(rules.edit_window.total_seconds() // 60),
        "reasons": REASONS,
        "may_post": me is not None and (me.verified or me.is_staff),
        "closed": False,  # a subject not open to debate (a campaign's draft)
    }


async def on_proposal(request: Request, me: Account | None, edition_id: str, proposal_id: str):
    """The comment block of a proposal's page."""
    url = f"/budget/{edition_id}/proposals/{proposal_id}/comments"
    return await block(request, me, kind="proposal", subject_id=proposal_id, post_url=url)


async def on_campaign(request: Request, me: Account | None, campaign: dict):
    """The comment block of a campaign's page (read-only before the campaign is public)."""
    url = f"/campaigns/{campaign['id']}/comments"
    shown = await block(request, me, kind="campaign", subject_id=campaign["id"], post_url=url)
    shown["closed"] = campaign.get("state") not in PUBLIC_CAMPAIGN_STATES
    shown["may_post"] = shown["may_post"] and not shown["closed"]
    return shown


async def _post(request: Request, me: Account, form: dict, subject: Subject) -> Response:
    try:
        comment = await comments.post(
            runtime=runtime(request),
            subject=subject,
            author=me,
            body=form.get("body"),
            in_reply_to=str(form.get("in_reply_to") or "") or None,
            limits=limits(request),
        )
    except DebateRefused as exc:
        return refused(request, exc, back=subject.page)
    return done(request, "debate.posted", f"{subject.page}#c-{comment.id}")


@router.post("/budget/{edition_id}/proposals/{proposal_id}/comments")
async def comment_proposal(
    request: Request, edition_id: str, proposal_id: str, me: Member, form: Form, services: Services
):
    proposal = await services.get("budget", f"/editions/{edition_id}/proposals/{proposal_id}")
    page = f"/budget/{edition_id}/proposals/{proposal_id}"
    subject = Subject("proposal", proposal_id, page, proposal.get("neighbourhood"))
    return await _post(request, me, form, subject)


@router.post("/campaigns/{campaign_id}/comments")
async def comment_campaign(
    request: Request, campaign_id: str, me: Member, form: Form, services: Services
):
    campaign = await _campaign(services, me, campaign_id)
    if campaign is None:
        exc = DebateRefused(code="debate.subject_not_open", status=404)
        return refused(request, exc, back="/campaigns")
    page = f"/campaigns/{campaign_id}"
    subject = Subject("campaign", campaign_id, page, campaign.get("neighbourhood"))
    return await _post(request, me, form, subject)


async def _campaign(services: Backends, me: Account, campaign_id: str) -> dict | None:
    """The campaign when anyone may read it (drafts are debated with reviewers, not here)."""
    campaign = await services.get("crowdfunding", f"/campaigns/{campaign_id}", caller=caller(me))
    return campaign if campaign.get("state") in PUBLIC_CAMPAIGN_STATES else None


@router.post("/comments/{comment_id}/edit")
async def edit_comment(request: Request, comment_id: str, me: Member, form: Form):
    try:
        changed = await comments.edit(
            runtime=runtime(request),
            comment_id=comment_id,
            author=me,
            body=form.get("body"),
            limits=limits(request),
        )
    except DebateRefused as exc:
        return refused(request, exc, back=None)
    return done(request, "debate.edited", f"{changed.page}#c-{comment_id}")


@router.post("/comments/{comment_id}/withdraw")
async def withdraw_comment(request: Request, comment_id: str, me: Member, form: Form):
    try:
        gone = await comments.withdraw(
            runtime=runtime(request), comment_id=comment_id, author=me, limits=limits(request)
        )
    except DebateRefused as exc:
        return refused(request, exc, back=None)
    return done(request, "debate.withdrawn", f"{gone.page}#c-{comment_id}")


@router.post("/comments/{comment_id}/report")
async def report_comment(request: Request, comment_id: str, me: Member, form: Form):
    try:
        reported = await comments.report(
            runtime=runtime(request),
            comment_id=comment_id,
            reporter=me,
            reason=form.get("reason"),
            detail=form.get("detail"),
        )
    except DebateRefused as exc:
        return refused(request, exc, back=None)
    return done(request, "debate.reported", f"{reported.page}#c-{comment_id}")


# --- staff -----------------------------------------------------------------------------------


@router.get("/staff/moderation")
async def moderation_queue(request: Request, me: Staff):
    reported, hidden = await comments.queue(runtime=runtime(request))
    return render(request, "debate/moderation.html", reported=reported, hidden=hidden)


@router.get("/staff/moderation/comments/{comment_id}")
async def comment_history(request: Request, comment_id: str, me: Staff):
    try:
        posted, steps, open_reports = await comments.history(
            runtime=runtime(request), comment_id=comment_id
        )
    except DebateRefused as exc:
        return refused(request, exc, back="/staff/moderation")
    return render(
        request,
        "debate/history.html",
        posted=posted,
        c=posted.comment,
        steps=steps,
        open_reports=open_reports,
        reasons=REASONS,
    )


async def _moderate(request: Request, comment_id: str, action, message: str, **fields):
    try:
        await action(runtime=runtime(request), comment_id=comment_id, **fields)
    except DebateRefused as exc:
        return refused(request, exc, back=f"/staff/moderation/comments/{comment_id}")
    return done(request, message, f"/staff/moderation/comments/{comment_id}")


@router.post("/staff/moderation/comments/{comment_id}/hide")
async def hide_comment(request: Request, comment_id: str, me: Staff, form: Form):
    return await _moderate(
        request,
        comment_id,
        comments.hide,
        "debate.hidden_done",
        moderator=me,
        reason=form.get("reason"),
        note=form.get("note"),
    )


@router.post("/staff/moderation/comments/{comment_id}/restore")
async def restore_comment(request: Request, comment_id: str, me: Staff, form: Form):
    return await _moderate(
        request,
        comment_id,
        comments.restore,
        "debate.restored_done",
        moderator=me,
        note=form.get("note"),
    )


@router.post("/staff/moderation/comments/{comment_id}/dismiss")
async def dismiss_reports(request: Request, comment_id: str, me: Staff, form: Form):
    return await _moderate(
        request,
        comment_id,
        comments.dismiss,
        "debate.dismissed_done",
        moderator=me,
        note=form.get("note"),
    )


# --- JSON ------------------------------------------------------------------------------------


@api.get("/{subject_kind}/{subject_id}/comments", response_model=ThreadOut)
async def thread_json(
    request: Request,
    subject_kind: Annotated[str, Path(pattern="^(proposal|campaign)$")],
    subject_id: Annotated[str, Path(max_length=100)],
) -> ThreadOut:
    """A subject's thread as a visitor reads it: hidden comments carry no text."""
    rows = await comments.thread(
        runtime=runtime(request), subject_kind=subject_kind, subject_id=subject_id
    )

    def out(p: Posted) -> CommentOut:
        shown = domain.shown_as(p.comment, reader_id=None, reader_is_staff=False)
        return CommentOut(
            id=p.comment.id,
            author_name=p.author_name,
            in_reply_to=p.comment.in_reply_to,
            shown=shown,
            body=p.comment.body if shown == "text" else None,
            created_at=p.comment.created_at,
            edited=p.comment.edited_at is not None,
        )

    flat = [out(p) for top, replies in rows for p in (top, *replies)]
    return ThreadOut(subject_kind=subject_kind, subject_id=subject_id, comments=flat)
