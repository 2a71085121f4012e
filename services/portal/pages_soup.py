"""The Soup evening: staff open it, diners pay their entry and vote, the pot goes to the
winner. The portal only calls the two services: the pot is a crowdfunding campaign, the
vote a budget edition; budget's results reach crowdfunding as an event, not through here.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from libs.common.money import parse_amount_cents
from services.portal.backends import BackendDown, BackendProblem
from services.portal.i18n import format_cents, translate
from services.portal.pages_funding import card_in_browser, test_cards
from services.portal.territory import directory
from services.portal.web import (
    Form,
    Member,
    Services,
    Staff,
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


async def _staff_page(request: Request, me, services, *, status: int = 200, **context):
    evenings = await services.get("crowdfunding", "/soup-evenings", caller=caller(me))
    return render(
        request,
        "staff/soup.html",
        status=status,
        evenings=evenings[::-1],
        neighbourhoods=directory().neighbourhoods,
        **{"values": {}, **context},
    )


@router.get("/staff/soup")
async def soup_staff_page(request: Request, me: Staff, services: Services):
    return await _staff_page(request, me, services)


@router.post("/staff/soup")
async def open_soup(request: Request, me: Staff, form: Form, services: Services):
    """Open the vote (budget) then the pot (crowdfunding); the keyholder's share, needed
    to count, is shown once, on the answer page."""
    projects = [line.strip() for line in str(form.get("projects") or "").splitlines()]
    try:
        fee = parse_amount_cents(form.get("entry_fee") or "")
        vote = await services.post(
            "budget",
            "/soup-votes",
            caller=caller(me),
            json={"name": form.get("title", ""), "projects": [{"title": p} for p in projects if p]},
        )
        evening = await services.post(
            "crowdfunding",
            "/soup-evenings",
            caller=caller(me),
            json={
                "edition_id": vote["edition_id"],
                "title": form.get("title", ""),
                "neighbourhood": form.get("neighbourhood", ""),
                "entry_fee_cents": fee,
                "hours": whole_number(form.get("hours"), default=6),
            },
        )
    except (ValueError, BackendProblem, BackendDown) as exc:
        flash(request, problem_text(request, exc), "error")
        return await _staff_page(request, me, services, status=422, values=form)
    page = await _staff_page(request, me, services, opened=evening, shares=vote["keyholder_shares"])
    page.headers["Cache-Control"] = "no-store"  # the key share is in the page
    return page


async def _evening(services, evening_id: str, me) -> tuple[dict, dict, list[dict]]:
    who = caller(me) if me else None
    evening = await services.get("crowdfunding", f"/soup-evenings/{evening_id}", caller=who)
    edition = await services.get("budget", f"/editions/{evening['edition_id']}", caller=who)
    projects = await services.get(
        "budget", f"/editions/{evening['edition_id']}/proposals", caller=who
    )
    return evening, edition, projects


@router.get("/soup/{evening_id}")
async def soup_page(request: Request, evening_id: str, me: Viewer, services: Services):
    evening, edition, projects = await _evening(services, evening_id, me)
    return render(
        request,
        "funding/soup.html",
        evening=evening,
        edition=edition,
        projects=projects,
        neighbourhoods=directory().neighbourhoods,
        cards=test_cards(request),
        card_in_browser=card_in_browser(request),
    )


@router.post("/soup/{evening_id}/fee")
async def pay_fee(request: Request, evening_id: str, me: Member, form: Form, services: Services):
    back = f"/soup/{evening_id}"
    try:
        evening = await services.get("crowdfunding", f"/soup-evenings/{evening_id}")
        row = await services.post(
            "crowdfunding",
            f"/campaigns/{evening['campaign_id']}/pledges",
            caller=caller(me),
            json={
                "amount_cents": evening["entry_fee_cents"],
                "card_token": None if card_in_browser(request) else form.get("card_token") or "",
            },
        )
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, back, exc)
    if row["status"] == "awaiting_action" and not row.get("next_action_url"):
        return redirect(f"/my-pledges/{row['id']}/card")
    lang = language(request)
    amount = format_cents(evening["entry_fee_cents"], lang)
    if row["status"] == "active":
        flash(request, translate(lang, "soup.fee_paid", amount=amount), "success")
    else:
        flash(request, translate(lang, f"pledge.status.{row['status']}", amount=amount), "warning")
    return redirect(back)


@router.post("/soup/{evening_id}/vote")
async def vote(request: Request, evening_id: str, me: Member, form: Form, services: Services):
    back = f"/soup/{evening_id}"
    try:
        evening, edition, _ = await _evening(services, evening_id, me)
        await services.post(
            "budget",
            f"/editions/{evening['edition_id']}/ballots",
            caller=caller(me),
            json={
                "envelope_id": edition["envelopes"][0]["id"],
                "projects": [form.get("project", "")],
            },
        )
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, back, exc)
    flash(request, translate(language(request), "soup.voted"), "success")
    return redirect(back)


@router.post("/soup/{evening_id}/desk")
async def desk(request: Request, evening_id: str, me: Staff, form: Form, services: Services):
    """A diner at the door: their entry fee in cash (if paid here) and their paper vote."""
    back = f"/soup/{evening_id}"
    ticket = str(form.get("ticket") or "").strip()
    try:
        evening, edition, _ = await _evening(services, evening_id, me)
        if form.get("paid"):
            await services.post(
                "crowdfunding",
                f"/campaigns/{evening['campaign_id']}/desk-pledges",
                caller=caller(me),
                json={
                    "backer_id": f"soup-{ticket}",
                    "amount_cents": evening["entry_fee_cents"],
                    "method": "cash",
                },
            )
        if form.get("project"):
            voter = await services.post(
                "budget",
                f"/editions/{evening['edition_id']}/desk/voters",
                caller=caller(me),
                json={"identity": f"soup-{ticket}", "neighbourhood": form.get("neighbourhood")},
            )
            await services.post(
                "budget",
                f"/editions/{evening['edition_id']}/desk/ballots",
                caller=caller(me),
                json={
                    "voter_id": voter["voter_id"],
                    "envelope_id": edition["envelopes"][0]["id"],
                    "projects": [form["project"]],
                },
            )
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, back, exc)
    flash(request, translate(language(request), "soup.desk_done", ticket=ticket), "success")
    return redirect(back)


@router.post("/soup/{evening_id}/close")
async def close(request: Request, evening_id: str, me: Staff, form: Form, services: Services):
    """Close the vote and count it with the keyholder's share; crowdfunding hears the
    result and pays the pot to the winner."""
    back = f"/soup/{evening_id}"
    try:
        evening = await services.get("crowdfunding", f"/soup-evenings/{evening_id}")
        eid = evening["edition_id"]
        edition = await services.get("budget", f"/editions/{eid}")
        if edition["phase"] == "voting":
            await services.post(
                "budget", f"/editions/{eid}/phase", caller=caller(me), json={"phase": "results"}
            )
        await services.post(
            "budget",
            f"/editions/{eid}/results",
            caller=caller(me),
            json={"shares": [str(form.get("share") or "").strip()]},
        )
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, back, exc)
    flash(request, translate(language(request), "soup.counted"), "success")
    return redirect(back)
