"""The demo territory: Valmont, a fictional mid-sized city, loaded through the services' APIs.

`load_demo(urls, settings)` drives the exchange, crowdfunding and budget services over HTTP,
exactly as residents, organisations and staff would, so every event flows through the outbox
and JetStream to the impact service. Nothing is written to a database directly.
The town itself (who lives there, what they lend, their campaigns, proposals and texts) is
sharitories/demo_town.toml; this module holds the steps that load it.

What it creates (all people and places are fictional):
- ~30 residents spread over Valmont's neighbourhoods (codes from libs/common/territory.toml),
  four organisations (an association, a bike shop, a café, an energy cooperative) and the
  town hall's staff member, desk clerk, reviewer and admin;
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
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from libs.common.auth import mint_token
from libs.common.settings import Settings
from libs.common.territory import neighbourhoods
from sharitories import demo_practices
from sharitories.demo_history import past_activity
from sharitories.demo_practices import DemoError

# The town's data: people, items, loans, services, campaigns, editions and the phrases they
# repeat. The steps below only drive the services' APIs with it.
TOWN_FILE = Path(__file__).with_name("demo_town.toml")
TOWN: dict[str, Any] = tomllib.loads(TOWN_FILE.read_text(encoding="utf-8"))
TEXTS: dict[str, str] = TOWN["texts"]

MARKER_EDITION: str = TOWN["budget"]["current"]["name"]
PREVIOUS_EDITION: str = TOWN["budget"]["previous"]["name"]
SUMMARY_FILE = "demo.json"

TOWN_HALL: dict[str, dict[str, Any]] = TOWN["town_hall"]["people"]
TOWN_HALL_NEIGHBOURHOOD: str = TOWN["town_hall"]["neighbourhood"]
STAFF: str = TOWN_HALL["staff"]["id"]
REVIEWER: str = TOWN_HALL["reviewer"]["id"]
DESK: str = TOWN_HALL["desk"]["id"]
ADMIN: str = TOWN_HALL["admin"]["id"]
KEYHOLDERS: tuple[str, ...] = tuple(TOWN["budget"]["keyholders"])
ASSOCIATION: str = TOWN["organisations"]["association"]["id"]
BIKE_SHOP: str = TOWN["organisations"]["bike_shop"]["id"]
CAFE: str = TOWN["organisations"]["cafe"]["id"]
ENERGY_COOP: str = TOWN["organisations"]["energy_coop"]["id"]

# Every demo person logs in on the portal as <member id>@valmont.example with this password.
DEMO_PASSWORD: str = TOWN["password"]

# Campaigns the city ran before the platform opened, closed some weeks ago.
HISTORICAL_CAMPAIGNS: list[dict[str, Any]] = TOWN["past_campaigns"]


def _rows(section: str, table: str) -> list[Any]:
    """A table of the town file whose rows are arrays, as tuples."""
    return [tuple(row) for row in TOWN[section][table]]


# (member id, display name, neighbourhood)
RESIDENTS: list[tuple[str, str, str]] = _rows("people", "residents")
ORGANISATIONS: list[tuple[str, str, str]] = [
    (o["id"], o["name"], o["neighbourhood"]) for o in TOWN["organisations"].values()
]
# (owner, title, category, condition, max_loan_days, deposit in cents)
ITEMS: list[tuple[str, str, str, str, int, int]] = _rows("exchange", "items")
# Completed loans: (item index, borrower, planned days, return condition)
COMPLETED_LOANS: list[tuple[int, str, int, str]] = _rows("exchange", "completed_loans")
# Active loans (picked up, not yet returned), accepted ones, a declined and a requested one:
# (item index, borrower, planned days).
ACTIVE_LOANS: list[tuple[int, str, int]] = _rows("exchange", "active_loans")
ACCEPTED_LOANS: list[tuple[int, str, int]] = _rows("exchange", "accepted_loans")
DECLINED_LOANS: list[tuple[int, str, int]] = _rows("exchange", "declined_loans")
REQUESTED_LOANS: list[tuple[int, str, int]] = _rows("exchange", "requested_loans")

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
        return self.api.auth(STAFF, "staff", neighbourhood=TOWN_HALL_NEIGHBOURHOOD)

    @property
    def reviewer(self) -> dict[str, str]:
        return self.api.auth(REVIEWER, "reviewer", neighbourhood=TOWN_HALL_NEIGHBOURHOOD)

    async def people(self) -> None:
        call = self.api.call
        await call("exchange", "GET", "/members/me", who=self.staff)
        # The town hall's other personas are members too (their first portal visit would
        # otherwise make them join then).
        for member_id, role in ((DESK, "staff"), (REVIEWER, "reviewer"), (ADMIN, "admin")):
            who = self.api.auth(member_id, role, neighbourhood=TOWN_HALL_NEIGHBOURHOOD)
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
                        "description": TEXTS["item_description"].format(title=title.lower()),
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
                "message": TEXTS["loan_message"],
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
            await self.act(
                loan, lender(i), "return", condition=condition, notes=TEXTS["return_notes"]
            )
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
        """The time bank's services (TOWN["services"]), then their completions, then gifts."""
        listed = []
        for entry in TOWN["services"]:
            body = dict(entry)
            lister, completions = body.pop("lister"), body.pop("completions", [])
            listed.append((await self.service(lister, **body), completions))
        done = 0
        for service, completions in listed:
            for completion in completions:
                facts = dict(completion)
                receiver, key = facts.pop("receiver"), facts.pop("key")
                await self.complete(service, receiver, key, **facts)
                done += 1
        gifts = TOWN["time_bank"]["gifts"]
        for n, (payer, payee, minutes, memo) in enumerate(gifts):
            await self.api.call(
                "exchange",
                "POST",
                "/transfers",
                who=self.member(payer),
                headers={"Idempotency-Key": f"valmont-demo-gift-{n}"},
                json={"to_member": payee, "minutes": minutes, "memo": memo, "reason": "gift"},
            )
        self.summary["services"] = {"listed": len(listed), "completed": done, "gifts": len(gifts)}

    # --- participatory budget ------------------------------------------------------------

    def eligible_population(self) -> dict[str, int]:
        return eligible_population_of()

    async def edition(self, plan: dict[str, Any]) -> dict:
        """An edition of the town's budget (TOWN["budget"]) with `plan`'s name and amounts."""
        budget = TOWN["budget"]
        edition = await self.api.call(
            "budget",
            "POST",
            "/editions",
            who=self.staff,
            json={
                "keyholders": list(KEYHOLDERS),
                "threshold": budget["threshold"],
                "name": plan["name"],
                "envelopes": [
                    {
                        "name": budget["city_envelope"],
                        "district": None,
                        "amount_cents": plan["city_cents"],
                    },
                    *(
                        {"name": name, "district": district, "amount_cents": plan["district_cents"]}
                        for district, name in budget["district_envelopes"].items()
                    ),
                ],
                "rule": budget["rule"],
                "ballot_format": budget["ballot_format"],
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

    async def proposals(self, edition: dict, proposals: list[list[Any]]) -> list[dict]:
        """(author, title, district or "" for city-wide, cost, feasible) → submitted."""
        envelopes = {e["district"]: e["id"] for e in edition["envelopes"]}
        await self.phase(edition, "proposals")
        out = []
        for author, title, nbhd, cost, feasible in proposals:
            district = nbhd or None
            made = await self.api.call(
                "budget",
                "POST",
                f"/editions/{edition['id']}/proposals",
                who=self.resident(author),
                json={
                    "title": title,
                    "description": TEXTS["proposal_description"].format(title=title),
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
                    "reason": TEXTS["feasible"],
                    "cost_cents": proposal["cost"],
                }
                if proposal["feasible"]
                else {
                    "feasible": False,
                    "reason": TEXTS["not_feasible"],
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
        plan = TOWN["budget"]["previous"]
        edition = await self.edition(plan)
        proposals = await self.proposals(edition, plan["proposals"])
        ballots = await self.ballots(edition, proposals, plan["paper_ballots"], plan["tag"])
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
                    json={"status": status, "on": on.isoformat(), "note": TEXTS["milestone"]},
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
        plan = TOWN["budget"]["current"]
        edition = await self.edition(plan)
        proposals = await self.proposals(edition, plan["proposals"])
        ballots = await self.ballots(edition, proposals, plan["paper_ballots"], plan["tag"])
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
            json={"note": TEXTS["campaign_review"]},
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
            json=TOWN["crowdfunding"]["leftover_pool"],
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
        plan = TOWN["practices"]
        booking = plan["booking_ahead"]
        done = {
            "energy": await demo_practices.energy_cooperative(
                self, ENERGY_COOP, backers=[m for m, _, _ in RESIDENTS[1::3]], plan=plan["energy"]
            ),
            "carpool": await demo_practices.carpool(self, plan["carpool"]),
            "booking_ahead": await demo_practices.booking_ahead(
                self,
                items[booking["item"]],
                owner=ITEMS[booking["item"]][0],
                borrower=booking["borrower"],
                message=booking["message"],
            ),
        }
        if "portal" in self.api.urls:
            done["comments"] = await demo_practices.debate(
                self.api.urls["portal"],
                DEMO_PASSWORD,
                self.live_campaign["id"],
                plan["debate"]["comments"],
            )
        self.summary["practices"] = done

    async def portal_accounts(self) -> None:
        """Log-ins for the demo's people on the portal (when it runs), one shared password."""
        if "portal" not in self.api.clients:
            return
        admin = self.api.auth(ADMIN, "admin", neighbourhood=TOWN_HALL_NEIGHBOURHOOD)
        streets = _demo_streets()
        people = [
            *(
                (p["id"], p["name"], TOWN_HALL_NEIGHBOURHOOD, p["roles"])
                for p in TOWN_HALL.values()
            ),
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

    async def planned_campaign(self, name: str, *, launch: bool = True) -> dict:
        """The campaign `name` of TOWN["crowdfunding"], made by its holder."""
        body = dict(TOWN["crowdfunding"][name])
        holder = body.pop("holder")
        for plan_only in ("pledges_cents", "desk_pledge"):
            body.pop(plan_only, None)
        return await self.campaign(self.member(holder), launch=launch, **body)

    async def crowdfunding(self, previous: dict | None) -> None:
        call = self.api.call
        plan = TOWN["crowdfunding"]
        pool = await call(
            "crowdfunding", "POST", "/match-pools", who=self.staff, json=plan["match_pool"]
        )
        bikes = await self.planned_campaign("bikes")
        await call(
            "crowdfunding",
            "POST",
            f"/campaigns/{bikes['id']}/match-pool",
            who=self.staff,
            json={"pool_id": pool["id"]},
        )
        terrace = await self.planned_campaign("terrace")
        self.live_campaign = bikes
        reward_ids = [
            r["id"]
            for r in (await call("crowdfunding", "GET", f"/campaigns/{bikes['id']}", who={}))[
                "rewards"
            ]
        ]
        pledged = 0
        pledges = 0
        backers = [r[0] for r in RESIDENTS[::2]] + [BIKE_SHOP]
        amounts = plan["bikes"]["pledges_cents"]
        for n, backer in enumerate(backers):
            amount = amounts[n % len(amounts)]
            # The best reward the amount reaches.
            reward = [
                rid
                for rid, r in zip(reward_ids, plan["bikes"]["rewards"], strict=True)
                if amount >= r["min_cents"]
            ][-1]
            await self.pledge(bikes, backer, amount, reward)
            pledged += amount
            pledges += 1
        desk_pledge = plan["bikes"]["desk_pledge"]
        await call(
            "crowdfunding",
            "POST",
            f"/campaigns/{bikes['id']}/desk-pledges",
            who=self.staff,
            json=desk_pledge,
        )
        pledged += desk_pledge["amount_cents"]
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
        amounts = plan["terrace"]["pledges_cents"]
        for n, backer in enumerate([r[0] for r in RESIDENTS[1::3]]):
            amount = amounts[n % len(amounts)]
            await self.pledge(terrace, backer, amount)
            pledged += amount
            pledges += 1
        await self.planned_campaign("mural", launch=False)
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
