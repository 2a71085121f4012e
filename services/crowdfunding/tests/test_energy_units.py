# ruff: noqa: F811  (pytest fixtures imported from the lifecycle tests)
"""Citizen energy units over HTTP: units of an installation, no overselling, production."""

import asyncio
from datetime import date

import pytest
from sqlalchemy import select

from libs.common.messaging import outbox
from libs.common.rules import InputRefused as Invalid
from services.crowdfunding import domain
from services.crowdfunding.tests.test_crowdfunding_lifecycle import (  # noqa: F401
    PROBLEM,
    clock,
    service,
    staff,
)

TODAY = date(2026, 11, 27)


# --- domain ----------------------------------------------------------------------------


def test_month_parsing_and_kwh_to_whole_watt_hours():
    assert domain.parse_month("2026-03") == date(2026, 3, 1)
    assert domain.parse_month("2026-03-01") == date(2026, 3, 1)
    for bad in ("2026-13", "2026-3-15", "march", "", "26-03", "1999-12"):
        with pytest.raises(Invalid):
            domain.parse_month(bad)
    assert domain.kwh_to_wh("1234.5") == 1_234_500
    assert domain.kwh_to_wh("1234,567") == 1_234_567
    assert domain.kwh_to_wh("0") == 0
    for bad in ("-1", "1.2345", "abc", "NaN", "Infinity", "1e12"):
        with pytest.raises(Invalid):
            domain.kwh_to_wh(bad)


def test_energy_goal_is_every_unit_at_its_price():
    assert domain.energy_goal_cents(unit_price_cents=325_00, units=120) == 39_000_00
    with pytest.raises(Invalid):
        domain.energy_goal_cents(unit_price_cents=325_00, units=0)


def _csv_problem(text: str) -> dict:
    with pytest.raises(Invalid) as caught:
        domain.parse_production_csv(text, today=TODAY)
    refusal = caught.value  # the edge turns it into this problem document's members
    return {
        "code": refusal.code,
        "params": refusal.params or {},
        "errors": [{"field": refusal.field}],
    }


def test_csv_reads_commas_semicolons_bom_and_blank_lines():
    assert domain.parse_production_csv(
        "\ufeffmonth,kwh\n2026-01,1200.5\n\n2026-02,0\n", today=TODAY
    ) == [(date(2026, 1, 1), 1_200_500), (date(2026, 2, 1), 0)]
    assert domain.parse_production_csv('Month;kWh\n2026-03;"3 104,25"\n', today=TODAY) == [
        (date(2026, 3, 1), 3_104_250)
    ]


@pytest.mark.parametrize(
    "text, code, params",
    [
        ("", "energy.csv_empty", {}),
        ("month,kwh\n", "energy.csv_empty", {}),
        ("date,energy\n2026-01,1\n", "energy.csv_header", {"row": 1}),
        (
            "month,kwh\n2026-01,12\n2026-13,4\n",
            "energy.csv_row_invalid",
            {"row": 3, "field": "month"},
        ),
        ("month,kwh\n2026-01,-4\n", "energy.csv_row_invalid", {"row": 2, "field": "kwh"}),
        ("month,kwh\n2026-01\n", "energy.csv_row_invalid", {"row": 2, "field": "kwh"}),
        ("month,kwh\n2026-01,1,2\n", "energy.csv_row_invalid", {"row": 2, "field": "row"}),
        ("month,kwh\n2027-01,5\n", "energy.csv_row_invalid", {"row": 2, "field": "month"}),
        (
            "month,kwh\n2026-01,5\n\n2026-01,6\n",
            "energy.csv_duplicate_month",
            {"row": 4, "field": "month"},
        ),
    ],
)
def test_csv_bad_rows_name_their_row_and_field(text, code, params):
    problem = _csv_problem(text)
    assert problem["code"] == code and problem["params"] == params
    assert problem["errors"][0]["field"] == "body.csv"


def test_csv_longer_than_fifty_years_is_refused():
    rows = "\n".join(f"{2000 + i // 12}-{i % 12 + 1:02d},1" for i in range(601))
    assert _csv_problem("month,kwh\n" + rows)["code"] == "energy.csv_too_long"


