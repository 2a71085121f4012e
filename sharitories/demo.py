"""The demo territory: Valmont, a fictional mid-sized city, loaded through the services' APIs.

`load_demo(urls, settings)` drives the exchange, crowdfunding and budget services over HTTP,
exactly as residents, organisations and staff would, so every event flows through the outbox
and JetStream to the impact service. Nothing is written to a database directly.

What it creates (all people and places are fictional):
- ~30 residents spread over Valmont's neighbourhoods (codes from libs/common/territory.toml),
  three organisations (an association, a bike shop, a café), a staff member and a reviewer;
- ~40 items in many categories; loans at every stage: completed (requested → accepted →
  picked up → returned), active (picked up), accepted, one declined, one still requested;
- services: two carpools with their km and passengers, repairs, gardening, tutoring, settled
  in time credits (one repair paid in euros), and a few time-credit gifts;
- crowdfunding: a match pool, two live campaigns with rewards, online and desk pledges, and one
  campaign waiting for review; when the previous PB edition's leftover reaches the crowdfunding
  service in time, it becomes a second match pool;
- participatory budget: a closed 2025 edition (proposals, supports, assessment, ballots,
  published results, delivery milestones) and the 2026 edition in its voting phase with
  13 assessed proposals and ballots cast online and on paper.

Limits of "history" in real time (see the report of `tests/test_demo.py`):
- the exchange dates loans with the service's own today, so every demo loan is lent for one
  day (`days_lent` = 1);
- a crowdfunding campaign runs 20-90 days and settles at its deadline, so no demo campaign can
  have succeeded yet: the report's `money.raised` stays 0 until one does.

Idempotent: the 2026 edition, created last, is the marker. When the budget service already has
it, nothing is loaded again and the summary of the first load (var/demo.json) is returned. A
load that stopped midway (the demo's staff member exists, the marker does not) is refused with
DemoError rather than loaded twice.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from libs.common.auth import mint_token
from libs.common.settings import Settings
from libs.common.territory import neighbourhoods
from sharitories import demo_practices
from sharitories.demo_history import past_activity
from sharitories.demo_practices import DemoError

MARKER_EDITION = "Budget participatif de Valmont 2026"
PREVIOUS_EDITION = "Budget participatif de Valmont 2025"
SUMMARY_FILE = "demo.json"

STAFF = "vlm-staff-mairie"
KEYHOLDERS = (
    "Adjointe aux finances",
    "Présidente de la commission citoyenne",
    "Secrétaire général",
)
REVIEWER = "vlm-reviewer"
ASSOCIATION = "vlm-org-transition"
BIKE_SHOP = "vlm-org-cycles"
CAFE = "vlm-org-cafe"
ENERGY_COOP = "vlm-org-energie"
DESK = "vlm-guichet"
ADMIN = "vlm-admin"

# Every demo person logs in on the portal as <member id>@valmont.example with this password.
DEMO_PASSWORD = "valmont-demo"

# Campaigns the city ran before the platform opened, closed some weeks ago.
HISTORICAL_CAMPAIGNS: list[dict[str, Any]] = [
    {
        "title": "Camion frigorifique pour l'épicerie solidaire",
        "category": "food",
        "neighbourhood": "faubourg",
        "holder_id": "vlm-org-epicerie",
        "holder_kind": "organisation",
        "goal_cents": 9_000_00,
        "raised_cents": 8_350_00,
        "matched_cents": 1_000_00,
        "commission_rate": "0.05",
        "backers": 142,
        "duration_days": 45,
        "closed_days_ago": 150,
    },
    {
        "title": "Machine à coudre pour l'atelier des Vergers",
        "category": "solidarity",
        "neighbourhood": "vergers",
        "holder_id": CAFE,
        "holder_kind": "organisation",
        "goal_cents": 1_200_00,
        "raised_cents": 1_415_50,
        "matched_cents": 0,
        "commission_rate": "0.05",
        "backers": 38,
        "duration_days": 30,
        "closed_days_ago": 120,
    },
    {
        "title": "Four à pain du Plateau",
        "category": "food",
        "neighbourhood": "plateau",
        "holder_id": "vlm-r21",
        "holder_kind": "resident",
        "goal_cents": 4_500_00,
        "raised_cents": 1_980_00,
        "matched_cents": 0,
        "commission_rate": "0.05",
        "backers": 31,
        "duration_days": 48,
        "closed_days_ago": 90,
    },
    # Earlier years: they stay in their own year, so the yearly money chart has a past.
    {
        "title": "Composteurs partagés de la Rivière",
        "category": "environment",
        "neighbourhood": "riviere",
        "holder_id": ASSOCIATION,
        "holder_kind": "organisation",
        "goal_cents": 2_400_00,
        "raised_cents": 2_610_00,
        "matched_cents": 0,
        "commission_rate": "0.05",
        "backers": 57,
        "duration_days": 40,
        "closed_days_ago": 420,
        "earlier": True,
    },
    {
        "title": "Boîte à livres de la Colline",
        "category": "culture",
        "neighbourhood": "colline",
        "holder_id": "vlm-r14",
        "holder_kind": "resident",
        "goal_cents": 800_00,
        "raised_cents": 905_00,
        "matched_cents": 0,
        "commission_rate": "0.05",
        "backers": 29,
        "duration_days": 30,
        "closed_days_ago": 560,
        "earlier": True,
    },
    {
        "title": "Mini-ferme pédagogique de la Zone Est",
        "category": "environment",
        "neighbourhood": "zone-est",
        "holder_id": "vlm-r29",
        "holder_kind": "resident",
        "goal_cents": 12_000_00,
        "raised_cents": 4_120_00,
        "matched_cents": 0,
        "commission_rate": "0.05",
        "backers": 64,
        "duration_days": 60,
        "closed_days_ago": 640,
        "earlier": True,
    },
]

# (member id, display name, neighbourhood)
RESIDENTS: list[tuple[str, str, str]] = [
    ("vlm-r01", "Camille Rousseau", "centre"),
    ("vlm-r02", "Hugo Lefèvre", "centre"),
    ("vlm-r03", "Inès Moreau", "centre"),
    ("vlm-r04", "Lucas Garnier", "centre"),
    ("vlm-r05", "Léa Fontaine", "gare"),
    ("vlm-r06", "Nathan Chevalier", "gare"),
    ("vlm-r07", "Chloé Mercier", "gare"),
    ("vlm-r08", "Yanis Benali", "gare"),
    ("vlm-r09", "Manon Girard", "riviere"),
    ("vlm-r10", "Théo Lambert", "riviere"),
    ("vlm-r11", "Sarah Bonnet", "riviere"),
    ("vlm-r12", "Louis Faure", "riviere"),
    ("vlm-r13", "Emma Roux", "colline"),
    ("vlm-r14", "Gabriel Blanc", "colline"),
    ("vlm-r15", "Jade Guerin", "colline"),
    ("vlm-r16", "Raphaël Muller", "colline"),
    ("vlm-r17", "Zoé Henry", "faubourg"),
    ("vlm-r18", "Adam Perrin", "faubourg"),
    ("vlm-r19", "Louise Morin", "faubourg"),
    ("vlm-r20", "Mohamed Diallo", "faubourg"),
    ("vlm-r21", "Alice Dupuis", "plateau"),
    ("vlm-r22", "Jules Marchand", "plateau"),
    ("vlm-r23", "Lina Barbier", "plateau"),
    ("vlm-r24", "Arthur Brun", "plateau"),
    ("vlm-r25", "Rose Colin", "vergers"),
    ("vlm-r26", "Paul Gauthier", "vergers"),
    ("vlm-r27", "Anna Caron", "vergers"),
    ("vlm-r28", "Victor Picard", "vergers"),
    ("vlm-r29", "Eva Nguyen", "zone-est"),
    ("vlm-r30", "Sacha Petit", "zone-est"),
]
ORGANISATIONS: list[tuple[str, str, str]] = [
    (ASSOCIATION, "Valmont en Transition (association)", "riviere"),
    (BIKE_SHOP, "Cycles du Plateau", "plateau"),
    (CAFE, "Café des Vergers", "vergers"),
    (ENERGY_COOP, "Valmont Énergie Citoyenne (coopérative)", "zone-est"),
]

# (owner, title, category, condition, max_loan_days, deposit in cents)
ITEMS: list[tuple[str, str, str, str, int, int]] = [
    ("vlm-r01", "Perceuse à percussion Bosch", "drill", "good", 7, 2000),
    ("vlm-r02", "Escabeau 5 marches", "ladder", "good", 7, 0),
    ("vlm-r03", "Machine à coudre Singer", "sewing_machine", "fair", 14, 3000),
    ("vlm-r05", "Tente familiale 4 places", "tent", "good", 14, 4000),
    ("vlm-r06", "Vélo de ville", "bike", "worn", 7, 5000),
    ("vlm-r07", "Appareil à raclette", "kitchen_appliance", "good", 3, 0),
    ("vlm-r09", "Tondeuse électrique", "lawn_mower", "good", 3, 3000),
    ("vlm-r10", "Taille-haie", "hedge_trimmer", "good", 3, 2000),
    ("vlm-r11", "Nettoyeur haute pression Kärcher", "pressure_washer", "good", 3, 4000),
    ("vlm-r12", "Caisse à outils complète", "tools_other", "good", 7, 0),
    ("vlm-r13", "Aspirateur eau et poussière", "vacuum_cleaner", "fair", 3, 1000),
    ("vlm-r14", "Vidéoprojecteur Epson", "projector", "good", 3, 10000),
    ("vlm-r15", "Appareil photo reflex", "camera", "good", 7, 15000),
    ("vlm-r16", "Jeux de société (lot de 6)", "games_toys", "good", 14, 0),
    ("vlm-r17", "Romans policiers (carton)", "books", "worn", 30, 0),
    ("vlm-r18", "Raquettes de badminton et filet", "sports_gear", "good", 14, 0),
    ("vlm-r19", "Réchaud et popotes de camping", "camping_gear", "good", 14, 0),
    ("vlm-r20", "Tables pliantes (x2)", "furniture", "fair", 3, 0),
    ("vlm-r21", "Enceinte Bluetooth", "electronics_other", "good", 7, 2000),
    ("vlm-r22", "Perceuse-visseuse sans fil", "drill", "good", 7, 2000),
    ("vlm-r23", "Échelle coulissante 2 x 9 marches", "ladder", "fair", 3, 3000),
    ("vlm-r24", "Vélo enfant 20 pouces", "bike", "good", 14, 0),
    ("vlm-r25", "Robot pâtissier", "kitchen_appliance", "good", 3, 3000),
    ("vlm-r26", "Scie sauteuse", "tools_other", "good", 7, 1000),
    ("vlm-r27", "Poussette tout-terrain", "other", "good", 30, 0),
    ("vlm-r28", "Tente 2 places légère", "tent", "good", 14, 2000),
    ("vlm-r29", "Diable de déménagement", "tools_other", "worn", 3, 0),
    ("vlm-r30", "Ponceuse orbitale", "tools_other", "good", 7, 1000),
    ("vlm-r04", "Sac de frappe et gants", "sports_gear", "worn", 14, 0),
    ("vlm-r08", "Console de jeux rétro", "games_toys", "good", 7, 3000),
    ("vlm-r16", "Scarificateur de pelouse", "lawn_mower", "fair", 3, 2000),
    ("vlm-r12", "Décolleuse à papier peint", "tools_other", "good", 7, 2000),
    (ASSOCIATION, "Vidéoprojecteur et écran (association)", "projector", "good", 3, 0),
    (ASSOCIATION, "Barnum 3 x 3 m", "camping_gear", "good", 3, 0),
    (ASSOCIATION, "Grainothèque : kit semis", "other", "new", 30, 0),
    (BIKE_SHOP, "Vélo cargo biporteur", "cargo_bike", "good", 7, 20000),
    (BIKE_SHOP, "Remorque vélo enfant", "sports_gear", "good", 7, 5000),
    (BIKE_SHOP, "Vélo à assistance électrique d'essai", "bike", "good", 3, 30000),
    (CAFE, "Percolateur 40 tasses", "kitchen_appliance", "good", 3, 5000),
    (CAFE, "Jeux en bois géants", "games_toys", "good", 3, 0),
]

# Completed loans: (item index, borrower, planned days, return condition)
COMPLETED_LOANS: list[tuple[int, str, int, str]] = [
    (0, "vlm-r02", 3, "good"),
    (0, "vlm-r13", 2, "good"),
    (1, "vlm-r04", 2, "good"),
    (3, "vlm-r18", 7, "good"),
    (4, "vlm-r07", 3, "worn"),
    (6, "vlm-r10", 2, "good"),
    (8, "vlm-r20", 1, "good"),
    (11, "vlm-r21", 2, "good"),
    (13, "vlm-r25", 2, "good"),
    (19, "vlm-r24", 3, "good"),
    (26, "vlm-r05", 2, "good"),
    (32, "vlm-r11", 2, "good"),
    (35, "vlm-r17", 3, "good"),
    (38, "vlm-r27", 2, "fair"),
]
# Active loans (picked up, not yet returned), accepted ones, a declined and a requested one.
ACTIVE_LOANS: list[tuple[int, str, int]] = [
    (2, "vlm-r01", 10),
    (5, "vlm-r12", 2),
    (16, "vlm-r09", 7),
    (21, "vlm-r19", 7),
    (35, "vlm-r29", 5),
]
ACCEPTED_LOANS: list[tuple[int, str, int]] = [(9, "vlm-r15", 3), (33, "vlm-r26", 2)]
DECLINED_LOANS: list[tuple[int, str, int]] = [(14, "vlm-r30", 7)]
REQUESTED_LOANS: list[tuple[int, str, int]] = [(22, "vlm-r03", 2)]

CAMPAIGN_NEIGHBOURHOOD = "gare"
# Population per neighbourhood: the territory's own figures (libs/common/territory.toml).
POPULATION = {n.code: n.population or 0 for n in neighbourhoods()}


def eligible_population_of() -> dict[str, int]:
    """Residents aged 16+ per neighbourhood: ~80 % of its population (a demo assumption)."""
    return {code: n * 8 // 10 for code, n in POPULATION.items()}


@dataclass
class DemoClients:
    """One httpx client per service and dev tokens for the demo's people."""

    urls: dict[str, str]
    settings: Settings
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for service, url in self.urls.items():
            self.clients[service] = httpx.AsyncClient(base_url=url, timeout=30.0)

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    def auth(
        self, sub: str, *roles: str, neighbourhood: str | None = None, verified: bool = True
    ) -> dict[str, str]:
        token = mint_token(
            self.settings,
            sub=sub,
            roles=list(roles or ("resident",)),
            neighbourhood=neighbourhood,
            verified=verified,
        )
        return {"Authorization": f"Bearer {token}"}

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        who: dict[str, str],
        expect: tuple[int, ...] = (200, 201),
        **kwargs: Any,
    ) -> Any:
        headers = {**who, **kwargs.pop("headers", {})}
        response = await self.clients[service].request(method, path, headers=headers, **kwargs)
        if response.status_code not in expect:
            raise DemoError(
                f"{service} {method} {path} answered {response.status_code}: {response.text[:500]}"
            )
        return response.json() if response.content else None


