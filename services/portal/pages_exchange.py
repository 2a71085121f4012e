"""Resident pages of the exchange: items (with a booking calendar), loans (deposits,
overdue reminders), carpools, services, time credits, problem reports."""

from __future__ import annotations

import asyncio
import calendar
from datetime import date, timedelta

from babel.dates import format_date, get_day_names
from fastapi import APIRouter, Request

from libs.common.clock import clock
from libs.common.ids import new_id
from libs.common.money import parse_euros
from libs.common.taxonomy import ITEM_CATEGORIES, SERVICE_KINDS
from services.portal import accounts
from services.portal.backends import BackendDown, BackendProblem
from services.portal.i18n import translate
from services.portal.territory import directory
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


def month_grid(first: date, periods: list[dict], lang: str = "fr") -> dict:
    """A month as weeks of days (None outside it), each day with its booking state."""
    states: dict[date, str] = {}
    for period in periods:
        day = date.fromisoformat(period["starts_on"])
        last = date.fromisoformat(period["due_on"])
        while day <= last:
            states[day] = period["state"]
            day += timedelta(days=1)
    weeks = [
        [{"day": d, "state": states.get(d)} if d.month == first.month else None for d in week]
        for week in calendar.Calendar().monthdatescalendar(first.year, first.month)
    ]
    return {"first": first, "name": format_date(first, "LLLL yyyy", locale=lang), "weeks": weeks}


def weekday_names(lang: str) -> list[tuple[str, str]]:
    """(short, full) names of the days, Monday first, in the reader's language."""
    short, full = get_day_names("abbreviated", locale=lang), get_day_names("wide", locale=lang)
    return [(short[d], full[d]) for d in range(7)]


def _next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


@router.get("/items/{item_id}")
async def item_page(
    request: Request, item_id: str, me: Viewer, services: Services, month: str = ""
):
    item = await services.get("exchange", f"/items/{item_id}")
    start = today()
    try:
        first = date.fromisoformat(f"{month}-01") if month else start.replace(day=1)
    except ValueError:
        first = start.replace(day=1)
    first = max(first, start.replace(day=1))
    after = _next_month(first)
    until = _next_month(after) - timedelta(days=1)
    try:
        periods = await services.get(
            "exchange",
            f"/items/{item_id}/bookings",
            params={"from": first.isoformat(), "to": until.isoformat()},
        )
    except (BackendProblem, BackendDown):
        periods = []
    return render(
        request,
        "exchange/item.html",
        item=item,
        start=start.isoformat(),
        due=(start + timedelta(days=min(3, item["max_loan_days"]) - 1)).isoformat(),
        report_kinds=REPORT_KINDS,
        periods=periods,
        months=[
            month_grid(first, periods, language(request)),
            month_grid(after, periods, language(request)),
        ],
        weekdays=weekday_names(language(request)),
        next_month=after.strftime("%Y-%m"),
        previous_month=(first - timedelta(days=1)).strftime("%Y-%m")
        if first > start.replace(day=1)
        else None,
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
    late = [loan for loan in loans if loan.get("days_late") or loan["state"] == "overdue"]
    return render(
        request, "exchange/loans.html", borrowed=borrowed, lent=lent, late=late, titles=titles
    )


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
    deposit = loan.get("deposit_state", "none")
    holdable = state in ("accepted", "picked_up", "overdue", "disputed")
    if (lender or is_staff) and (
        (deposit == "none" and holdable and loan.get("deposit_cents")) or deposit == "held"
    ):
        actions.append("deposit")
    return actions


async def _contact_of(request: Request, member_id: str, shared: dict) -> dict:
    """The counterparty as the exchange shares it once a loan is accepted, completed from
    the portal's account when the exchange has no name or contact for them yet (members
    created from a token before their profile was synced)."""
    if shared.get("display_name") and shared.get("contact"):
        return shared
    async with runtime(request).db.transaction() as session:
        account = await accounts.find_account(session, account_id=member_id)
    if account is None:
        return shared
    return {
        **shared,
        "display_name": shared.get("display_name") or account.display_name,
        "address": shared.get("address") or account.address,
        "contact": shared.get("contact") or account.email,
    }


@router.get("/loans/{loan_id}")
async def loan_page(request: Request, loan_id: str, me: Member, services: Services):
    loan = await services.get("exchange", f"/loans/{loan_id}", caller=caller(me))
    item = await services.get("exchange", f"/items/{loan['item_id']}")
    if loan.get("counterparty"):  # only once accepted: the exchange decides, never the portal
        loan["counterparty"] = await _contact_of(
            request, loan["counterparty"]["id"], loan["counterparty"]
        )
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
        amount = parse_euros(form["amount"]) if form.get("amount") else None
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
        "deposit": {
            "state": form.get("deposit_state", ""),
            "amount_cents": amount,
            "reason": form.get("reason", ""),
        },
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


# --- carpools ----------------------------------------------------------------------------

WEEKDAY_DIGITS = "1234567"


@router.get("/carpools")
async def carpools_page(
    request: Request, me: Viewer, services: Services, origin: str = "", destination: str = ""
):
    codes = set(directory().codes)
    params = {
        "origin": origin if origin in codes else None,
        "destination": destination if destination in codes else None,
    }
    found = await services.get("exchange", "/carpools", params=params)
    return render(
        request,
        "exchange/carpools.html",
        carpools=found,
        origin=params["origin"] or "",
        destination=params["destination"] or "",
    )


@router.get("/carpools/new")
async def new_carpool_page(request: Request, me: Member):
    values = {"origin": me.neighbourhood or "", "seats": "3", "departs_at": "08:00"}
    return render(request, "exchange/carpool_new.html", values=values, weekdays=WEEKDAY_DIGITS)


@router.post("/carpools/new")
async def new_carpool(request: Request, me: Member, form: Form, services: Services):
    days = form.get("weekdays") or []
    days = [days] if isinstance(days, str) else list(days)
    regular = form.get("schedule") == "regular"
    try:
        body = {
            "origin": form.get("origin", ""),
            "destination": form.get("destination", ""),
            "route_km": decimal_number(form.get("route_km")),
            "seats": whole_number(form.get("seats")),
            "departs_on": None if regular else (form.get("departs_on") or None),
            "weekdays": "".join(d for d in WEEKDAY_DIGITS if d in days) if regular else None,
            "departs_at": form.get("departs_at", ""),
            "notes": form.get("notes", ""),
        }
        row = await services.post("exchange", "/carpools", caller=caller(me), json=body)
    except (ValueError, BackendProblem, BackendDown) as exc:
        flash(request, _reason(request, exc), "error")
        return render(
            request,
            "exchange/carpool_new.html",
            status=422,
            values={**form, "weekdays": days},
            weekdays=WEEKDAY_DIGITS,
        )
    flash(request, translate(language(request), "carpools.offered"), "success")
    return redirect(f"/carpools/{row['id']}")


@router.get("/carpools/{offer_id}")
async def carpool_page(request: Request, offer_id: str, me: Viewer, services: Services):
    found = await services.get("exchange", f"/carpools/{offer_id}")
    return render(request, "exchange/carpool.html", carpool=found)


@router.post("/carpools/{offer_id}/book")
async def book_seat(request: Request, offer_id: str, me: Member, form: Form, services: Services):
    try:
        trip = await services.post(
            "exchange",
            f"/carpools/{offer_id}/seats",
            caller=caller(me),
            json={"on": form.get("on")},
        )
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, f"/carpools/{offer_id}", exc)
    flash(request, translate(language(request), "carpools.booked"), "success")
    return redirect(f"/trips/{trip['id']}")


