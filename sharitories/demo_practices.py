"""The demo's newer practices: a citizen energy cooperative, a regular carpool with seats,
a booking ahead and a debate on the portal. Loaded through the services' APIs and the
portal's own forms, as residents and staff would.

Kept apart from demo.py, which holds the territory's first practices; `Demo` calls these.
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


# kWh a kWp of solar panels gives each month in the Loire valley (Jan..Dec, ~1,100 a year).
SOLAR_KWH_PER_KWP = (35, 55, 90, 120, 140, 145, 150, 135, 105, 70, 40, 30)
SOLAR_KWP = 36
PRODUCTION_MONTHS = 24

COMMENTS = [  # (resident, text)
    ("vlm-r05", "Super idée, j'y emmènerai mon vélo dès l'ouverture !"),
    ("vlm-r08", "Est-ce qu'il y aura des créneaux le samedi matin ?"),
    ("vlm-r12", "Je peux donner un coup de main pour l'installation de l'atelier."),
    ("vlm-r18", "Merci pour ce projet, il manquait vraiment à la Gare."),
    ("vlm-r23", "Pensez à un stationnement pour les vélos cargo."),
    ("vlm-r27", "Bravo à l'équipe de bénévoles."),
]


def monthly_production(today: date, months: int = PRODUCTION_MONTHS) -> list[tuple[date, int]]:
    """(month, kWh) for the installation's `months` whole months before today's."""
    return [
        (start, SOLAR_KWH_PER_KWP[start.month - 1] * SOLAR_KWP)
        for start in month_starts(today, months)
    ]


def production_csv(today: date, months: int = PRODUCTION_MONTHS) -> str:
    """The installation's meter export, as staff import it."""
    rows = [
        "month,kwh",
        *(f"{start:%Y-%m},{kwh}" for start, kwh in monthly_production(today, months)),
    ]
    return "\n".join(rows) + "\n"


async def energy_cooperative(demo: Demo, coop: str, backers: list[str]) -> dict[str, Any]:
    """The cooperative sells units of its solar roofs; staff import two years of production."""
    call = demo.api.call
    holder = demo.organisation(coop)
    campaign = await call(
        "crowdfunding",
        "POST",
        "/energy-campaigns",
        who=holder,
        json={
            "title": "Toits solaires de la Zone Est",
            "description": (
                "36 kWc de panneaux sur les toits du gymnase et de l'atelier municipal, "
                "détenus par les habitants : une part de 325 €, environ 30 € par an."
            ),
            "neighbourhood": "zone-est",
            "duration_days": 60,
            "technology": "solar_pv",
            "kwp": str(SOLAR_KWP),
            "address": "Gymnase de la Zone Est",
            "unit_price_cents": 325_00,
            "units": 120,
            "estimated_return_cents_per_unit_year": 30_00,
        },
    )
    campaign_id = campaign["campaign_id"]
    await call("crowdfunding", "POST", f"/campaigns/{campaign_id}/submit", who=holder)
    review = await call(
        "crowdfunding",
        "POST",
        f"/campaigns/{campaign_id}/review",
        who=demo.reviewer,
        json={"note": "Installation locale, rendement présenté comme une estimation."},
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
    imported = await call(
        "crowdfunding",
        "POST",
        f"/campaigns/{campaign_id}/production/import",
        who=demo.staff,
        json={"csv": production_csv(demo.today)},
    )
    return {
        "campaign_id": campaign_id,
        "units_sold": units,
        "months_recorded": imported["recorded"],
        "kwh_recorded": sum(kwh for _, kwh in monthly_production(demo.today)),
    }


def _next_weekday(today: date) -> date:
    day = today + timedelta(days=1)
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    return day


async def carpool(demo: Demo, driver: str, passengers: list[str]) -> dict[str, Any]:
    """A regular home–work carpool; passengers book seats for the next working day."""
    call = demo.api.call
    offer = await call(
        "exchange",
        "POST",
        "/carpools",
        who=demo.member(driver),
        json={
            "origin": "gare",
            "destination": "zone-est",
            "route_km": 9.5,
            "seats": 3,
            "weekdays": "12345",
            "departs_at": "07:40",
            "notes": "Départ devant la gare, retour vers 17 h 30.",
        },
    )
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


async def booking_ahead(demo: Demo, item: dict, owner: str, borrower: str) -> dict[str, Any]:
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
            "message": "Pour les vacances, si c'est possible !",
        },
    )
    await demo.act(loan, demo.member(owner), "accept")
    return {"loan_id": loan["id"], "starts_on": starts.isoformat()}


async def debate(demo: Demo, portal_url: str, password: str, campaign_id: str) -> int:
    """Residents comment on a live campaign through the portal's own form, logged in."""
    posted = 0
    for resident, text in COMMENTS:
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
