"""Who may call what: every route of every service × seven callers, as a table.

Each service gets one app on SQLite and a small world in which "olive" (the owner) owns
something of each kind; every route is then called by an anonymous caller, olive, another
resident, an organisation, a reviewer, staff and an admin, and the outcome class is
compared with the table (see tests/authz_table.py for the classes and the run order).

The tables are generated from each app's route list: a route that has no row makes the
test fail, so a new route is never shipped without deciding who may call it. To write the
row of a new route, run with AUTHZ_PRINT=1 and review what it prints before copying it.
"""

from __future__ import annotations

import os
import uuid

import pytest

from libs.common.clock import today as clock_today
from services.budget.app import create_app as budget_app
from services.crowdfunding.app import create_app as crowdfunding_app
from services.exchange.app import create_app as exchange_app
from services.exchange.testkit import ITEM, TODAY, day
from services.impact.app import create_app as impact_app
from tests.authz_table import Row, as_table, differences, observe, routes_of

OPS = {  # the shell every service shares: public, or guarded by the deployment
    "GET /healthz": Row("ok ok ok ok ok ok ok"),
    "GET /readyz": Row("ok ok ok ok ok ok ok"),
    "GET /metrics": Row("ok ok ok ok ok ok ok"),
}


@pytest.fixture
def db_backend() -> str:
    return "sqlite"  # authorisation does not depend on the database


def key(caller: str) -> dict[str, str]:
    return {"Idempotency-Key": f"authz-{caller}-{uuid.uuid4().hex[:8]}"}


async def check(service, table: dict[str, Row], world: dict[str, str]) -> None:
    missing = sorted(routes_of(service.app) - table.keys())
    stale = sorted(table.keys() - routes_of(service.app))
    assert not missing, f"routes without a row in the table: {missing}"
    assert not stale, f"rows for routes that no longer exist: {stale}"
    seen = await observe(service, table, world)
    if os.environ.get("AUTHZ_PRINT"):
        print(f"\n{service.name}:\n{as_table(seen)}")
    wrong = differences(table, seen)
    assert not wrong, "\n".join(wrong)


# --------------------------------------------------------------------------- exchange


async def exchange_world(service) -> dict[str, str]:
    client = service.client
    olive, bert = service.auth("olive"), service.auth("bert")
    for caller in (olive, bert, service.auth("oscar")):
        assert (await client.get("/accounts/me", headers=caller)).status_code == 200
    item = (await client.post("/items", json=ITEM, headers=olive)).json()
    loan = await client.post(
        "/loans",
        json={"item_id": item["id"], "starts_on": day(1), "due_on": day(3)},
        headers=bert,
    )
    offer = await client.post(
        "/services",
        json={"kind": "repair", "direction": "offer", "title": "Bike repair"},
        headers=olive,
    )
    transfer = await client.post(
        "/transfers", json={"to_member": "bert", "minutes": 10}, headers={**olive, **key("w")}
    )
    completion = await client.post(
        f"/services/{offer.json()['id']}/completions",
        json={"minutes": 15},
        headers={**bert, **key("w")},
    )
    report = await client.post(
        "/reports",
        json={"subject_type": "item", "subject_id": item["id"], "kind": "other", "detail": "x"},
        headers=olive,
    )
    carpool = await client.post(
        "/carpools",
        json={**CARPOOL, "weekdays": "1234567"},
        headers=olive,
    )
    trip = await client.post(
        f"/carpools/{carpool.json()['id']}/seats",
        json={"on": carpool.json()["next_trips"][0]["on"]},
        headers=bert,
    )
    for response in (loan, offer, transfer, completion, report, carpool, trip):
        assert response.status_code == 201, response.text
    return {
        "offer_id": carpool.json()["id"],
        "next_day": carpool.json()["next_trips"][1]["on"],
        "trip_id": trip.json()["id"],
        "member_id": "olive",
        "account_id": "olive",
        "item_id": item["id"],
        "loan_id": loan.json()["id"],
        "service_id": offer.json()["id"],
        "transfer_id": transfer.json()["id"],
        "completion_id": completion.json()["id"],
        "report_id": report.json()["id"],
    }


CARPOOL = {
    "origin": "centre",
    "destination": "north",
    "route_km": 8.0,
    "seats": 4,
    "departs_at": "08:00",
}