# --- over HTTP ---------------------------------------------------------------------------

INSTALLATION = {
    "title": "Solar roof of the sports hall",
    "neighbourhood": "centre",
    "duration_days": 30,
    "technology": "solar_pv",
    "kwp": "36.5",
    "address": "Sports hall, rue du Stade",
    "unit_price_cents": 325_00,
    "units": 3,
    "estimated_return_cents_per_unit_year": 30_00,
}


async def energy_campaign(service, *, units=3, launch=True) -> dict:
    coop = service.auth("coop", "organisation", neighbourhood="centre")
    r = await service.client.post(
        "/energy-campaigns", json={**INSTALLATION, "units": units}, headers=coop
    )
    assert r.status_code == 201, r.text
    made = r.json()
    if launch:
        cid = made["campaign_id"]
        for path, who in (
            ("submit", coop),
            ("review", service.auth("rita", "reviewer")),
            ("launch", coop),
        ):
            step = await service.client.post(f"/campaigns/{cid}/{path}", json={}, headers=who)
            assert step.status_code == 200, step.text
    return made


async def buy(service, cid, backer, units, token="tok_instant"):
    return await service.client.post(
        f"/campaigns/{cid}/units",
        json={"units": units, "card_token": token},
        headers=service.auth(backer, "resident"),
    )


async def test_energy_campaign_shows_units_price_and_an_estimate(service, clock):
    made = await energy_campaign(service)
    cid = made["campaign_id"]
    assert made["goal_cents"] == 975_00 and made["units_left"] == 3
    page = (await service.client.get(f"/campaigns/{cid}/energy")).json()
    assert page["unit_price_cents"] == 325_00 and page["kwp"] == "36.5"
    assert page["estimated_return_cents_per_unit_year"] == 30_00
    assert page["return_is_estimate"] is True
    assert page["estimate_notice"] == "energy.estimate_not_promise"
    campaign = (await service.client.get(f"/campaigns/{cid}")).json()
    assert campaign["kind"] == "energy" and campaign["category"] == "environment"

    r = await buy(service, cid, "ann", 2)
    assert r.status_code == 201 and r.json()["amount_cents"] == 650_00, r.text
    assert r.json()["units"] == 2
    too_many = await buy(service, cid, "bob", 2)
    assert too_many.status_code == 409 and too_many.json()["code"] == "rewards.sold_out"
    assert (await service.client.get(f"/campaigns/{cid}/energy")).json()["units_left"] == 1

    # A cancelled pledge gives its units back.
    cancel = await service.client.post(
        f"/pledges/{r.json()['id']}/cancel", headers=service.auth("ann", "resident")
    )
    assert cancel.status_code == 200, cancel.text
    assert (await service.client.get(f"/campaigns/{cid}/energy")).json()["units_left"] == 3


async def test_draft_energy_campaign_is_hidden_and_plain_campaigns_sell_no_units(service, clock):
    made = await energy_campaign(service, launch=False)
    r = await service.client.get(f"/campaigns/{made['campaign_id']}/energy")
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
    plain = await service.client.post(
        "/campaigns",
        json={
            "title": "Repair café",
            "category": "solidarity",
            "goal_cents": 500_00,
            "duration_days": 30,
            "neighbourhood": "centre",
        },
        headers=service.auth("holly", "resident"),
    )
    r = await buy(service, plain.json()["id"], "ann", 1)
    assert r.status_code == 404 and r.json()["code"] == "energy.not_energy_campaign"