@router.post("/carpools/{offer_id}/close")
async def close_carpool(
    request: Request, offer_id: str, me: Member, form: Form, services: Services
):
    try:
        await services.post("exchange", f"/carpools/{offer_id}/close", caller=caller(me))
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, f"/carpools/{offer_id}", exc)
    return redirect(f"/carpools/{offer_id}")


@router.get("/trips")
async def trips_page(request: Request, me: Member, services: Services):
    trips = await services.get("exchange", "/trips", caller=caller(me), params={"limit": 100})
    return render(request, "exchange/trips.html", trips=trips, today=today())


@router.get("/trips/{trip_id}")
async def trip_page(request: Request, trip_id: str, me: Member, services: Services):
    trip = await services.get("exchange", f"/trips/{trip_id}", caller=caller(me))
    driver = trip["driver"]["id"] == me.id
    if not driver:
        trip["driver"] = await _contact_of(request, trip["driver"]["id"], trip["driver"])
    for seat in trip["passenger_seats"]:
        seat["member"] = await _contact_of(request, seat["passenger_id"], seat["member"])
    return render(
        request,
        "exchange/trip.html",
        trip=trip,
        driver=driver,
        can_confirm=driver and trip["state"] == "open" and trip["on"] <= today().isoformat(),
    )


@router.post("/trips/{trip_id}/confirm")
async def confirm_trip(request: Request, trip_id: str, me: Member, form: Form, services: Services):
    riders = form.get("passenger_ids") or []
    riders = [riders] if isinstance(riders, str) else list(riders)
    try:
        await services.post(
            "exchange",
            f"/trips/{trip_id}/confirm",
            caller=caller(me),
            json={"passenger_ids": riders, "km": decimal_number(form.get("km"))},
        )
    except (ValueError, BackendProblem, BackendDown) as exc:
        return back_with_problem(request, f"/trips/{trip_id}", exc)
    flash(request, translate(language(request), "carpools.confirmed"), "success")
    return redirect(f"/trips/{trip_id}")


@router.post("/trips/{trip_id}/cancel-seat")
async def cancel_seat(request: Request, trip_id: str, me: Member, form: Form, services: Services):
    try:
        await services.post("exchange", f"/trips/{trip_id}/cancel-seat", caller=caller(me))
    except (BackendProblem, BackendDown) as exc:
        return back_with_problem(request, f"/trips/{trip_id}", exc)
    flash(request, translate(language(request), "carpools.seat_cancelled"), "success")
    return redirect("/trips")


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
                # A carpool counts passenger-km only with its passengers and distance.
                "passengers": whole_number(form["passengers"]) if form.get("passengers") else None,
                "km": decimal_number(form.get("km")),
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