EXCHANGE = {
    # columns: anonymous owner other organisation reviewer staff admin ("owner" is olive)
    **OPS,
    "GET /members/me": Row("401 ok ok ok ok ok ok"),
    "PATCH /members/me": Row("401 ok ok ok ok ok ok", body={"display_name": "Olive"}),
    "POST /members": Row(
        "401 403 403 403 403 ok ok",
        body=lambda caller, w: {"id": f"m-{caller}", "kind": "resident", "neighbourhood": "c"},
    ),
    "GET /members/{member_id}": Row("401 ok ok ok ok ok ok"),
    "GET /categories": Row("ok ok ok ok ok ok ok"),
    "POST /items": Row("401 ok ok ok ok ok ok", body=ITEM),
    "GET /items": Row("ok ok ok ok ok ok ok"),
    "GET /items/{item_id}": Row("ok ok ok ok ok ok ok"),
    "PATCH /items/{item_id}": Row("401 ok 403 403 403 403 403", body={"title": "Drill"}),
    # Olive cannot borrow her own item (403); the others get 201 or 409 (the dates).
    "POST /loans": Row(
        "401 403 ok ok ok ok ok",
        body=lambda caller, w: {"item_id": w["item_id"], "starts_on": day(20), "due_on": day(21)},
    ),
    "GET /loans": Row("401 ok ok ok ok ok ok"),
    "GET /loans/{loan_id}": Row("401 ok 403 403 403 ok ok"),
    "POST /loans/{loan_id}/accept": Row("401 ok 403 403 403 403 403"),
    "POST /loans/{loan_id}/pick-up": Row("401 ok 403 403 403 403 403"),
    "POST /loans/{loan_id}/overdue": Row("401 ok 403 403 403 ok ok"),
    "POST /loans/{loan_id}/dispute": Row("401 ok 403 403 403 ok ok", body={"note": "late"}),
    "POST /loans/{loan_id}/return": Row("401 ok 403 403 403 ok ok", body={"condition": "good"}),
    "POST /loans/{loan_id}/decline": Row("401 ok 403 403 403 403 403"),
    "POST /loans/{loan_id}/cancel": Row("401 ok 403 403 403 ok ok"),
    "POST /loans/{loan_id}/rating": Row("401 ok 403 403 403 403 403", body={"score": 5}),
    "POST /loans/overdue-sweep": Row("401 403 403 403 403 ok ok"),
    "POST /loans/{loan_id}/deposit": Row("401 ok 403 403 403 ok ok", body={"state": "held"}),
    "GET /items/{item_id}/bookings": Row("ok ok ok ok ok ok ok"),
    "POST /carpools": Row("401 ok ok ok ok ok ok", body={**CARPOOL, "departs_on": day(2)}),
    "GET /carpools": Row("ok ok ok ok ok ok ok"),
    "GET /carpools/{offer_id}": Row("ok ok ok ok ok ok ok"),
    # The driver (olive) does not book her own car; the others book the second day.
    "POST /carpools/{offer_id}/seats": Row(
        "401 403 ok ok ok ok ok", body=lambda caller, w: {"on": w["next_day"]}
    ),
    "POST /carpools/{offer_id}/close": Row("401 ok 403 403 403 ok ok"),
    "GET /trips": Row("401 ok ok ok ok ok ok"),
    "GET /trips/{trip_id}": Row("401 ok 403 403 403 ok ok"),
    "POST /trips/{trip_id}/cancel-seat": Row("401 ok ok ok ok ok ok"),
    "POST /trips/{trip_id}/confirm": Row("401 ok 403 403 403 403 403", body={}),
    "POST /items/{item_id}/withdraw": Row("401 ok 403 403 403 ok ok"),
    "GET /accounts/me": Row("401 ok ok ok ok ok ok"),
    "GET /accounts/{account_id}": Row("401 ok 403 403 403 ok ok"),
    "PUT /accounts/{account_id}/limits": Row(
        "401 403 403 403 403 ok ok", body={"debit_limit": 1200, "credit_limit": 1200}
    ),
    "POST /transfers": Row(
        "401 ok ok ok ok ok ok", body={"to_member": "bert", "minutes": 1}, headers=key
    ),
    "GET /transfers/{transfer_id}": Row("401 ok 403 403 403 ok ok"),
    "POST /transfers/{transfer_id}/reverse": Row(
        "401 403 403 403 403 ok ok", body={"memo": "typo"}
    ),
    "POST /services": Row(
        "401 ok ok ok ok ok ok", body={"kind": "repair", "direction": "offer", "title": "Sewing"}
    ),
    "GET /services": Row("ok ok ok ok ok ok ok"),
    "GET /services/{service_id}": Row("ok ok ok ok ok ok ok"),
    "POST /services/{service_id}/completions": Row(
        "401 403 ok ok ok ok ok", body={"minutes": 5}, headers=key
    ),
    "POST /services/{service_id}/close": Row("401 ok 403 403 403 ok ok"),
    "POST /completions/{completion_id}/rating": Row(
        "401 ok 403 403 403 403 403", body={"score": 4}
    ),
    "POST /reports": Row(
        "401 ok 403 403 403 403 403",
        body=lambda caller, w: {
            "subject_type": "loan",
            "subject_id": w["loan_id"],
            "kind": "other",
            "detail": "x",
        },
    ),
    "GET /staff/reports": Row("401 403 403 403 403 ok ok"),
    "POST /staff/reports/{report_id}/close": Row(
        "401 403 403 403 403 ok ok", body={"resolution": "ok"}
    ),
    "POST /history/loans": Row(
        "401 403 403 403 403 ok ok",
        body=lambda caller, w: {
            "records": [
                {
                    "record_id": f"LE-{caller}",
                    "item_id": w["item_id"],
                    "borrower_id": "oscar",
                    "picked_up_on": "2025-05-03",
                    "returned_on": "2025-05-10",
                }
            ]
        },
    ),
    "POST /history/services": Row(
        "401 403 403 403 403 ok ok",
        body=lambda caller, w: {
            "records": [
                {
                    "record_id": f"TB-{caller}",
                    "kind": "repair",
                    "provider_id": "olive",
                    "receiver_id": "oscar",
                    "completed_on": "2025-05-03",
                    "minutes": 30,
                }
            ]
        },
    ),
}


