"""Crowdfunding pages: browse and back campaigns, propose one, follow it to its outcome."""

from __future__ import annotations

from fastapi import APIRouter, Request

from libs.common.money import parse_euros
from services.portal.backends import BackendDown, BackendProblem
from services.portal.i18n import translate
from services.portal.web import (
    Form,
    Member,
    Services,
    Viewer,
    back_with_problem,
    caller,
    flash,
    language,
    problem_text,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)
CATEGORIES = (
    "culture", "environment", "solidarity", "sport", "local-business", "education",
    "public-space", "participatory-budget",
)  # fmt: skip
PUBLIC_STATES = ("live", "settling", "succeeded", "paid_out", "failed")
# The sandbox provider's test cards (a real deployment embeds its PSP's card form here).
SANDBOX_CARDS = ("tok_instant", "tok_visa", "tok_decline")


@router.get("/campaigns")
async def campaigns_page(request: Request, me: Viewer, services: Services):
    # Signed in, the service also lists the caller's own drafts.
    rows = await services.get("crowdfunding", "/campaigns", caller=caller(me) if me else None)
    mine = [c for c in rows if me and c["holder_id"] == me.id and c["state"] not in PUBLIC_STATES]
    live = [c for c in rows if c["state"] == "live"]
    ended = [c for c in rows if c["state"] in ("succeeded", "paid_out", "failed")]
    return render(request, "funding/campaigns.html", live=live, ended=ended[::-1], mine=mine)


@router.get("/campaigns/new")
async def new_campaign_page(request: Request, me: Member):
    return render(request, "funding/campaign_new.html", values={}, categories=CATEGORIES)


@router.post("/campaigns/new")
async def new_campaign(request: Request, me: Member, form: Form, services: Services):
    try:
        body = {
            "title": form.get("title", ""),
            "description": form.get("description", ""),
            "category": form.get("category", ""),
            "goal_cents": parse_euros(form.get("goal") or "0"),
            "duration_days": int(form.get("duration_days") or 0),
        }
        row = await services.post("crowdfunding", "/campaigns", caller=caller(me), json=body)
    except (ValueError, BackendProblem, BackendDown) as exc:
        flash(request, problem_text(request, exc), "error")
        return render(
            request, "funding/campaign_new.html", status=422, values=form, categories=CATEGORIES
        )
    flash(request, translate(language(request), "campaigns.drafted"), "success")
    return redirect(f"/campaigns/{row['id']}")


@router.get("/campaigns/{campaign_id}")
async def campaign_page(request: Request, campaign_id: str, me: Viewer, services: Services):
    campaign = await services.get(
        "crowdfunding", f"/campaigns/{campaign_id}", caller=caller(me) if me else None
    )
    is_holder = me is not None and me.id == campaign["holder_id"]
    if campaign["state"] not in PUBLIC_STATES and not (
        is_holder or (me is not None and me.is_reviewer)
    ):
        return render(request, "error.html", status=404, message_key="campaigns.not_public")
    reviews = []
    if me is not None and (is_holder or me.is_reviewer):
        try:
            reviews = await services.get(
                "crowdfunding", f"/campaigns/{campaign_id}/reviews", caller=caller(me)
            )
        except BackendProblem:
            reviews = []
    pool = None
    if campaign.get("match_pool_id"):
        try:
            pool = await services.get("crowdfunding", f"/match-pools/{campaign['match_pool_id']}")
        except (BackendProblem, BackendDown):
            pool = None
    return render(
        request,
        "funding/campaign.html",
        campaign=campaign,
        is_holder=is_holder,
        reviews=reviews,
        pool=pool,
        cards=SANDBOX_CARDS,
    )


@router.post("/campaigns/{campaign_id}/pledge")
async def pledge(request: Request, campaign_id: str, me: Member, form: Form, services: Services):
    try:
        body = {
            "amount_cents": parse_euros(form.get("amount") or "0"),
            "card_token": form.get("card_token") or "",
            "reward_id": form.get("reward_id") or None,
        }
        row = await services.post(
            "crowdfunding", f"/campaigns/{campaign_id}/pledges", caller=caller(me), json=body
        )
    except (ValueError, BackendProblem, BackendDown) as exc:
        return back_with_problem(request, f"/campaigns/{campaign_id}", exc)
    lang = language(request)
    flash(
        request,
        translate(lang, f"pledge.status.{row['status']}", amount=form.get("amount")),
        "success" if row["status"] in ("active", "pending") else "error",
    )
    return redirect(f"/campaigns/{campaign_id}")


@router.post("/campaigns/{campaign_id}/{step}")
async def campaign_step(
    request: Request, campaign_id: str, step: str, me: Member, form: Form, services: Services
):
    if step not in ("submit", "launch"):
        return back_with_problem(request, f"/campaigns/{campaign_id}", ValueError(step))
    try:
        await services.post("crowdfunding", f"/campaigns/{campaign_id}/{step}", caller=caller(me))
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, f"/campaigns/{campaign_id}", exc)
    flash(request, translate(language(request), f"campaigns.done.{step}"), "success")
    return redirect(f"/campaigns/{campaign_id}")
