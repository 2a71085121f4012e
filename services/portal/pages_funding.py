"""Crowdfunding pages: browse and back campaigns, propose one, follow it to its outcome."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from libs.common.money import parse_amount_cents
from libs.common.taxonomy import CAMPAIGN_CATEGORIES, PUBLIC_CAMPAIGN_STATES
from services.portal import pages_energy
from services.portal.backends import BackendDown, BackendProblem
from services.portal.debate import pages as debate_pages
from services.portal.i18n import format_cents, format_percent, known, translate
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
    whole_number,
)

router = APIRouter(include_in_schema=False)
CATEGORIES = CAMPAIGN_CATEGORIES
# The providers' test cards (a real deployment embeds its PSP's card form here).
TEST_CARDS = {
    "sandbox": ("tok_instant", "tok_visa", "tok_requires_action", "tok_decline_now"),
    "stripe": ("pm_card_visa", "pm_card_authenticationRequired", "pm_card_chargeDeclined"),
}
# Statuses in which the backer may still cancel (until 24 h before the deadline).
CANCELLABLE = ("pending", "awaiting_action", "active")
# How the crowdfunding service marks a campaign recorded from before the platform opened.
HISTORY_NOTE = "Recorded from history by "


def bank_reason(failure: str | None, lang: str) -> str | None:
    """The bank's refusal in the reader's words when the catalogue knows it; the payment
    provider's own (English) sentence is not shown: the status already says "declined"."""
    if failure and known(f"bankreason.{failure}"):
        return translate(lang, f"bankreason.{failure}")
    return None


# What Stripe.js needs on the card page, as Stripe documents it for its CSP: its script,
# its frames (the Payment Element, 3-D Secure) and its API. Only that page gets them: every
# other page keeps the strict policy, so no third-party script runs where it is not needed.
STRIPE_JS = "https://js.stripe.com/v3/"
STRIPE_SOURCES = {
    "script-src": ("https://js.stripe.com",),
    "frame-src": ("https://js.stripe.com", "https://hooks.stripe.com"),
    "connect-src": ("https://api.stripe.com",),
}


def test_cards(request: Request) -> tuple[str, ...]:
    provider = request.app.state.portal_settings.payment_provider
    return TEST_CARDS.get(provider, TEST_CARDS["sandbox"])


def card_in_browser(request: Request) -> bool:
    return request.app.state.portal_settings.card_form_in_browser


def widened_policy(policy: str, sources: dict[str, tuple[str, ...]]) -> str:
    """`policy` with `sources` added to their directives. A directive the policy lacks
    starts from `default-src` (what it fell back to), so 'self' keeps working there."""
    directives: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in policy.split(";"))):
        name, _, value = part.partition(" ")
        directives[name] = value.strip()
    for name, extra in sources.items():
        current = directives.get(name, directives.get("default-src", "")).split()
        directives[name] = " ".join([*current, *(s for s in extra if s not in current)])
    return "; ".join(f"{name} {value}".strip() for name, value in directives.items())


@router.get("/campaigns")
async def campaigns_page(request: Request, me: Viewer, services: Services):
    # Signed in, the service also lists the caller's own drafts.
    rows = await services.get("crowdfunding", "/campaigns", caller=caller(me) if me else None)
    mine = [
        c
        for c in rows
        if me and c["holder_id"] == me.id and c["state"] not in PUBLIC_CAMPAIGN_STATES
    ]
    live = [c for c in rows if c["state"] == "live"]
    ended = [c for c in rows if c["state"] in ("succeeded", "paid_out", "failed")]
    return render(
        request,
        "funding/campaigns.html",
        live=live,
        ended=ended[::-1],
        mine=mine,
        soup_evenings=await soup_evenings_of(services, rows),
    )