async def test_exchange_routes_by_caller(service_factory):
    service = await service_factory("exchange", exchange_app)
    service.app.dependency_overrides[clock_today] = lambda: TODAY
    await check(service, EXCHANGE, await exchange_world(service))


# ----------------------------------------------------------------------- crowdfunding


CAMPAIGN = {"title": "Garden", "category": "solidarity", "goal_cents": 500_00, "duration_days": 30}


async def launched(service, holder: str) -> str:
    client, auth = service.client, service.auth(holder)
    created = await client.post("/campaigns", json=CAMPAIGN, headers=auth)
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    assert (await client.post(f"/campaigns/{campaign_id}/submit", headers=auth)).is_success
    review = await client.post(
        f"/campaigns/{campaign_id}/review", json={}, headers=service.auth("rita", "reviewer")
    )
    assert review.json()["approved"], review.text
    assert (await client.post(f"/campaigns/{campaign_id}/launch", headers=auth)).is_success
    return campaign_id


async def crowdfunding_world(service) -> dict[str, str]:
    """Olive holds a draft and a live campaign, and backs Holly's campaign."""
    client = service.client
    olive, staff = service.auth("olive"), service.auth("sam", "staff")
    draft = await client.post("/campaigns", json=CAMPAIGN, headers=olive)
    live_id, hollys = await launched(service, "olive"), await launched(service, "holly")
    pledge = await client.post(
        f"/campaigns/{hollys}/pledges",
        json={"amount_cents": 10_00, "card_token": "tok_instant"},
        headers=olive,
    )
    pool = await client.post(
        "/match-pools", json={"name": "City match", "budget_cents": 100_00}, headers=staff
    )
    reward = await client.post(
        f"/campaigns/{draft.json()['id']}/rewards",
        json={"title": "Mug", "min_cents": 20_00},
        headers=olive,
    )
    energy = await client.post("/energy-campaigns", json=ENERGY, headers=service.auth("holly"))
    assert energy.status_code == 201, energy.text
    energy_id = energy.json()["campaign_id"]
    for step, who in (("submit", "holly"), ("review", "rita"), ("launch", "holly")):
        auth = service.auth(who, "reviewer") if who == "rita" else service.auth(who)
        done = await client.post(f"/campaigns/{energy_id}/{step}", json={}, headers=auth)
        assert done.is_success, done.text
    evening = await client.post("/soup-evenings", json=soup_evening("world", {}), headers=staff)
    for response in (draft, pledge, pool, reward, evening):
        assert response.status_code == 201, response.text
    return {
        "energy_id": energy_id,
        "month": "2026-01",
        "evening_id": evening.json()["id"],
        "draft": draft.json()["id"],
        "reward_id": reward.json()["id"],
        "campaign_id": live_id,
        "pledge_id": pledge.json()["id"],
        "pool_id": pool.json()["id"],
        "edition_id": "no-edition",
        "envelope_id": "no-envelope",
        "provider": "sandbox",
    }