async def test_generic_edits_leave_an_energy_draft_goal_and_units_alone(service, clock):
    made = await energy_campaign(service, launch=False)
    cid, coop = made["campaign_id"], service.auth("coop", "organisation", neighbourhood="centre")
    refused = [
        (f"/campaigns/{cid}", {"goal_cents": 10_00}, "goal_cents"),
        (f"/campaigns/{cid}/rewards/{made['reward_id']}", {"stock": 500}, "stock"),
        (f"/campaigns/{cid}/rewards/{made['reward_id']}", {"min_cents": 1_00}, "min_cents"),
    ]
    for path, body, name in refused:
        r = await service.client.patch(path, json=body, headers=coop)
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
        assert r.json()["code"] == "campaigns.energy_fields_via_energy_route"
        assert r.json()["errors"][0]["field"] == f"body.{name}"
    # Nor is a second way to pledge added beside the units.
    extra = {"title": "Thank-you card", "min_cents": 5_00, "stock": None}
    r = await service.client.post(f"/campaigns/{cid}/rewards", json=extra, headers=coop)
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM, r.text
    assert r.json()["code"] == "rewards.energy_units_only"
    rewards = (await service.client.get(f"/campaigns/{cid}", headers=coop)).json()["rewards"]
    assert [w["id"] for w in rewards] == [made["reward_id"]]
    # What the energy rules do not own is still edited the ordinary way.
    r = await service.client.patch(
        f"/campaigns/{cid}", json={"title": "Solar roof of the pool"}, headers=coop
    )
    assert r.status_code == 200 and r.json()["goal_cents"] == 975_00, r.text
    page = (await service.client.get(f"/campaigns/{cid}/energy", headers=coop)).json()
    assert page["goal_cents"] == 975_00 and page["units_left"] == page["units_total"] == 3
    assert page["unit_price_cents"] == 325_00


async def test_fifty_buyers_race_for_the_last_unit_one_gets_it(service, clock):
    cid = (await energy_campaign(service, units=1))["campaign_id"]
    answers = await asyncio.gather(*(buy(service, cid, f"b{i}", 1) for i in range(50)))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) == 1 and codes.count(409) == 49, codes
    assert all(a.json()["code"] == "rewards.sold_out" for a in answers if a.status_code == 409)
    assert (await service.client.get(f"/campaigns/{cid}/energy")).json()["units_left"] == 0


async def test_staff_record_and_replace_production_and_events_leave(service, clock):
    cid = (await energy_campaign(service))["campaign_id"]
    month = clock.at.strftime("%Y-%m")
    r = await service.client.put(
        f"/campaigns/{cid}/production/{month}", json={"kwh": "1234,5"}, headers=staff(service)
    )
    assert r.status_code == 200 and r.json()["wh"] == 1_234_500 and not r.json()["replaced"]
    again = await service.client.put(
        f"/campaigns/{cid}/production/{month}", json={"kwh": "1000"}, headers=staff(service)
    )
    assert again.json()["replaced"] and again.json()["wh"] == 1_000_000
    holder = await service.client.put(
        f"/campaigns/{cid}/production/{month}",
        json={"kwh": "1"},
        headers=service.auth("coop", "organisation"),
    )
    assert holder.status_code == 403
    for bad_month, code in (
        ("2026-13", "energy.month_invalid"),
        ("2100-01", "energy.month_future"),
    ):
        r = await service.client.put(
            f"/campaigns/{cid}/production/{bad_month}", json={"kwh": "1"}, headers=staff(service)
        )
        assert r.status_code == 422 and r.json()["code"] == code, r.text
        assert r.json()["errors"][0]["field"] == "path.month"
    r = await service.client.put(
        f"/campaigns/{cid}/production/{month}", json={"kwh": "-3"}, headers=staff(service)
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.kwh"

    imported = await service.client.post(
        f"/campaigns/{cid}/production/import",
        json={"csv": f"month,kwh\n2026-01,800\n{month},900.25\n"},
        headers=staff(service),
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["recorded"] == 2 and imported.json()["replaced"] == 1
    bad = await service.client.post(
        f"/campaigns/{cid}/production/import",
        json={"csv": "month,kwh\n2026-02,5\n2026-03,lots\n"},
        headers=staff(service),
    )
    assert bad.status_code == 422 and bad.json()["params"] == {"row": 3, "field": "kwh"}
    production = (await service.client.get(f"/campaigns/{cid}/production")).json()
    assert [(p["month"], p["wh"]) for p in production] == [
        ("2026-01", 800_000),
        (month, 900_250),
    ], "the bad file recorded nothing, and the last figure of a month wins"

    async with service.runtime.db.transaction() as session:
        rows = (
            await session.execute(
                select(outbox.c.payload).where(
                    outbox.c.subject == "sharitories.crowdfunding.energy.production_recorded"
                )
            )
        ).all()
    assert len(rows) == 4
