"""One count everywhere: the service, the CLI (`sharitories budget tally`) and pabutools agree.

For every ballot format an edition is run in the service, published, exported as .pb,
re-imported, and counted again by the CLI and by pabutools (test-only oracle) on the
exported data: same winners. Real point and ranked files (Zürich, Kraków, Merced, Gdańsk)
imported and published give what the CLI and the shared expected outcomes give.
"""

from __future__ import annotations

import json
import random
from fractions import Fraction

import pytest
from typer.testing import CliRunner

from libs.common.testing import require_shared
from services.budget import pabulib
from services.budget.app import create_app
from services.budget.cli import app as cli_app
from services.budget.tests.support import Desk

RULES = ("greedy", "mes", "mes-add1")


def cli_tally(path, rule: str) -> list[str]:
    result = CliRunner().invoke(cli_app, ["tally", str(path), "--rule", rule, "--json"])
    assert result.exit_code == 0, result.output
    return sorted(json.loads(result.output)["selected"])


def pabutools_tally(election: pabulib.Election, rule: str) -> list[str] | None:
    """pabutools on the file's data, with the definitions of ../shared/pabulib/README.md."""
    pe = pytest.importorskip("pabutools.election")
    rules = pytest.importorskip("pabutools.rules")
    instance = pe.Instance(budget_limit=election.budget)
    projects = {pid: pe.Project(pid, p.cost) for pid, p in election.projects.items()}
    instance.update(projects.values())
    if election.vote_type == "approval":
        profile = pe.ApprovalProfile(
            [pe.ApprovalBallot(projects[p] for p in v.projects) for v in election.votes],
            instance=instance,
        )
        sat = pe.Cost_Sat
    else:  # points as utilities (ordinal: the points column, first of k = k … last = 1)
        if rule == "greedy":
            return None  # pabutools' greedy ranks point ballots by points per cost, not points
        profile = pe.CumulativeProfile(
            [
                pe.CumulativeBallot(
                    {projects[p]: n for p, n in pabulib.ballot_points(election, v).items()}
                )
                for v in election.votes
            ],
            instance=instance,
        )
        sat = pe.Additive_Cardinal_Sat
    multi = profile.as_multiprofile()
    if rule == "greedy":
        outcome = rules.greedy_utilitarian_welfare(instance, profile, sat_class=sat)
    elif rule == "mes":
        outcome = rules.completion_by_rule_combination(
            instance,
            multi,
            [rules.method_of_equal_shares, rules.greedy_utilitarian_welfare],
            [{"sat_class": sat, "voter_budget_increment": 1}, {"sat_class": sat}],
        )
    else:
        outcome = rules.exhaustion_by_budget_increase(
            instance,
            multi,
            rules.method_of_equal_shares,
            {"sat_class": sat},
            budget_step=profile.num_ballots(),
            exhaustive_stop=False,
        )
    return sorted(p.name for p in outcome)


FORMATS = {
    "approval": {"kind": "approval", "min_projects": 1, "max_projects": 4},
    "knapsack": {"kind": "knapsack", "min_projects": 1},
    "cumulative": {"kind": "cumulative", "min_projects": 1, "total_points": 6},
    "ranking": {"kind": "ranking", "min_projects": 1, "max_projects": 4},
}
COSTS = [18_000_00, 25_000_00, 9_000_00, 31_000_00, 14_000_00, 22_000_00]