async def soup_evenings_of(services, rows: list[dict]) -> dict[str, str]:
    """Campaign id -> its Soup evening's id, for the evenings' pots among `rows`."""
    if not any(c.get("kind") == "soup" for c in rows):
        return {}
    try:
        evenings = await services.get("crowdfunding", "/soup-evenings")
    except (BackendProblem, BackendDown):  # the pots are still listed, without their link
        return {}
    return {e["campaign_id"]: e["id"] for e in evenings}


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
            "goal_cents": parse_amount_cents(form.get("goal") or ""),
            "duration_days": whole_number(form.get("duration_days")),
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
    if (campaign.get("description") or "").startswith(HISTORY_NOTE):
        # The service's own audit note (with a staff id): residents read a translated one.
        campaign["description"], campaign["historical"] = "", True
    if campaign["state"] not in PUBLIC_CAMPAIGN_STATES and not (
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
    # Before launch the commission is the platform's current one; at launch it is frozen.
    commission = {"rate": campaign.get("commission_rate"), "base": campaign.get("commission_base")}
    if not commission["rate"]:
        commission = await services.get("crowdfunding", "/platform/commission-rate")
    elif not commission["base"]:  # launched before the base was a setting
        commission["base"] = "raised_plus_match"
    energy = await pages_energy.energy_of(request, services, campaign, me)
    return render(
        request,
        "funding/campaign.html",
        campaign=campaign,
        is_holder=is_holder,
        reviews=reviews,
        pool=pool,
        cards=test_cards(request),
        card_in_browser=card_in_browser(request),
        commission=commission,
        commission_pct=_percent(commission["rate"], language(request)),
        energy=energy,
        soup_evenings=await soup_evenings_of(services, [campaign]),
        debate=await debate_pages.on_campaign(request, me, campaign),
    )


def _percent(rate: str | None, lang: str) -> str:
    """ "0.05" → "5 %", "0.075" → "7,5 %" (a rate as a percentage, never through a float)."""
    if not rate:
        return "–"
    return format_percent(Decimal(rate), lang, decimals=2, ratio=True)


@router.post("/campaigns/{campaign_id}/pledge")
async def pledge(request: Request, campaign_id: str, me: Member, form: Form, services: Services):
    lang = language(request)
    try:
        amount_cents = parse_amount_cents(form.get("amount") or "")
    except ValueError as exc:
        flash(request, problem_text(request, exc), "error")
        return redirect(f"/campaigns/{campaign_id}")
    in_browser = card_in_browser(request)
    try:
        body = {
            "amount_cents": amount_cents,
            # With Stripe's card form the card is typed on the next page, into Stripe's
            # frame: no token is sent, the service answers with the SetupIntent's secret.
            "card_token": None if in_browser else form.get("card_token") or "",
            "reward_id": form.get("reward_id") or None,
        }
        row = await services.post(
            "crowdfunding", f"/campaigns/{campaign_id}/pledges", caller=caller(me), json=body
        )
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, f"/campaigns/{campaign_id}", exc)
    status = row["status"]
    if status == "awaiting_action" and in_browser and not row.get("next_action_url"):
        return redirect(f"/my-pledges/{row['id']}/card")
    message = translate(lang, f"pledge.status.{status}", amount=format_cents(amount_cents, lang))
    reason = bank_reason(row.get("failure"), lang)
    if status == "declined" and reason:
        message += " " + translate(lang, "pledge.declined_reason", reason=reason)
    kind = {"active": "success", "declined": "error"}.get(status, "warning")
    flash(request, message, kind)
    if status == "awaiting_action" and row.get("next_action_url"):
        # The bank's own page (3-D Secure); it sends the backer back to "my pledges".
        return RedirectResponse(row["next_action_url"], status_code=303)
    return redirect("/my-pledges" if status != "active" else f"/campaigns/{campaign_id}")


@router.get("/my-pledges")
async def my_pledges_page(request: Request, me: Member, services: Services):
    back_from_stripe = request.query_params.get("redirect_status")
    if back_from_stripe:
        # Back from Stripe's card form (the webhook decides the pledge in a moment). Stripe
        # appends the SetupIntent's secret to the address: a clean one keeps it out of the
        # history and of the access logs of what follows.
        key = "cardpage.saved" if back_from_stripe == "succeeded" else "cardpage.refused"
        flash(
            request,
            translate(language(request), key),
            "success" if key.endswith("saved") else "error",
        )
        return redirect("/my-pledges")
    rows = await services.get("crowdfunding", "/me/pledges", caller=caller(me))
    for row in rows:
        row["failure"] = bank_reason(row.get("failure"), language(request))
    return render(
        request,
        "funding/my_pledges.html",
        pledges=rows,
        cancellable=CANCELLABLE,
        card_in_browser=card_in_browser(request),
    )


