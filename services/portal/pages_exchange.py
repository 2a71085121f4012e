"""Resident pages of the exchange: items, loans, services, time credits, problem reports."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from fastapi import APIRouter, Request

from libs.common.clock import clock
from libs.common.ids import new_id
from libs.common.money import parse_euros
from libs.common.taxonomy import ITEM_CATEGORIES, SERVICE_KINDS
from services.portal import accounts
from services.portal.backends import BackendDown, BackendProblem
from services.portal.i18n import translate
from services.portal.web import (
    Form,
    Member,
    Services,
    Viewer,
    back_with_problem,
    caller,
    decimal_number,
    flash,
    language,
    redirect,
    render,
    runtime,
    whole_number,
)

router = APIRouter(include_in_schema=False)

CATEGORIES = ITEM_CATEGORIES
CONDITIONS = ("new", "good", "fair", "worn", "damaged")
REPORT_KINDS = ("damage", "not_returned", "no_show", "behaviour", "fraud", "other")


def today() -> date:
    return clock.today()


# --- items -----------------------------------------------------------------------------


@router.get("/items")
async def items_page(
    request: Request,
    me: Viewer,
    services: Services,
    q: str = "",
    category: str = "",
    scope: str = "near",
    fragment: int = 0,
):
    near = scope == "near" and me is not None and me.neighbourhood
    params = {
        "q": q.strip()[:100],
        "category": category if category in CATEGORIES else None,
        "neighbourhood": me.neighbourhood if near else None,
        "limit": 60,
    }
    found = await services.get("exchange", "/items", params=params)
    template = "exchange/items_list.html" if fragment else "exchange/items.html"
    return render(
        request,
        template,
        items=found,
        q=q,
        category=category,
        scope="near" if near else "all",
        categories=CATEGORIES,
    )


@router.get("/items/new")
async def new_item_page(request: Request, me: Member):
    return render(
        request, "exchange/item_new.html", values={}, categories=CATEGORIES, conditions=CONDITIONS
    )


@router.post("/items/new")
async def new_item(request: Request, me: Member, form: Form, services: Services):
    try:
        deposit = parse_euros(form.get("deposit") or "0")
        body = {
            "title": form.get("title", ""),
            "description": form.get("description", ""),
            "category": form.get("category", ""),
            "condition": form.get("condition", ""),
            "deposit_cents": deposit,
            "max_loan_days": whole_number(form.get("max_loan_days")),
            "pickup_notes": form.get("pickup_notes", ""),
        }
        item = await services.post("exchange", "/items", caller=caller(me), json=body)
    except (ValueError, BackendProblem, BackendDown) as exc:
        flash(request, _reason(request, exc), "error")
        return render(
            request,
            "exchange/item_new.html",
            status=422,
            values=form,
            categories=CATEGORIES,
            conditions=CONDITIONS,
        )
    flash(request, translate(language(request), "items.listed"), "success")
    return redirect(f"/items/{item['id']}")


@router.get("/items/{item_id}")
async def item_page(request: Request, item_id: str, me: Viewer, services: Services):
    item = await services.get("exchange", f"/items/{item_id}")
    start = today()
    return render(
        request,
        "exchange/item.html",
        item=item,
        start=start.isoformat(),
        due=(start + timedelta(days=min(3, item["max_loan_days"]) - 1)).isoformat(),
        report_kinds=REPORT_KINDS,
    )


@router.post("/items/{item_id}/borrow")
async def borrow(request: Request, item_id: str, me: Member, form: Form, services: Services):
    try:
        loan = await services.post(
            "exchange",
            "/loans",
            caller=caller(me),
            json={
                "item_id": item_id,
                "starts_on": form.get("starts_on"),
                "due_on": form.get("due_on"),
                "message": form.get("message", ""),
            },
        )
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, f"/items/{item_id}", exc)
    flash(request, translate(language(request), "loans.requested"), "success")
    return redirect(f"/loans/{loan['id']}")


@router.post("/items/{item_id}/withdraw")
async def withdraw(request: Request, item_id: str, me: Member, form: Form, services: Services):
    try:
        await services.post("exchange", f"/items/{item_id}/withdraw", caller=caller(me))
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, f"/items/{item_id}", exc)
    flash(request, translate(language(request), "items.withdrawn"), "success")
    return redirect(f"/items/{item_id}")


# --- loans -----------------------------------------------------------------------------


async def _titles(services, item_ids: set[str]) -> dict[str, str]:
    async def one(item_id: str) -> tuple[str, str]:
        try:
            return item_id, (await services.get("exchange", f"/items/{item_id}"))["title"]
        except (BackendProblem, BackendDown):
            return item_id, "?"

    return dict(await asyncio.gather(*(one(i) for i in item_ids)))


@router.get("/loans")
async def loans_page(request: Request, me: Member, services: Services):
    loans = await services.get("exchange", "/loans", caller=caller(me), params={"limit": 100})
    titles = await _titles(services, {loan["item_id"] for loan in loans})
    borrowed = [loan for loan in loans if loan["borrower_id"] == me.id]
    lent = [loan for loan in loans if loan["lender_id"] == me.id]
    return render(request, "exchange/loans.html", borrowed=borrowed, lent=lent, titles=titles)


def loan_actions(loan: dict, me_id: str, is_staff: bool) -> list[str]:
    """The buttons a party sees, mirroring the exchange's state machine."""
    state = loan["state"]
    lender, borrower = loan["lender_id"] == me_id, loan["borrower_id"] == me_id
    actions = []
    if state == "requested" and lender:
        actions += ["accept", "decline"]
    if state in ("requested", "accepted") and (lender or borrower):
        actions.append("cancel")
    if state == "accepted" and (lender or borrower):
        actions.append("pick-up")
    if state in ("picked_up", "overdue", "disputed") and (lender or is_staff):
        actions.append("return")
    if state in ("accepted", "picked_up", "overdue") and (lender or borrower or is_staff):
        actions.append("dispute")
    if state == "returned" and (lender or borrower):
        actions.append("rating")
    return actions