DRAFT = {"campaign_id": "draft"}
ENERGY = {
    "title": "Solar roof",
    "duration_days": 30,
    "technology": "solar_pv",
    "kwp": "36",
    "unit_price_cents": 325_00,
    "units": 100,
    "estimated_return_cents_per_unit_year": 30_00,
}
ENERGY_IDS = {"campaign_id": "energy_id"}
PRODUCTION_IDS = {"campaign_id": "energy_id", "month": "month"}


def soup_evening(caller, world) -> dict:
    return {
        "edition_id": f"soup-{caller}",
        "title": "Soup night",
        "neighbourhood": "centre",
        "entry_fee_cents": 10_00,
    }


CROWDFUNDING = {
    # columns: anonymous owner other organisation reviewer staff admin ("owner" is olive)
    **OPS,
    "POST /campaigns": Row("401 ok ok ok 403 ok ok", body=CAMPAIGN),
    "GET /campaigns": Row("ok ok ok ok ok ok ok"),
    # A draft is hidden (404) from everyone but its holder, reviewers and staff.
    "GET /campaigns/{campaign_id}": Row("404 ok 404 404 ok ok ok", ids=DRAFT),
    "PATCH /campaigns/{campaign_id}": Row(
        "401 ok 403 403 403 ok ok", body={"title": "Garden party"}, ids=DRAFT
    ),
    "POST /campaigns/{campaign_id}/rewards": Row(
        "401 ok 403 403 403 ok ok", body={"title": "Mug", "min_cents": 20_00}, ids=DRAFT
    ),
    "GET /campaigns/{campaign_id}/reviews": Row("401 ok 403 403 ok ok ok", ids=DRAFT),
    "POST /campaigns/{campaign_id}/review": Row("401 403 403 403 ok 403 ok", body={}, ids=DRAFT),
    "POST /campaigns/{campaign_id}/submit": Row("401 ok 403 403 403 ok ok", ids=DRAFT),
    "POST /campaigns/{campaign_id}/launch": Row("401 ok 403 403 403 ok ok", ids=DRAFT),
    "POST /campaigns/history": Row(
        "401 403 403 403 403 ok ok",
        body={
            "title": "Old fridge",
            "category": "food",
            "neighbourhood": "port",
            "holder_id": "org-x",
            "holder_kind": "organisation",
            "goal_cents": 900_00,
            "raised_cents": 950_00,
            "backers": 12,
            "launched_at": "2025-03-01T09:00:00+01:00",
            "closed_at": "2025-04-15T23:59:00+02:00",
        },
    ),
    "POST /campaigns/{campaign_id}/pledges": Row(
        "401 403 ok ok ok ok ok", body={"amount_cents": 5_00, "card_token": "tok_instant"}
    ),
    "POST /campaigns/{campaign_id}/desk-pledges": Row(
        "401 403 403 403 403 ok ok",
        body={"backer_id": "b9", "amount_cents": 5_00, "method": "cash"},
    ),
    "GET /campaigns/{campaign_id}/pledges": Row("401 ok 403 403 403 ok ok"),
    "GET /pledges/{pledge_id}": Row("401 ok 404 404 404 ok ok"),
    "POST /pledges/{pledge_id}/cancel": Row("401 ok 403 403 403 ok ok"),
    "POST /campaigns/{campaign_id}/payout": Row(
        "401 403 403 403 403 ok ok", body={"reference": "r"}
    ),
    "POST /campaigns/{campaign_id}/match-pool": Row(
        "401 403 403 403 403 ok ok", body=lambda caller, w: {"pool_id": w["pool_id"]}
    ),
    "POST /settlement/run": Row("401 403 403 403 403 ok ok"),
    "POST /match-pools": Row(
        "401 403 403 403 403 ok ok", body={"name": "Pool", "budget_cents": 1_00}
    ),
    "GET /match-pools": Row("ok ok ok ok ok ok ok"),
    "GET /match-pools/{pool_id}": Row("ok ok ok ok ok ok ok"),
    "GET /budget-leftovers": Row("401 403 403 403 403 ok ok"),
    # Staff only; there is no leftover in this world, hence 404 for staff.
    "POST /budget-leftovers/{edition_id}/{envelope_id}/match-pool": Row(
        "401 403 403 403 403 404 404", body={"name": "Leftover"}
    ),
    "GET /platform/commission-rate": Row("ok ok ok ok ok ok ok"),
    "PUT /platform/commission-rate": Row("401 403 403 403 403 ok ok", body={"rate": "0.05"}),
    "POST /payments/webhooks/{provider}": Row("ok ok ok ok ok ok ok", content=b"{}"),
    "GET /sandbox/webhooks": Row("401 403 403 403 403 ok ok"),
    "GET /me/pledges": Row("401 ok ok ok ok ok ok"),
    "PATCH /campaigns/{campaign_id}/rewards/{reward_id}": Row(
        "401 ok 403 403 403 ok ok", body={"title": "Mug"}, ids=DRAFT
    ),
    # Olive backs Holly's campaign: Holly (the holder) or staff deliver, olive confirms.
    "POST /pledges/{pledge_id}/reward-delivered": Row("401 403 403 403 403 ok ok"),
    "POST /pledges/{pledge_id}/reward-received": Row("401 ok 404 404 404 404 404"),
    "POST /sandbox/webhooks/dispatch": Row("401 403 403 403 403 ok ok"),
    "POST /energy-campaigns": Row("401 ok ok ok 403 ok ok", body=ENERGY),
    "GET /campaigns/{campaign_id}/energy": Row("ok ok ok ok ok ok ok", ids=ENERGY_IDS),
    "POST /campaigns/{campaign_id}/units": Row(
        "401 ok ok ok ok ok ok", body={"units": 1, "card_token": "tok_instant"}, ids=ENERGY_IDS
    ),
    "GET /campaigns/{campaign_id}/production": Row("ok ok ok ok ok ok ok", ids=ENERGY_IDS),
    "PUT /campaigns/{campaign_id}/production/{month}": Row(
        "401 403 403 403 403 ok ok", body={"kwh": "10"}, ids=PRODUCTION_IDS
    ),
    "POST /campaigns/{campaign_id}/production/import": Row(
        "401 403 403 403 403 ok ok", body={"csv": "month,kwh\n2026-01,5\n"}, ids=ENERGY_IDS
    ),
    "POST /soup-evenings": Row("401 403 403 403 403 ok ok", body=soup_evening),
    "GET /soup-evenings": Row("ok ok ok ok ok ok ok"),
    "GET /soup-evenings/{evening_id}": Row("ok ok ok ok ok ok ok"),
}