def _demo_streets() -> dict[str, str]:
    """One street per neighbourhood, from the portal's street directory."""
    from services.portal.territory import directory

    streets: dict[str, str] = {}
    for name in directory().street_names:
        streets.setdefault(directory().neighbourhood_of(name), name)
    return streets


def _neighbourhood_of(member_id: str) -> str:
    for mid, _, nbhd in RESIDENTS + ORGANISATIONS:
        if mid == member_id:
            return nbhd
    raise KeyError(member_id)


class Demo:
    def __init__(self, api: DemoClients) -> None:
        self.api = api
        self.today = datetime.now(UTC).date()
        self.summary: dict[str, Any] = {}
        self.rng = random.Random(2026)
        # Keyholders' shares of each edition's private key, as the city would hand them out
        # (kept here only for the demo's own count).
        self.shares: dict[str, list[str]] = {}

    # --- people --------------------------------------------------------------------------

    def resident(self, member_id: str) -> dict[str, str]:
        return self.api.auth(member_id, "resident", neighbourhood=_neighbourhood_of(member_id))

    def organisation(self, member_id: str) -> dict[str, str]:
        return self.api.auth(member_id, "organisation", neighbourhood=_neighbourhood_of(member_id))

    def member(self, member_id: str) -> dict[str, str]:
        if member_id.startswith("vlm-org-"):
            return self.organisation(member_id)
        return self.resident(member_id)

    @property
    def staff(self) -> dict[str, str]:
        return self.api.auth(STAFF, "staff", neighbourhood="centre")

    @property
    def reviewer(self) -> dict[str, str]:
        return self.api.auth(REVIEWER, "reviewer", neighbourhood="centre")

    async def people(self) -> None:
        call = self.api.call
        await call("exchange", "GET", "/members/me", who=self.staff)
        # The town hall's other personas are members too (their first portal visit would
        # otherwise make them join then).
        for member_id, role in ((DESK, "staff"), (REVIEWER, "reviewer"), (ADMIN, "admin")):
            who = self.api.auth(member_id, role, neighbourhood="centre")
            await call("exchange", "GET", "/members/me", who=who)
        for member_id, name, neighbourhood in ORGANISATIONS:
            await call(
                "exchange",
                "POST",
                "/members",
                who=self.staff,
                json={
                    "id": member_id,
                    "kind": "organisation",
                    "neighbourhood": neighbourhood,
                    "display_name": name,
                },
                expect=(201, 409),
            )
        for member_id, name, _ in RESIDENTS:
            who = self.resident(member_id)
            await call("exchange", "GET", "/members/me", who=who)
            await call("exchange", "PATCH", "/members/me", who=who, json={"display_name": name})
        self.summary["members"] = len(RESIDENTS) + len(ORGANISATIONS) + 4
        self.summary["residents"] = len(RESIDENTS)
        self.summary["organisations"] = len(ORGANISATIONS)

    # --- exchange ------------------------------------------------------------------------

    async def items(self) -> list[dict]:
        listed = []
        for owner, title, category, condition, max_days, deposit in ITEMS:
            listed.append(
                await self.api.call(
                    "exchange",
                    "POST",
                    "/items",
                    who=self.member(owner),
                    json={
                        "title": title,
                        "category": category,
                        "condition": condition,
                        "max_loan_days": max_days,
                        "deposit_cents": deposit,
                        "description": f"Prêté par un voisin de Valmont : {title.lower()}.",
                    },
                )
            )
        self.summary["items"] = len(listed)
        return listed

    async def request(self, item: dict, borrower: str, days: int) -> dict:
        return await self.api.call(
            "exchange",
            "POST",
            "/loans",
            who=self.member(borrower),
            json={
                "item_id": item["id"],
                "starts_on": self.today.isoformat(),
                "due_on": (self.today + timedelta(days=days - 1)).isoformat(),
                "message": "Bonjour, je peux passer le chercher ce soir ?",
            },
        )

    async def act(self, loan: dict, who: dict, action: str, **body: Any) -> dict:
        return await self.api.call(
            "exchange", "POST", f"/loans/{loan['id']}/{action}", who=who, json=body or None
        )

    async def loans(self, items: list[dict]) -> None:
        def lender(i: int) -> dict[str, str]:
            return self.member(ITEMS[i][0])

        for i, borrower, days, condition in COMPLETED_LOANS:
            loan = await self.request(items[i], borrower, days)
            await self.act(loan, lender(i), "accept")
            await self.act(loan, self.member(borrower), "pick-up")
            await self.act(loan, lender(i), "return", condition=condition, notes="Rendu, merci !")
        for i, borrower, days in ACTIVE_LOANS:
            loan = await self.request(items[i], borrower, days)
            await self.act(loan, lender(i), "accept")
            await self.act(loan, lender(i), "pick-up")
        for i, borrower, days in ACCEPTED_LOANS:
            loan = await self.request(items[i], borrower, days)
            await self.act(loan, lender(i), "accept")
        for i, borrower, days in DECLINED_LOANS:
            loan = await self.request(items[i], borrower, days)
            await self.act(loan, lender(i), "decline")
        for i, borrower, days in REQUESTED_LOANS:
            await self.request(items[i], borrower, days)
        self.summary["loans"] = {
            "returned": len(COMPLETED_LOANS),
            "picked_up": len(ACTIVE_LOANS),
            "accepted": len(ACCEPTED_LOANS),
            "declined": len(DECLINED_LOANS),
            "requested": len(REQUESTED_LOANS),
        }

    async def service(self, lister: str, **body: Any) -> dict:
        return await self.api.call(
            "exchange", "POST", "/services", who=self.member(lister), json=body
        )

    async def complete(self, service: dict, receiver: str, key: str, **body: Any) -> dict:
        return await self.api.call(
            "exchange",
            "POST",
            f"/services/{service['id']}/completions",
            who=self.member(receiver),
            headers={"Idempotency-Key": f"valmont-demo-{key}"},
            json=body,
        )

    async def past(self, items: list[dict]) -> None:
        """Two years of loans and services from before go-live, recorded by staff with their
        real dates (sharitories/demo_history.py), so every monthly chart shows a trend."""
        loans, services = past_activity(
            self.today,
            items=[(owner, category, max_days) for owner, _, category, _, max_days, _ in ITEMS],
            people=[member_id for member_id, _, _ in RESIDENTS],
            # The repair café's volunteers, the association and the bike shop repair.
            repairers=[ASSOCIATION, BIKE_SHOP, *(m for m, _, _ in RESIDENTS[2::3])],
        )
        loan_records = [
            {
                "record_id": loan.record_id,
                "item_id": items[loan.item]["id"],
                "borrower_id": loan.borrower,
                "picked_up_on": loan.picked_up_on.isoformat(),
                "returned_on": loan.returned_on.isoformat(),
                "condition": loan.condition,
            }
            for loan in loans
        ]
        service_records = [
            {
                key: value.isoformat() if isinstance(value, date) else value
                for key, value in {
                    "record_id": service.record_id,
                    "kind": service.kind,
                    "provider_id": service.provider,
                    "receiver_id": service.receiver,
                    "completed_on": service.completed_on,
                    "minutes": service.minutes,
                    "km": service.km,
                    "passengers": service.passengers,
                    "repaired_category": service.repaired_category,
                }.items()
                if value is not None
            }
            for service in services
        ]
        # As a clerk would import the previous tool's export: a few batches.
        for path, records in (
            ("/history/loans", loan_records),
            ("/history/services", service_records),
        ):
            for start in range(0, len(records), 500):
                await self.api.call(
                    "exchange",
                    "POST",
                    path,
                    who=self.staff,
                    json={"records": records[start : start + 500]},
                )
        first = min([loan.picked_up_on for loan in loans] + [s.completed_on for s in services])
        by_year: dict[str, int] = {}
        for loan in loans:  # a loan counts in the report when it comes back
            year = str(loan.returned_on.year)
            by_year[year] = by_year.get(year, 0) + 1
        self.summary["history"] = {
            "since": first.isoformat(),
            "loans": len(loans),
            "loans_by_year": by_year,
            "services": len(services),
            "carpool_km": round(sum(s.km * s.passengers for s in services if s.km), 1),
        }

    async def services(self) -> None:
        carpool = await self.service(
            "vlm-r06",
            kind="carpool",
            direction="offer",
            title="Covoiturage quotidien Gare → Zone Est (départ 7 h 40)",
            minutes_estimate=20,
            route_km=9.5,
        )
        weekend = await self.service(
            "vlm-r14",
            kind="carpool",
            direction="offer",
            title="Marché de la Colline → hypermarché, le samedi matin",
            minutes_estimate=30,
            route_km=14.0,
        )
        repair_cafe = await self.service(
            ASSOCIATION,
            kind="repair",
            direction="offer",
            title="Repair café du premier samedi du mois",
            minutes_estimate=60,
        )
        bike_service = await self.service(
            BIKE_SHOP,
            kind="repair",
            direction="offer",
            title="Révision de vélo au juste prix",
            minutes_estimate=45,
        )
        gardening = await self.service(
            "vlm-r26",
            kind="gardening",
            direction="request",
            title="Aide pour tailler la haie avant l'hiver",
            minutes_estimate=120,
        )
        tutoring = await self.service(
            "vlm-r11",
            kind="tutoring",
            direction="offer",
            title="Soutien en maths (collège)",
            minutes_estimate=60,
        )
        await self.service(
            "vlm-r19",
            kind="help_at_home",
            direction="request",
            title="Quelqu'un pour monter une armoire ?",
            minutes_estimate=90,
        )
        await self.service(
            CAFE,
            kind="group_purchase",
            direction="offer",
            title="Commande groupée de café en vrac",
        )
        done = 0
        for key, receiver, passengers in (
            ("carpool-1", "vlm-r05", 1),
            ("carpool-2", "vlm-r08", 2),
            ("carpool-3", "vlm-r30", 1),
        ):
            await self.complete(carpool, receiver, key, minutes=20, km=9.5, passengers=passengers)
            done += 1
        await self.complete(weekend, "vlm-r16", "carpool-4", minutes=30, km=14.0, passengers=2)
        done += 1
        for key, receiver, category in (
            ("repair-1", "vlm-r10", "vacuum_cleaner"),
            ("repair-2", "vlm-r09", "kitchen_appliance"),
            ("repair-3", "vlm-r12", "electronics_other"),
        ):
            await self.complete(repair_cafe, receiver, key, minutes=60, repaired_category=category)
            done += 1
        await self.complete(
            bike_service,
            "vlm-r22",
            "repair-4",
            minutes=45,
            repaired_category="bike",
            settle_in_credits=False,
        )
        await self.complete(gardening, "vlm-r26", "gardening-1", minutes=120, provider_id="vlm-r28")
        await self.complete(tutoring, "vlm-r09", "tutoring-1", minutes=60)
        done += 3
        for n, (payer, payee, minutes, memo) in enumerate(
            (
                ("vlm-r01", "vlm-r02", 30, "Merci pour les courses"),
                ("vlm-r17", "vlm-r18", 45, "Garde du chat"),
                ("vlm-r25", CAFE, 60, "Coup de main à la fête des Vergers"),
            )
        ):
            await self.api.call(
                "exchange",
                "POST",
                "/transfers",
                who=self.member(payer),
                headers={"Idempotency-Key": f"valmont-demo-gift-{n}"},
                json={"to_member": payee, "minutes": minutes, "memo": memo, "reason": "gift"},
            )
        self.summary["services"] = {"listed": 8, "completed": done, "gifts": 3}

    # --- participatory budget ------------------------------------------------------------

    def eligible_population(self) -> dict[str, int]:
        return eligible_population_of()

    async def edition(self, name: str, city_cents: int, district_cents: int) -> dict:
        edition = await self.api.call(
            "budget",
            "POST",
            "/editions",
            who=self.staff,
            json={
                "keyholders": list(KEYHOLDERS),
                "threshold": 2,
                "name": name,
                "envelopes": [
                    {"name": "Toute la ville", "district": None, "amount_cents": city_cents},
                    {"name": "La Colline", "district": "colline", "amount_cents": district_cents},
                    {
                        "name": "Quartier de la Gare",
                        "district": "gare",
                        "amount_cents": district_cents,
                    },
                ],
                "rule": "mes",
                "ballot_format": {"kind": "approval", "min_projects": 1, "max_projects": 3},
                "eligible_population": self.eligible_population(),
            },
        )
        self.shares[edition["id"]] = [k["share"] for k in edition.get("keyholder_shares", [])]
        return edition

    async def phase(self, edition: dict, phase: str) -> None:
        await self.api.call(
            "budget",
            "POST",
            f"/editions/{edition['id']}/phase",
            who=self.staff,
            json={"phase": phase},
        )

    async def proposals(
        self, edition: dict, proposals: list[tuple[str, str, str | None, int, bool]]
    ) -> list[dict]:
        """(author, title, district or None for city-wide, cost, feasible) → submitted."""
        envelopes = {e["district"]: e["id"] for e in edition["envelopes"]}
        await self.phase(edition, "proposals")
        out = []
        for author, title, district, cost, feasible in proposals:
            made = await self.api.call(
                "budget",
                "POST",
                f"/editions/{edition['id']}/proposals",
                who=self.resident(author),
                json={
                    "title": title,
                    "description": f"{title}. Proposé par un habitant de Valmont.",
                    "envelope_id": envelopes[district],
                    "proposed_cost_cents": cost,
                },
            )
            out.append({**made, "cost": cost, "feasible": feasible, "district": district})
        await self.phase(edition, "pre_selection")
        supporters = [r[0] for r in RESIDENTS]
        supports = 0
        for proposal in out:
            district = proposal["district"]
            fans = [s for s in supporters if district is None or _neighbourhood_of(s) == district]
            for supporter in self.rng.sample(fans, k=min(len(fans), self.rng.randint(1, 4))):
                await self.api.call(
                    "budget",
                    "POST",
                    f"/editions/{edition['id']}/proposals/{proposal['id']}/supports",
                    who=self.resident(supporter),
                )
                supports += 1
        await self.phase(edition, "assessment")
        for proposal in out:
            body = (
                {
                    "feasible": True,
                    "reason": "Faisable : chiffré par les services techniques.",
                    "cost_cents": proposal["cost"],
                }
                if proposal["feasible"]
                else {
                    "feasible": False,
                    "reason": "Hors compétence communale (voirie départementale).",
                }
            )
            await self.api.call(
                "budget",
                "POST",
                f"/editions/{edition['id']}/proposals/{proposal['id']}/assessment",
                who=self.reviewer,
                json=body,
            )
        await self.phase(edition, "voting")
        self.summary.setdefault("pb_supports", 0)
        self.summary["pb_supports"] += supports
        return out

    async def ballots(self, edition: dict, proposals: list[dict], paper: int, tag: str) -> int:
        """Every demo resident votes online; `paper` more residents vote at the town hall."""
        feasible: dict[str | None, list[str]] = {}
        for p in proposals:
            if p["feasible"]:
                feasible.setdefault(p["district"], []).append(p["id"])
        envelopes = {e["district"]: e["id"] for e in edition["envelopes"]}
        cast = 0

        def pick(district: str | None) -> list[str]:
            options = feasible[district]
            return self.rng.sample(options, k=min(len(options), self.rng.randint(1, 3)))

        for member_id, _, neighbourhood in RESIDENTS:
            for district in (None, neighbourhood):
                if district not in envelopes or district not in feasible:
                    continue
                await self.api.call(
                    "budget",
                    "POST",
                    f"/editions/{edition['id']}/ballots",
                    who=self.resident(member_id),
                    json={"envelope_id": envelopes[district], "projects": pick(district)},
                )
                cast += 1
        codes = list(self.eligible_population())
        for n in range(paper):
            neighbourhood = codes[n % len(codes)]
            registered = await self.api.call(
                "budget",
                "POST",
                f"/editions/{edition['id']}/desk/voters",
                who=self.staff,
                json={"identity": f"CNI vlm-paper-{tag}-{n:03d}", "neighbourhood": neighbourhood},
            )
            for district in (None, neighbourhood):
                if district not in envelopes or district not in feasible:
                    continue
                await self.api.call(
                    "budget",
                    "POST",
                    f"/editions/{edition['id']}/desk/ballots",
                    who=self.staff,
                    json={
                        "envelope_id": envelopes[district],
                        "projects": pick(district),
                        "voter_id": registered["voter_id"],
                    },
                )
                cast += 1
        return cast

    async def previous_edition(self) -> dict:
        edition = await self.edition(PREVIOUS_EDITION, 200_000_00, 40_000_00)
        proposals = await self.proposals(
            edition,
            [
                ("vlm-r01", "Des bancs et de l'ombre place du Marché", None, 45_000_00, True),
                ("vlm-r09", "Une passerelle piétonne sur la Vaume", None, 180_000_00, True),
                ("vlm-r21", "Pistes cyclables sécurisées vers le lycée", None, 95_000_00, True),
                ("vlm-r17", "Jardins partagés au Faubourg Nord", None, 30_000_00, True),
                ("vlm-r25", "Fontaines à eau dans les parcs", None, 18_000_00, True),
                ("vlm-r03", "Rond-point paysager sur la départementale", None, 60_000_00, False),
                ("vlm-r13", "Aire de jeux rénovée à la Colline", "colline", 28_000_00, True),
                ("vlm-r14", "Éclairage solaire du chemin des crêtes", "colline", 15_000_00, True),
                ("vlm-r05", "Abri vélos sécurisé à la gare", "gare", 22_000_00, True),
                ("vlm-r07", "Fresque participative du passage souterrain", "gare", 9_000_00, True),
            ],
        )
        ballots = await self.ballots(edition, proposals, paper=60, tag="2025")
        await self.phase(edition, "results")
        results = await self.api.call(
            "budget",
            "POST",
            f"/editions/{edition['id']}/results",
            who=self.staff,
            json={"shares": self.shares[edition["id"]][:2]},  # two keyholders of three
        )
        await self.phase(edition, "delivery")
        selected = [pid for env in results["envelopes"] for pid in env["selected"]]
        year = self.today.year
        delivered = 0
        for n, proposal_id in enumerate(selected):
            steps = [("planned", date(year, 1, 15))]
            if n % 3 != 2:
                steps.append(("in_progress", date(year, 3, 1)))
            if n % 3 == 0:
                steps.append(("delivered", min(self.today, date(year, 6, 30))))
                delivered += 1
            for status, on in steps:
                await self.api.call(
                    "budget",
                    "POST",
                    f"/editions/{edition['id']}/proposals/{proposal_id}/milestones",
                    who=self.staff,
                    json={"status": status, "on": on.isoformat(), "note": "Suivi des travaux"},
                )
        self.summary["pb_previous"] = {
            "edition_id": edition["id"],
            "proposals": len(proposals),
            "ballots": ballots,
            "selected": len(selected),
            "delivered": delivered,
            "leftover_cents": sum(env["leftover_cents"] for env in results["envelopes"]),
        }
        return results

    async def current_edition(self) -> None:
        edition = await self.edition(MARKER_EDITION, 250_000_00, 50_000_00)
        proposals = await self.proposals(
            edition,
            [
                ("vlm-r02", "Une halle couverte pour le marché du centre", None, 150_000_00, True),
                ("vlm-r10", "Berges de la Vaume accessibles à tous", None, 120_000_00, True),
                ("vlm-r18", "Boîtes à livres dans chaque quartier", None, 6_000_00, True),
                ("vlm-r22", "Parcours sportif au Plateau", None, 40_000_00, True),
                ("vlm-r26", "Verger communal ouvert aux écoles", None, 25_000_00, True),
                ("vlm-r29", "Navette électrique vers la Zone Est", None, 90_000_00, True),
                ("vlm-r19", "Un tiers-lieu de réparation au Faubourg", None, 70_000_00, True),
                ("vlm-r11", "Toilettes publiques au bord de l'eau", None, 35_000_00, True),
                ("vlm-r04", "Parking relais sur la nationale", None, 400_000_00, False),
                ("vlm-r15", "Skatepark de la Colline", "colline", 45_000_00, True),
                ("vlm-r16", "Arbres fruitiers rue des Lilas", "colline", 8_000_00, True),
                ("vlm-r06", "Parvis de la gare végétalisé", "gare", 38_000_00, True),
                ("vlm-r08", "Local associatif pour les jeunes de la Gare", "gare", 30_000_00, True),
            ],
        )
        ballots = await self.ballots(edition, proposals, paper=40, tag="2026")
        self.summary["pb_current"] = {
            "edition_id": edition["id"],
            "phase": "voting",
            "proposals": len(proposals),
            "assessed": len(proposals),
            "ballots": ballots,
        }

    # --- crowdfunding --------------------------------------------------------------------

    async def campaign(
        self,
        holder: dict[str, str],
        *,
        rewards: list[dict],
        launch: bool = True,
        **body: Any,
    ) -> dict:
        call = self.api.call
        campaign = await call("crowdfunding", "POST", "/campaigns", who=holder, json=body)
        for reward in rewards:
            await call(
                "crowdfunding",
                "POST",
                f"/campaigns/{campaign['id']}/rewards",
                who=holder,
                json=reward,
            )
        campaign = await call(
            "crowdfunding", "POST", f"/campaigns/{campaign['id']}/submit", who=holder
        )
        if not launch:
            return campaign
        review = await call(
            "crowdfunding",
            "POST",
            f"/campaigns/{campaign['id']}/review",
            who=self.reviewer,
            json={"note": "Projet local, budget cohérent."},
        )
        if not review["approved"]:
            raise DemoError(f"demo campaign rejected: {review['reasons']}")
        return await call("crowdfunding", "POST", f"/campaigns/{campaign['id']}/launch", who=holder)

    async def pledge(self, campaign: dict, backer: str, amount: int, reward: str | None = None):
        body = {"amount_cents": amount, "card_token": "tok_instant", "reward_id": reward}
        return await self.api.call(
            "crowdfunding",
            "POST",
            f"/campaigns/{campaign['id']}/pledges",
            who=self.member(backer),
            json=body,
        )

    async def leftover_pool(self, previous: dict | None, wait: float) -> dict | None:
        """The 2025 city-wide leftover as a match pool, once the crowdfunding service has
        consumed `budget.results.published` (bounded wait: skipped if it is late)."""
        if previous is None:
            return None
        city = next(e for e in previous["envelopes"] if e["district"] is None)
        if city["leftover_cents"] <= 0:
            return None
        edition_id = self.summary["pb_previous"]["edition_id"]
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            rows = await self.api.call("crowdfunding", "GET", "/budget-leftovers", who=self.staff)
            if any(
                r.get("edition_id") == edition_id and r.get("envelope_id") == city["envelope_id"]
                for r in rows
            ):
                break
            if asyncio.get_running_loop().time() > deadline:
                return None
            await asyncio.sleep(0.2)
        return await self.api.call(
            "crowdfunding",
            "POST",
            f"/budget-leftovers/{edition_id}/{city['envelope_id']}/match-pool",
            who=self.staff,
            json={
                "name": "Reliquat du budget participatif 2025",
                "match_factor": "0.5",
                "cap_per_pledge_cents": 50_00,
                "residents_only": True,
            },
        )

    async def campaign_history(self) -> None:
        """Campaigns Valmont ran before the platform, recorded by staff with their dates."""
        now = datetime.now(UTC)
        recorded, this_year = [], []
        for i, closed in enumerate(dict(c) for c in HISTORICAL_CAMPAIGNS):
            closed_at = now - timedelta(days=closed.pop("closed_days_ago"))
            earlier = closed.pop("earlier", False)
            if closed_at.year != now.year and not earlier:  # keep them in this year's report
                closed_at = now - timedelta(hours=i + 1)
            launched_at = closed_at - timedelta(days=closed.pop("duration_days"))
            body = {
                **closed,
                "launched_at": launched_at.isoformat(),
                "closed_at": closed_at.isoformat(),
            }
            campaign = await self.api.call(
                "crowdfunding", "POST", "/campaigns/history", who=self.staff, json=body
            )
            recorded.append(campaign)
            if closed_at.year == now.year:
                this_year.append(campaign)
        self.summary["campaign_history"] = {
            "campaigns": len(recorded),
            "succeeded": sum(r["state"] == "paid_out" for r in recorded),
            # What this year's report shows as raised: the successes that closed this year.
            "raised_cents": sum(r["raised_cents"] for r in this_year if r["state"] == "paid_out"),
        }

    async def practices(self, items: list[dict]) -> None:
        """Citizen energy units, a regular carpool, a booking ahead and a debate."""
        done = {
            "energy": await demo_practices.energy_cooperative(
                self, ENERGY_COOP, backers=[m for m, _, _ in RESIDENTS[1::3]]
            ),
            "carpool": await demo_practices.carpool(
                self, "vlm-r06", passengers=["vlm-r29", "vlm-r30"]
            ),
            "booking_ahead": await demo_practices.booking_ahead(
                self, items[2], owner=ITEMS[2][0], borrower="vlm-r04"
            ),
        }
        if "portal" in self.api.urls:
            done["comments"] = await demo_practices.debate(
                self, self.api.urls["portal"], DEMO_PASSWORD, self.live_campaign["id"]
            )
        self.summary["practices"] = done

    async def portal_accounts(self) -> None:
        """Log-ins for the demo's people on the portal (when it runs), one shared password."""
        if "portal" not in self.api.clients:
            return
        admin = self.api.auth(ADMIN, "admin", neighbourhood="centre")
        streets = _demo_streets()
        people = [
            (ADMIN, "Administratrice de la plateforme", "centre", ["admin"]),
            (STAFF, "Accueil de la mairie", "centre", ["staff", "reviewer"]),
            (DESK, "Guichet de la mairie (saisie papier)", "centre", ["staff"]),
            (REVIEWER, "Service des projets", "centre", ["reviewer"]),
            *((mid, name, nbhd, ["resident"]) for mid, name, nbhd in RESIDENTS),
            # Associations and shops log in too, as organisations (they hold campaigns).
            *((mid, name, nbhd, ["organisation"]) for mid, name, nbhd in ORGANISATIONS),
        ]
        for member_id, name, nbhd, roles in people:
            await self.api.call(
                "portal",
                "POST",
                "/api/accounts",
                who=admin,
                expect=(201, 409),
                json={
                    "id": member_id,
                    "email": f"{member_id}@valmont.example",
                    "display_name": name,
                    "password": DEMO_PASSWORD,
                    "address": f"{len(name)} {streets[nbhd]}",
                    "roles": roles,
                    "verified": True,
                },
            )
        self.summary["portal_accounts"] = len(people)

    async def crowdfunding(self, previous: dict | None) -> None:
        call = self.api.call
        pool = await call(
            "crowdfunding",
            "POST",
            "/match-pools",
            who=self.staff,
            json={
                "name": "Fonds municipal de doublement 2026",
                "budget_cents": 3_000_00,
                "match_factor": "1",
                "cap_per_backer_cents": 50_00,
                "cap_per_project_cents": 2_000_00,
                "residents_only": True,
            },
        )
        bikes = await self.campaign(
            self.organisation(ASSOCIATION),
            title="Un atelier vélo solidaire à la Gare",
            description=(
                "Outils, pièces et un local pour apprendre à réparer son vélo, "
                "animé par des bénévoles de Valmont en Transition."
            ),
            category="solidarity",
            neighbourhood=CAMPAIGN_NEIGHBOURHOOD,
            goal_cents=6_000_00,
            duration_days=30,
            rewards=[
                {"title": "Un badge et un grand merci", "min_cents": 10_00},
                {"title": "Une révision de vélo offerte", "min_cents": 40_00, "stock": 30},
            ],
        )
        await call(
            "crowdfunding",
            "POST",
            f"/campaigns/{bikes['id']}/match-pool",
            who=self.staff,
            json={"pool_id": pool["id"]},
        )
        terrace = await self.campaign(
            self.organisation(CAFE),
            title="La terrasse partagée du Café des Vergers",
            description="Une terrasse en bois de pays, ouverte aux associations du quartier.",
            category="local-business",
            neighbourhood="vergers",
            goal_cents=2_500_00,
            duration_days=45,
            rewards=[{"title": "Un café suspendu par mois pendant un an", "min_cents": 25_00}],
        )
        self.live_campaign = bikes
        reward_ids = {
            "bikes": [
                r["id"]
                for r in (await call("crowdfunding", "GET", f"/campaigns/{bikes['id']}", who={}))[
                    "rewards"
                ]
            ],
        }
        pledged = 0
        pledges = 0
        backers = [r[0] for r in RESIDENTS[::2]] + [BIKE_SHOP]
        for n, backer in enumerate(backers):
            amount = (20_00, 40_00, 50_00, 75_00, 100_00)[n % 5]
            reward = reward_ids["bikes"][1] if amount >= 40_00 else reward_ids["bikes"][0]
            await self.pledge(bikes, backer, amount, reward)
            pledged += amount
            pledges += 1
        await call(
            "crowdfunding",
            "POST",
            f"/campaigns/{bikes['id']}/desk-pledges",
            who=self.staff,
            json={
                "backer_id": "vlm-r20",
                "backer_kind": "resident",
                "verified_resident": True,
                "backer_neighbourhood": "faubourg",
                "amount_cents": 30_00,
                "method": "cash",
            },
        )
        pledged += 30_00
        pledges += 1
        leftover_pool = await self.leftover_pool(previous, wait=10.0)
        if leftover_pool is not None:
            await call(
                "crowdfunding",
                "POST",
                f"/campaigns/{terrace['id']}/match-pool",
                who=self.staff,
                json={"pool_id": leftover_pool["id"]},
            )
        for n, backer in enumerate([r[0] for r in RESIDENTS[1::3]]):
            amount = (15_00, 25_00, 30_00)[n % 3]
            await self.pledge(terrace, backer, amount)
            pledged += amount
            pledges += 1
        await self.campaign(
            self.resident("vlm-r23"),
            title="Une fresque pour le château d'eau du Plateau",
            description="Des artistes du quartier et les enfants de l'école Jean-Zay.",
            category="culture",
            neighbourhood="plateau",
            goal_cents=3_500_00,
            duration_days=40,
            rewards=[],
            launch=False,
        )
        self.summary["crowdfunding"] = {
            "live_campaigns": 2,
            "awaiting_review": 1,
            "pledges": pledges,
            "pledged_cents": pledged,
            "match_pools": 1 + (leftover_pool is not None),
            "succeeded": 0,
        }

    # --- all -----------------------------------------------------------------------------

    async def already_loaded(self) -> bool:
        editions = await self.api.call("budget", "GET", "/editions", who={})
        if any(e["name"] == MARKER_EDITION for e in editions):
            return True
        staff = await self.api.call(
            "exchange", "GET", f"/members/{STAFF}", who=self.staff, expect=(200, 404)
        )
        if staff.get("id") == STAFF:
            # People exist but not the last step: an earlier load stopped midway. Loading
            # again would list every item twice; refuse rather than duplicate.
            raise DemoError(
                "An earlier demo load stopped before its end (the demo's members exist but not "
                f"the edition {MARKER_EDITION!r}). Empty the databases (var/) and start again."
            )
        return False

    async def load(self) -> dict[str, Any]:
        await self.people()
        items = await self.items()
        await self.loans(items)
        await self.past(items)
        await self.services()
        previous = await self.previous_edition()
        await self.campaign_history()
        await self.crowdfunding(previous)
        await self.portal_accounts()
        await self.practices(items)
        await self.current_edition()  # last: its edition is the "already loaded" marker
        return self.summary


async def load_demo(urls: dict[str, str], settings: Settings) -> dict[str, Any]:
    """Load Valmont through the services at `urls` (service name → base URL), once.

    Returns a summary of what was created; on a second call, `{"already_loaded": True, ...}`
    with the first summary (when var/demo.json is still there) and nothing new is created."""
    api = DemoClients(urls, settings)
    summary_path = settings.var_dir / SUMMARY_FILE
    try:
        demo = Demo(api)
        if await demo.already_loaded():
            previous = {}
            if summary_path.exists():
                previous = json.loads(summary_path.read_text())
            return {**previous, "already_loaded": True}
        summary = await demo.load()
        summary["already_loaded"] = False
        summary["loaded_at"] = datetime.now(UTC).isoformat()
        summary_path.parent.mkdir(parents=True, exist_ok=True)
        summary_path.write_text(json.dumps(summary, indent=2))
        return summary
    finally:
        await api.aclose()


def load_demo_sync(urls: dict[str, str], settings: Settings) -> dict[str, Any]:
    """`load_demo` for synchronous callers (the supervisor, the CLI)."""
    return asyncio.run(load_demo(urls, settings))