def random_ballot(rng: random.Random, kind: str, ids: list[str]) -> dict:
    chosen = rng.sample(ids, k=rng.randint(1, 4))
    if kind == "knapsack":
        chosen = chosen[:2]  # two projects always fit the 100,000 € envelope
    if kind == "cumulative":
        points, left = {}, 6
        for pid in chosen:
            if left:
                points[pid] = rng.randint(1, left)
                left -= points[pid]
        return {"points": points}
    return {"projects": chosen}


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("kind", list(FORMATS))
async def test_every_ballot_format_counts_the_same_in_service_cli_and_pabutools(
    service_factory, tmp_path, kind, rule
):
    service = await service_factory("budget", create_app)
    desk = Desk(service)
    await desk.edition(
        rule=rule,
        ballot_format=FORMATS[kind],
        envelopes=[{"name": "City", "amount_cents": 100_000_00}],
    )
    ids = await desk.to_voting({f"p{i}": c for i, c in enumerate(COSTS)})
    rng = random.Random(f"{kind}-{rule}")
    ballots_cast = []
    for n in range(23):
        ballot = random_ballot(rng, kind, ids)
        ballots_cast.append(ballot.get("projects") or [p for p, k in ballot["points"].items() if k])
        r = await desk.cast(f"voter{n}", **ballot)
        assert r.status_code == 201, r.text
    published = await desk.publish()
    ours = sorted(published["envelopes"][0]["selected"])
    # Explained: the story told is the decision, with vote counts and the rule in words.
    city = published["envelopes"][0]
    story = city["explanation"]
    told = (
        [s["project"] for s in story["greedy"] if s["selected"]]
        if rule == "greedy"
        else [r["project"] for r in story["rounds"]]
        + [s["project"] for s in story["completion"] if s["selected"]]
    )
    assert told == city["selected"]
    assert sum(p["votes"] for p in city["projects"]) == sum(len(b) for b in ballots_cast)
    assert published["rule_description"] and published["recompute"]["command"].startswith(
        "sharitories budget tally"
    )
    if rule != "greedy":
        assert story["add1"]["endowment"] and story["rounds"]

    r = await service.client.get(f"/editions/{desk.ed['id']}/export.pb")
    assert r.status_code == 200
    path = tmp_path / "export.pb"
    path.write_text(r.text, encoding="utf-8")
    exported = pabulib.parse(r.text)
    assert (
        exported.meta["rule"]
        == {"greedy": "greedy", "mes": "equalshares/add1+greedy", "mes-add1": "equalshares/add1"}[
            rule
        ]
    )
    assert exported.meta["country"] == "France" and exported.meta["currency"] == "EUR"
    assert exported.meta["unit"] == "Valmont"
    assert sorted(exported.recorded_selected()) == ours
    assert cli_tally(path, rule) == ours
    bare = CliRunner().invoke(cli_app, ["tally", str(path), "--json"])  # the file's own rule
    assert sorted(json.loads(bare.output)["selected"]) == ours
    oracle = pabutools_tally(exported, rule)
    if oracle is not None:
        assert oracle == ours

    # Re-imported and published again: the same winners.
    r = await service.client.post(
        "/editions/import", params={"rule": rule}, content=r.text.encode(), headers=desk.staff
    )
    assert r.status_code == 201, r.text
    again = await desk.publish(r.json()["id"])
    assert (
        sorted(p["external_id"] for p in again["envelopes"][0]["projects"] if p["selected"]) == ours
    )


def expected_outcomes() -> dict:
    return json.loads((require_shared("pabulib") / "expected.json").read_text())


@pytest.mark.parametrize(
    "name",
    [
        "Switzerland_Zurich_D10.pb",
        "Poland_Krakow_2022_Stare_Miasto.pb",
        "US_Stanford_Dataset_Merced_Peoples_Budget_Ballot_2019_vote_rankings.pb",
        "Worldwide_Mechanical_Turk_Utilities_3.pb",
    ],
)
async def test_point_and_ranked_files_publish_what_the_cli_and_pabutools_give(
    service_factory, tmp_path, name
):
    path = require_shared("pabulib") / name
    expected = expected_outcomes()[name]
    service = await service_factory("budget", create_app)
    desk = Desk(service)
    for rule in ("greedy", "mes"):
        r = await service.client.post(
            "/editions/import", params={"rule": rule}, content=path.read_bytes(), headers=desk.staff
        )
        assert r.status_code == 201, r.text
        published = await desk.publish(r.json()["id"])
        ours = [p["external_id"] for p in published["envelopes"][0]["projects"] if p["selected"]]
        assert sorted(ours) == sorted(expected[rule]), rule
        assert cli_tally(path, rule) == sorted(expected[rule])
        if name.startswith("Switzerland"):
            assert len(ours) == {"greedy": 8, "mes": 9}[rule]
        # The export says what it holds; counted again it gives the same.
        r = await service.client.get(f"/editions/{r.json()['id']}/export.pb")
        out = tmp_path / f"{rule}.pb"
        out.write_text(r.text, encoding="utf-8")
        assert cli_tally(out, rule) == sorted(ours)


def test_pabutools_gives_nine_winners_on_zurich_with_point_utilities():
    election = pabulib.load(require_shared("pabulib") / "Switzerland_Zurich_D10.pb")
    assert pabutools_tally(election, "mes") == sorted(
        expected_outcomes()["Switzerland_Zurich_D10.pb"]["mes"]
    )
    assert Fraction(election.budget) == 60000
