"""The demo's newer practices: a citizen energy cooperative, a regular carpool with seats,
a booking ahead and a debate on the portal. Loaded through the services' APIs and the
portal's own forms, as residents and staff would.

Kept apart from demo.py, which holds the territory's first practices; `Demo` calls these
with their data, the `[practices]` of sharitories/demo_town.toml.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from sharitories.demo_history import month_starts

if TYPE_CHECKING:
    from sharitories.demo import Demo


class DemoError(RuntimeError):
    """A service refused a demo step (the message carries its problem document)."""


def monthly_production(today: date, plan: dict[str, Any]) -> list[tuple[date, int]]:
    """(month, kWh) for the installation's whole months before today's: `plan` gives their
    number, its kWp and the kWh a kWp gives each month."""
    kwp = plan["campaign"]["kwp"]
    return [
        (start, plan["kwh_per_kwp"][start.month - 1] * kwp)
        for start in month_starts(today, plan["production_months"])
    ]


def production_csv(production: list[tuple[date, int]]) -> str:
    """The installation's meter export, as staff import it."""
    rows = ["month,kwh", *(f"{start:%Y-%m},{kwh}" for start, kwh in production)]
    return "\n".join(rows) + "\n"


async def energy_cooperative(
    demo: Demo, coop: str, backers: list[str], plan: dict[str, Any]
) -> dict[str, Any]:
    """The cooperative sells units of its solar roofs; staff import two years of production."""
    call = demo.api.call
    holder = demo.organisation(coop)
    # The API takes kWp as a decimal string.
    body = {**plan["campaign"], "kwp": str(plan["campaign"]["kwp"])}
    campaign = await call("crowdfunding", "POST", "/energy-campaigns", who=holder, json=body)
    campaign_id = campaign["campaign_id"]
    await call("crowdfunding", "POST", f"/campaigns/{campaign_id}/submit", who=holder)
    review = await call(
        "crowdfunding",
        "POST",
        f"/campaigns/{campaign_id}/review",
        who=demo.reviewer,
        json={"note": plan["review_note"]},
    )
    if not review["approved"]:
        raise DemoError(f"demo energy campaign rejected: {review['reasons']}")
    await call("crowdfunding", "POST", f"/campaigns/{campaign_id}/launch", who=holder)
    units = 0
    for n, backer in enumerate(backers):
        bought = 1 + n % 3
        await call(
            "crowdfunding",
            "POST",
            f"/campaigns/{campaign_id}/units",
            who=demo.member(backer),
            json={"units": bought, "card_token": "tok_instant"},
        )
        units += bought
    production = monthly_production(demo.today, plan)
    imported = await call(
        "crowdfunding",
        "POST",
        f"/campaigns/{campaign_id}/production/import",
        who=demo.staff,
        json={"csv": production_csv(production)},
    )
    return {
        "campaign_id": campaign_id,
        "units_sold": units,
        "months_recorded": imported["recorded"],
        "kwh_recorded": sum(kwh for _, kwh in production),
    }


def _next_weekday(today: date) -> date:
    day = today + timedelta(days=1)
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    return day


async def carpool(demo: Demo, plan: dict[str, Any]) -> dict[str, Any]:
    """A regular home–work carpool; passengers book seats for the next working day."""
    call = demo.api.call
    body = dict(plan)
    driver, passengers = body.pop("driver"), body.pop("passengers")
    offer = await call("exchange", "POST", "/carpools", who=demo.member(driver), json=body)
    on = _next_weekday(demo.today)
    for passenger in passengers:
        await call(
            "exchange",
            "POST",
            f"/carpools/{offer['id']}/seats",
            who=demo.member(passenger),
            json={"on": on.isoformat()},
        )
    return {"offer_id": offer["id"], "seats_booked": len(passengers), "on": on.isoformat()}


async def booking_ahead(
    demo: Demo, item: dict, owner: str, borrower: str, message: str
) -> dict[str, Any]:
    """Booking an item that is lent today, for dates after its return; the owner accepts."""
    starts = demo.today + timedelta(days=14)
    loan = await demo.api.call(
        "exchange",
        "POST",
        "/loans",
        who=demo.member(borrower),
        json={
            "item_id": item["id"],
            "starts_on": starts.isoformat(),
            "due_on": (starts + timedelta(days=2)).isoformat(),
            "message": message,
        },
    )
    await demo.act(loan, demo.member(owner), "accept")
    return {"loan_id": loan["id"], "starts_on": starts.isoformat()}


async def debate(
    portal_url: str, password: str, campaign_id: str, comments: list[list[str]]
) -> int:
    """Residents comment on a live campaign through the portal's own form, logged in:
    `comments` are (resident, text)."""
    posted = 0
    for resident, text in comments:
        async with httpx.AsyncClient(base_url=portal_url, timeout=30) as browser:
            page = await browser.get("/login")
            await browser.post(
                "/login",
                data={
                    "email": f"{resident}@valmont.example",
                    "password": password,
                    "csrf": _csrf(page.text),
                    "next": "/",
                },
            )
            page = await browser.get(f"/campaigns/{campaign_id}")
            response = await browser.post(
                f"/campaigns/{campaign_id}/comments",
                data={"body": text, "csrf": _csrf(page.text)},
            )
            if response.status_code != 303:
                raise DemoError(f"comment by {resident}: {response.status_code}")
            posted += 1
    return posted


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    if found is None:
        raise DemoError("the portal page carries no CSRF token")
    return found.group(1)