@router.get("/my-pledges/{pledge_id}/card")
async def card_page(request: Request, pledge_id: str, me: Member, services: Services):
    """Stripe's Payment Element, mounted by static/stripe-card.js, saves the card for the
    pledge (SetupIntent); the verified webhook then makes the pledge authorised."""
    row = await services.get("crowdfunding", f"/pledges/{pledge_id}", caller=caller(me))
    if (
        not card_in_browser(request)
        or row["backer_id"] != me.id
        or row["status"] != "awaiting_action"
        or not row.get("client_secret")
        or row.get("next_action_url")  # a bank's page to visit, not a card to type
    ):
        flash(request, translate(language(request), "cardpage.not_waiting"), "info")
        return redirect("/my-pledges")
    campaign = await services.get(
        "crowdfunding", f"/campaigns/{row['campaign_id']}", caller=caller(me)
    )
    portal = request.app.state.portal_settings
    response = render(
        request,
        "funding/card.html",
        pledge=row,
        campaign=campaign,
        stripe_js=STRIPE_JS,
        publishable_key=portal.stripe_publishable_key,
        return_url=portal.stripe_return_url,
    )
    response.headers["Content-Security-Policy"] = widened_policy(
        request.app.state.content_security_policy, STRIPE_SOURCES
    )
    # The client secret is in the page: no shared cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/my-pledges/{pledge_id}/{action}")
async def my_pledge_action(
    request: Request, pledge_id: str, action: str, me: Member, form: Form, services: Services
):
    paths = {"cancel": "cancel", "received": "reward-received"}
    if action not in paths:
        unknown = ValueError(translate(language(request), "problem.generic"))
        return back_with_problem(request, "/my-pledges", unknown)
    try:
        await services.post(
            "crowdfunding", f"/pledges/{pledge_id}/{paths[action]}", caller=caller(me)
        )
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, "/my-pledges", exc)
    key = "mypledges.cancelled" if action == "cancel" else "mypledges.received"
    flash(request, translate(language(request), key), "success")
    return redirect("/my-pledges")


# --- the holder: rewards and their delivery ------------------------------------------------


def _reward_body(form: dict, *, with_terms: bool) -> dict:
    body = {"title": form.get("title", ""), "description": form.get("description", "")}
    if with_terms:
        body["min_cents"] = parse_amount_cents(form.get("min") or "")
        body["stock"] = whole_number(form.get("stock"), default=None)
    return body


@router.post("/campaigns/{campaign_id}/rewards")
async def add_reward(
    request: Request, campaign_id: str, me: Member, form: Form, services: Services
):
    try:
        body = _reward_body(form, with_terms=True)
        await services.post(
            "crowdfunding", f"/campaigns/{campaign_id}/rewards", caller=caller(me), json=body
        )
    except (ValueError, BackendProblem, BackendDown) as exc:
        return back_with_problem(request, f"/campaigns/{campaign_id}", exc)
    flash(request, translate(language(request), "rewards.saved"), "success")
    return redirect(f"/campaigns/{campaign_id}")


@router.post("/campaigns/{campaign_id}/rewards/{reward_id}")
async def edit_reward(
    request: Request,
    campaign_id: str,
    reward_id: str,
    me: Member,
    form: Form,
    services: Services,
):
    try:
        body = _reward_body(form, with_terms="min" in form)
        await services.request(
            "crowdfunding",
            "PATCH",
            f"/campaigns/{campaign_id}/rewards/{reward_id}",
            caller=caller(me),
            json=body,
        )
    except (ValueError, BackendProblem, BackendDown) as exc:
        return back_with_problem(request, f"/campaigns/{campaign_id}", exc)
    flash(request, translate(language(request), "rewards.saved"), "success")
    return redirect(f"/campaigns/{campaign_id}")


@router.get("/campaigns/{campaign_id}/backers")
async def backers_page(request: Request, campaign_id: str, me: Member, services: Services):
    campaign = await services.get("crowdfunding", f"/campaigns/{campaign_id}", caller=caller(me))
    rows = await services.get(
        "crowdfunding", f"/campaigns/{campaign_id}/pledges", caller=caller(me)
    )
    rewards = {r["id"]: r for r in campaign.get("rewards", [])}
    return render(request, "funding/backers.html", campaign=campaign, pledges=rows, rewards=rewards)


@router.post("/campaigns/{campaign_id}/backers/{pledge_id}/delivered")
async def mark_delivered(
    request: Request,
    campaign_id: str,
    pledge_id: str,
    me: Member,
    form: Form,
    services: Services,
):
    back = f"/campaigns/{campaign_id}/backers"
    try:
        await services.post(
            "crowdfunding", f"/pledges/{pledge_id}/reward-delivered", caller=caller(me)
        )
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, back, exc)
    flash(request, translate(language(request), "backers.delivered"), "success")
    return redirect(back)


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