@router.get("/loans/{loan_id}")
async def loan_page(request: Request, loan_id: str, me: Member, services: Services):
    loan = await services.get("exchange", f"/loans/{loan_id}", caller=caller(me))
    item = await services.get("exchange", f"/items/{loan['item_id']}")
    return render(
        request,
        "exchange/loan.html",
        loan=loan,
        item=item,
        role="lender" if loan["lender_id"] == me.id else "borrower",
        actions=loan_actions(loan, me.id, me.is_staff),
        conditions=CONDITIONS,
        report_kinds=REPORT_KINDS,
    )


@router.post("/loans/{loan_id}/{action}")
async def loan_action(
    request: Request, loan_id: str, action: str, me: Member, form: Form, services: Services
):
    try:
        score = whole_number(form.get("score"))
    except ValueError as exc:
        return back_with_problem(request, f"/loans/{loan_id}", exc)
    bodies = {
        "accept": None,
        "decline": None,
        "cancel": None,
        "pick-up": None,
        "dispute": {"note": form.get("note", "")},
        "return": {"condition": form.get("condition", ""), "notes": form.get("notes", "")},
        "rating": {"score": score, "comment": form.get("comment", "")},
    }
    if action not in bodies:
        unknown = ValueError(translate(language(request), "problem.generic"))
        return back_with_problem(request, f"/loans/{loan_id}", unknown)
    try:
        await services.post(
            "exchange", f"/loans/{loan_id}/{action}", caller=caller(me), json=bodies[action]
        )
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, f"/loans/{loan_id}", exc)
    flash(request, translate(language(request), f"loans.done.{action}"), "success")
    return redirect(f"/loans/{loan_id}")


# --- problem reports -----------------------------------------------------------------------


@router.post("/reports")
async def report_problem(request: Request, me: Member, form: Form, services: Services):
    back = form.get("back") or "/"
    back = back if back.startswith("/") and not back.startswith("//") else "/"
    try:
        await services.post(
            "exchange",
            "/reports",
            caller=caller(me),
            json={
                "subject_type": form.get("subject_type"),
                "subject_id": form.get("subject_id"),
                "kind": form.get("kind"),
                "detail": form.get("detail", ""),
            },
        )
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, back, exc)
    flash(request, translate(language(request), "reports.sent"), "success")
    return redirect(back)


# --- services ----------------------------------------------------------------------------


