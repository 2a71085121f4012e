"""Explained results: the story told round by round matches the decision and the arithmetic."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings

from libs.common.testing import require_shared
from services.budget import explain, pabulib, tally
from services.budget.tally import approval_problem
from services.budget.tests.test_tally import elections


def test_mes_rounds_prices_payments_and_when_losers_became_unaffordable():
    # 3 voters, 30 each. a (60) is cheapest per utility for v1 and v2 (rho 1/2: 30 each);
    # b (20) was affordable for v1 alone until v1 paid for a; c (50) never was (v3 has 30).
    problem = approval_problem({"a": 60, "b": 20, "c": 50}, 90, [["a", "b"], ["a"], ["c"]])
    result = tally.equal_shares(problem)
    assert result.selected == ["a"]
    story = explain.explain(problem, result)
    (round1,) = story.rounds
    assert round1.project == "a" and round1.rho == Fraction(1, 2)
    assert round1.full_share == 30 and round1.paid_in_full == 2 and round1.gave_all == 0
    assert round1.money_left_total == 30 and round1.voters_with_money == 1
    assert story.shortfalls["b"] == explain.Shortfall(1, Fraction(0), Fraction(20))
    assert story.shortfalls["c"] == explain.Shortfall(0, Fraction(30), Fraction(20))
    assert story.money_left["voters_with_nothing"] == 2


def test_mes_with_add1_and_completion_tells_every_step():
    problem = approval_problem(
        {"a": 60, "b": 20, "c": 50}, 90, [["a", "b"], ["a"], ["c"], ["b", "c"]]
    )
    result = tally.mes(problem)
    story = explain.explain(problem, result)
    mes_part = [r.project for r in story.rounds]
    completed = [s.project for s in story.completion if s.selected]
    assert mes_part + completed == result.selected
    assert story.endowment == story.start_endowment + result.add1_steps
    # Each round's payments add up to the project's cost (the money that left the voters).
    before = story.endowment * story.voters
    for r in story.rounds:
        assert before - r.money_left_total == r.cost
        before = r.money_left_total
    json_story = explain.as_json(story, name={p: f"id-{p}" for p in problem.costs})
    assert json_story["add1"]["steps"] == result.add1_steps
    assert all(r["project"].startswith("id-") for r in json_story["rounds"])


def test_greedy_running_total_and_why_a_project_was_skipped():
    problem = approval_problem(
        {"a": 60, "b": 50, "c": 30}, 100, [["a", "b", "c"], ["a", "b"], ["a"]]
    )
    result = tally.greedy(problem)
    steps = explain.explain(problem, result).greedy
    assert [(s.project, s.selected, s.running_total, s.budget_left) for s in steps] == [
        ("a", True, 60, 40),
        ("b", False, 60, 40),  # costs 50, only 40 left: skipped, the scan goes on
        ("c", True, 90, 10),
    ]


def story_order(story: explain.Story) -> list[str]:
    if story.greedy:
        return [s.project for s in story.greedy if s.selected]
    return [r.project for r in story.rounds] + [s.project for s in story.completion if s.selected]


@pytest.mark.parametrize(
    "name", ["Switzerland_Zurich_D10.pb", "Netherlands_Assen_2024.pb", "Poland_Swiecie_2023.pb"]
)
def test_the_story_of_real_elections_is_the_decision(name):
    election = pabulib.load(require_shared("pabulib") / name)
    problem = pabulib.to_problem(election)
    for rule in ("greedy", "mes", "mes-add1"):
        result = tally.tally(problem, rule)
        story = explain.explain(problem, result)
        assert story_order(story) == result.selected, rule
        losers = {p for p in problem.costs if p not in result.selected}
        if rule == "mes-add1":  # every supported loser has its round and shortfall
            supported = {p for b in problem.ballots for p, n in b.scores.items() if n}
            assert set(story.shortfalls) == losers & supported


@settings(max_examples=80, deadline=None)
@given(elections())
def test_the_story_matches_the_decision_on_random_elections(case):
    costs, budget, ballots = case
    problem = tally.Problem(costs, budget, tally.group_ballots(tally.Ballot(b) for b in ballots))
    for rule in ("greedy", "mes", "mes-add1"):
        result = tally.tally(problem, rule)
        story = explain.explain(problem, result)
        assert story_order(story) == result.selected, rule
        for r in story.rounds:
            assert r.rho >= 0 and r.money_left_total >= 0
