# ruff: noqa: F811  (pytest fixtures imported from the lifecycle tests)
"""The Soup evening's pot: opened live by staff, assigned once by the vote's results."""

from sqlalchemy import func, select

from libs.common.contracts.budget import EnvelopeResult, ResultProject, ResultsPublished
from libs.common.messaging import outbox
from services.crowdfunding import domain, soup
from services.crowdfunding.tests.test_crowdfunding_lifecycle import (  # noqa: F401
    PROBLEM,
    clock,
    service,
    staff,
)


def test_the_winner_is_the_one_selected_project_if_any():
    assert domain.soup_winner([]) is None
    assert domain.soup_winner(["piano"]) == "piano"


def results(edition_id: str, selected: list[str]) -> ResultsPublished:
    projects = [ResultProject(proposal_id=p, title=p.title(), cost_cents=100) for p in selected]
    return ResultsPublished(
        edition_id=edition_id,
        rule="greedy",
        kind="soup",
        envelopes=[
            EnvelopeResult(
                envelope_id="env",
                amount_cents=100,
                allocated_cents=100 * len(projects),
                leftover_cents=100 - 100 * len(projects),
                selected=projects,
                feasible_unselected=[],
            )
        ],
        turnout=[],
    )


async def open_pot(service, edition_id="ed-1", **extra) -> dict:
    r = await service.client.post(
        "/soup-evenings",
        json={
            "edition_id": edition_id,
            "title": "Soup night",
            "neighbourhood": "centre",
            "entry_fee_cents": 10_00,
            **extra,
        },
        headers=staff(service),
    )
    assert r.status_code == 201, r.text
    return r.json()


async def events(service, subject: str) -> int:
    async with service.runtime.db.transaction() as session:
        return await session.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.subject == subject)
        )


async def test_the_pot_is_live_at_once_with_the_platform_commission(service, clock):
    pot = await open_pot(service, hours=3)
    assert pot["pot_state"] == "live" and pot["commission_rate"] == "0.05"
    campaign = (await service.client.get(f"/campaigns/{pot['campaign_id']}")).json()
    assert campaign["kind"] == "soup" and campaign["state"] == "live"
    assert await events(service, "sharitories.crowdfunding.campaign.launched") == 1
    for hours in (0, 25):
        r = await service.client.post(
            "/soup-evenings",
            json={"edition_id": f"e{hours}", "title": "Soup", "neighbourhood": "centre",
                  "entry_fee_cents": 5_00, "hours": hours},
            headers=staff(service),
        )  # fmt: skip
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    missing = await service.client.get("/soup-evenings/nope")
    assert missing.status_code == 404 and missing.json()["code"] == "soup.not_found"


async def test_results_assign_the_pot_once_and_a_vote_without_winner_pays_nobody(service, clock):
    pot = await open_pot(service)
    news = results("ed-1", ["piano"])
    for _ in range(2):  # a redelivery changes nothing
        async with service.runtime.unit_of_work() as session:
            await soup.assign_winner(
                session=session, runtime=service.runtime, results=news, now=clock()
            )
    assert await events(service, "sharitories.crowdfunding.soup.pot_assigned") == 1
    shown = (await service.client.get(f"/soup-evenings/{pot['id']}")).json()
    assert shown["state"] == "assigned" and shown["winner"]["proposal_id"] == "piano"

    empty = await open_pot(service, edition_id="ed-2")
    async with service.runtime.unit_of_work() as session:
        await soup.assign_winner(
            session=session,
            runtime=service.runtime,
            results=results("ed-2", []),
            now=clock(),
        )
    shown = (await service.client.get(f"/soup-evenings/{empty['id']}")).json()
    assert shown["state"] == "no_winner" and shown["winner"] is None
    assert await events(service, "sharitories.crowdfunding.soup.pot_assigned") == 1