@router.get("/services")
async def services_page(
    request: Request,
    me: Viewer,
    services: Services,
    q: str = "",
    kind: str = "",
    direction: str = "",
    scope: str = "near",
    fragment: int = 0,
):
    near = scope == "near" and me is not None
    found = await services.get(
        "exchange",
        "/services",
        params={
            "q": q.strip()[:100],
            "kind": kind if kind in SERVICE_KINDS else None,
            "direction": direction if direction in ("offer", "request") else None,
            "neighbourhood": me.neighbourhood if near else None,
        },
    )
    template = "exchange/services_list.html" if fragment else "exchange/services.html"
    return render(
        request,
        template,
        offers=found,
        q=q,
        kind=kind,
        direction=direction,
        scope="near" if near else "all",
        kinds=SERVICE_KINDS,
    )


@router.get("/services/new")
async def new_service_page(request: Request, me: Member):
    return render(request, "exchange/service_new.html", values={}, kinds=SERVICE_KINDS)


@router.post("/services/new")
async def new_service(request: Request, me: Member, form: Form, services: Services):
    try:
        body = {
            "kind": form.get("kind"),
            "direction": form.get("direction"),
            "title": form.get("title", ""),
            "description": form.get("description", ""),
            "minutes_estimate": whole_number(form["minutes_estimate"])
            if form.get("minutes_estimate")
            else None,
            "route_km": decimal_number(form.get("route_km")),
        }
        row = await services.post("exchange", "/services", caller=caller(me), json=body)
    except (ValueError, BackendProblem, BackendDown) as exc:
        flash(request, _reason(request, exc), "error")
        return render(
            request, "exchange/service_new.html", status=422, values=form, kinds=SERVICE_KINDS
        )
    flash(request, translate(language(request), "services.listed"), "success")
    return redirect(f"/services/{row['id']}")


@router.get("/services/{service_id}")
async def service_page(request: Request, service_id: str, me: Viewer, services: Services):
    offer = await services.get("exchange", f"/services/{service_id}")
    return render(request, "exchange/service.html", offer=offer, report_kinds=REPORT_KINDS)


@router.post("/services/{service_id}/complete")
async def complete_service(
    request: Request, service_id: str, me: Member, form: Form, services: Services
):
    try:
        provider = None
        if form.get("provider_email"):
            provider = await _account_id_by_email(request, form["provider_email"])
        await services.post(
            "exchange",
            f"/services/{service_id}/completions",
            caller=caller(me),
            idempotency_key=form.get("idem") or new_id(),
            json={
                "provider_id": provider,
                "minutes": whole_number(form.get("minutes")),
                "settle_in_credits": form.get("settle_in_credits") == "on",
            },
        )
    except (ValueError, BackendProblem, BackendDown) as exc:
        return back_with_problem(request, f"/services/{service_id}", exc)
    flash(request, translate(language(request), "services.completed"), "success")
    return redirect("/credits")


@router.post("/services/{service_id}/close")
async def close_service(
    request: Request, service_id: str, me: Member, form: Form, services: Services
):
    try:
        await services.post("exchange", f"/services/{service_id}/close", caller=caller(me))
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, f"/services/{service_id}", exc)
    return redirect(f"/services/{service_id}")


# --- time credits ------------------------------------------------------------------------


@router.get("/credits")
async def credits_page(request: Request, me: Member, services: Services):
    account = await services.get("exchange", "/accounts/me", caller=caller(me))
    return render(request, "exchange/credits.html", account=account)


async def _account_id_by_email(request: Request, email: str) -> str:
    async with runtime(request).db.transaction() as session:
        account = await accounts.find_by_email(session, email=email)
    if account is None or not account.verified:
        raise ValueError(translate(language(request), "credits.unknown_member"))
    return account.id


@router.post("/credits/transfer")
async def give_minutes(request: Request, me: Member, form: Form, services: Services):
    try:
        to_member = await _account_id_by_email(request, form.get("to_email", ""))
        await services.post(
            "exchange",
            "/transfers",
            caller=caller(me),
            idempotency_key=form.get("idem") or new_id(),
            json={
                "to_member": to_member,
                "minutes": whole_number(form.get("minutes")),
                "memo": form.get("memo", ""),
                "reason": "service" if form.get("reason") == "service" else "gift",
            },
        )
    except (ValueError, BackendProblem, BackendDown) as exc:
        return back_with_problem(request, "/credits", exc)
    flash(request, translate(language(request), "credits.sent"), "success")
    return redirect("/credits")


def _reason(request: Request, exc: Exception) -> str:
    from services.portal.web import problem_text

    return problem_text(request, exc)