async def test_crowdfunding_routes_by_caller(service_factory):
    service = await service_factory("crowdfunding", crowdfunding_app)
    await check(service, CROWDFUNDING, await crowdfunding_world(service))


# ----------------------------------------------------------------------------- budget


async def budget_world(service) -> dict[str, str]:
    client, staff = service.client, service.auth("sam", "staff")
    edition = await client.post(
        "/editions",
        json={"name": "Valmont", "envelopes": [{"name": "City", "amount_cents": 100_000_00}]},
        headers=staff,
    )
    assert edition.status_code == 201, edition.text
    eid = edition.json()["id"]
    phase = await client.post(f"/editions/{eid}/phase", json={"phase": "proposals"}, headers=staff)
    assert phase.status_code == 200, phase.text
    proposal = await client.post(
        f"/editions/{eid}/proposals", json={"title": "Fountain"}, headers=service.auth("olive")
    )
    assert proposal.status_code == 201, proposal.text
    return {
        "edition_id": eid,
        "envelope_id": edition.json()["envelopes"][0]["id"],
        "proposal_id": proposal.json()["id"],
        "voter_id": "olive",
    }


def ballot(caller, world) -> dict:
    return {"envelope_id": world["envelope_id"], "projects": [world["proposal_id"]]}


BUDGET = {
    # columns: anonymous owner other organisation reviewer staff admin ("owner" is olive)
    **OPS,
    "POST /editions": Row(
        "401 403 403 403 403 ok ok",
        body={"name": "Next", "envelopes": [{"name": "City", "amount_cents": 1_00}]},
    ),
    "GET /editions": Row("ok ok ok ok ok ok ok"),
    "GET /editions/{edition_id}": Row("ok ok ok ok ok ok ok"),
    "POST /editions/{edition_id}/proposals": Row("401 ok ok ok ok ok ok", body={"title": "Bench"}),
    "POST /editions/{edition_id}/desk/proposals": Row(
        "401 403 403 403 403 ok ok", body={"title": "Paper bench", "author_id": "paper-1"}
    ),
    "GET /editions/{edition_id}/proposals": Row("ok ok ok ok ok ok ok"),
    "GET /editions/{edition_id}/proposals/{proposal_id}": Row("ok ok ok ok ok ok ok"),
    # Staff edit only paper proposals (issue 12); this one is olive's, made online.
    "PATCH /editions/{edition_id}/proposals/{proposal_id}": Row(
        "401 ok 403 403 403 403 403", body={"title": "Fountain, bigger"}
    ),
    "GET /editions/{edition_id}/proposals/{proposal_id}/history": Row("ok ok ok ok ok ok ok"),
    "POST /editions/{edition_id}/proposals/{proposal_id}/supports": Row("401 ok ok ok ok ok ok"),
    "POST /editions/{edition_id}/proposals/{proposal_id}/assessment": Row(
        "401 403 403 403 ok ok ok", body={"feasible": True, "reason": "ok", "cost_cents": 1_00}
    ),
    "POST /editions/{edition_id}/phase": Row("401 403 403 403 403 ok ok", body={"phase": "voting"}),
    "POST /editions/{edition_id}/ballots": Row("401 ok ok ok ok ok ok", body=ballot),
    "POST /editions/{edition_id}/desk/ballots": Row(
        "401 403 403 403 403 ok ok",
        body=lambda caller, w: {**ballot(caller, w), "voter": {"voter_id": f"desk-{caller}"}},
    ),
    "GET /editions/{edition_id}/participation/me": Row("401 ok ok ok ok ok ok"),
    "GET /editions/{edition_id}/supports/me": Row("401 ok ok ok ok ok ok"),
    "GET /editions/{edition_id}/desk/voters/{voter_id}": Row("401 403 403 403 403 ok ok"),
    # A receipt is the only key to a ballot: anyone may look one up; this one does not exist.
    "POST /receipts/lookup": Row("404 404 404 404 404 404 404", body={"receipt": "0123456789abc"}),
    "POST /editions/{edition_id}/results": Row("401 403 403 403 403 ok ok"),
    "GET /editions/{edition_id}/results": Row("404 404 404 404 404 404 404"),
    "POST /editions/{edition_id}/proposals/{proposal_id}/milestones": Row(
        "401 403 403 403 403 ok ok", body={"status": "planned", "on": "2030-01-01"}
    ),
    "GET /editions/{edition_id}/proposals/{proposal_id}/delivery": Row("ok ok ok ok ok ok ok"),
    "POST /editions/import": Row("401 403 403 403 403 ok ok", content=b"META\nkey;value\n"),
    "GET /editions/{edition_id}/export.pb": Row("ok ok ok ok ok ok ok"),
    # Counted trackers exist once results are published; none are in this world.
    "GET /editions/{edition_id}/trackers": Row("404 404 404 404 404 404 404"),
    "POST /editions/{edition_id}/desk/voters": Row(
        "401 403 403 403 403 ok ok", body={"identity": "ID-12345", "neighbourhood": "centre"}
    ),
    "POST /editions/{edition_id}/voting/extension": Row(
        "401 403 403 403 403 ok ok", body={"until": "2099-01-01", "reason": "more time"}
    ),
    "POST /soup-votes": Row(
        "401 403 403 403 403 ok ok",
        body={"name": "Soup night", "projects": [{"title": "Piano"}, {"title": "Seeds"}]},
    ),
}


async def test_budget_routes_by_caller(service_factory):
    service = await service_factory("budget", budget_app)
    await check(service, BUDGET, await budget_world(service))


# ----------------------------------------------------------------------------- impact

IMPACT = {
    # columns: anonymous owner other organisation reviewer staff admin ("owner" is olive)
    **OPS,
    "GET /indicators": Row("ok ok ok ok ok ok ok"),
    "GET /indicators/{key}": Row("ok ok ok ok ok ok ok"),
    "GET /report": Row("ok ok ok ok ok ok ok"),
}


async def test_impact_routes_by_caller(service_factory):
    service = await service_factory("impact", impact_app)
    await check(service, IMPACT, {"key": "environment.co2e_avoided_by_loans"})
