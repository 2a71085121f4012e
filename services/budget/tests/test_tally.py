"""Tests for the tallying rules: hand-checked tiny elections, real pabulib files, pabutools."""

import json
import os
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.budget import mes, pabulib, tally
from services.budget.mes import fast
from services.budget.tally import Ballot, Problem, approval_problem


def _model(problem: Problem) -> mes.Model:
    return mes.Model(problem.costs, problem.budget, problem.ballots, problem.utility)


REPO = Path(__file__).resolve().parents[3]
RUN_SLOW = bool(os.environ.get("SHARITORIES_SLOW_TESTS"))


def natural(ids):
    """Sort project ids like expected.json does (numbers by value, then text)."""
    import re

    return sorted(ids, key=lambda s: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)])


def shared_pabulib() -> Path:
    shared = Path(os.environ.get("SHARITORIES_SHARED", REPO.parent / "shared"))
    folder = shared / "pabulib"
    if not (folder / "expected.json").is_file():
        pytest.skip(f"shared pabulib files not found at {folder} (set SHARITORIES_SHARED)")
    return folder


# ------------------------------------------------------------------------------------------
# Tiny hand-checked elections
# ------------------------------------------------------------------------------------------


def test_greedy_skips_a_project_that_does_not_fit_and_keeps_going():
    p = approval_problem({"a": 60, "b": 50, "c": 30}, 100, [["a", "b", "c"], ["a", "b"], ["a"]])
    r = tally.greedy(p)
    assert r.selected == ["a", "c"]
    assert r.cost == 90
    assert r.explanations["a"] == tally.Explanation("selected", 3, step=1, remaining_budget=40)
    assert r.explanations["b"].status == "not_enough_budget_left"
    assert r.explanations["b"].remaining_budget == 40
    assert r.explanations["c"].remaining_budget == 10


def test_greedy_breaks_ties_by_project_id_as_a_string():
    # "10" < "9" as strings: with equal votes "10" is considered first and fills the budget.
    p = approval_problem({"9": 10, "10": 10}, 10, [["9", "10"]])
    assert tally.greedy(p).selected == ["10"]


def test_greedy_orders_point_ballots_by_total_points():
    p = Problem({"a": 10, "b": 10}, 10, [Ballot({"a": 1, "b": 4}), Ballot({"a": 2})], "points")
    assert tally.greedy(p).selected == ["b"]


def test_greedy_threshold_ignores_projects_below_the_threshold():
    p = approval_problem({"a": 10, "b": 10}, 100, [["a", "b"], ["a"]])
    p = Problem(p.costs, p.budget, p.ballots, threshold=2)
    r = tally.tally(p, "greedy-threshold")
    assert r.selected == ["a"]
    assert r.explanations["b"].status == "below_threshold"


def test_mes_skips_project_whose_supporters_ran_out_of_money():
    # 4 voters with 25 each. C (cost 20, voters 1-3) is cheapest per unit of utility: each of
    # its supporters pays 20/3. Then A's supporters hold 2 * (25 - 20/3) = 110/3 < 50 and B's
    # hold 25 + 25 - 20/3 = 130/3 < 60, so MES stops.
    p = approval_problem(
        {"A": 50, "B": 60, "C": 20}, 100, [["A", "C"], ["A", "C"], ["B", "C"], ["B"]]
    )
    r = tally.equal_shares(p, 25)
    assert r.selected == ["C"]
    assert r.explanations["C"].status == "selected"
    assert r.explanations["C"].price == Fraction(1, 3)  # 20/3 paid per 20 units of utility
    assert r.explanations["A"].status == "supporters_shares_exhausted"
    assert r.explanations["A"].supporters_money == Fraction(110, 3)
    assert r.explanations["B"].supporters_money == Fraction(130, 3)


def test_mes_poor_supporters_pay_all_they_have():
    # Six voters with 30 each. y (cost 44, voters 1,4,5,6) goes first at 11 each, leaving
    # voter 1 with 19. x (cost 60, voters 1-3) would cost 20 each: voter 1 pays their 19 and
    # voters 2 and 3 split the rest, 20.5 each, i.e. 41/120 per unit of (cost) utility.
    p = Problem(
        {"x": 60, "y": 44},
        180,
        [Ballot({"x": 1, "y": 1}), Ballot({"x": 1}, 2), Ballot({"y": 1}, 3)],
    )
    r = tally.equal_shares(p, 30)
    assert r.selected == ["y", "x"]
    assert r.explanations["y"].price == Fraction(1, 4)
    assert r.explanations["x"].price == Fraction(41, 120)


def test_mes_ties_go_to_the_smaller_id_as_a_string():
    p = approval_problem({"b": 10, "a": 10, "10": 10}, 10, [["a", "b", "10"]] * 2)
    assert tally.equal_shares(p, 5).selected == ["10"]
    assert tally.mes(p).selected == ["10"]


def test_mes_is_completed_by_greedy():
    # MES buys "a" (both voters); "b" (voter 2 only) costs more than voter 2 can ever pay
    # before the outcome overspends, so greedy completion adds it.
    p = approval_problem({"a": 40, "b": 55, "c": 70}, 100, [["a"], ["a", "b"], ["c"]])
    r = tally.mes(p)
    statuses = {pid: e.status for pid, e in r.explanations.items()}
    assert "selected_by_greedy_completion" in statuses.values()
    assert r.cost <= 100
    assert r.endowment is not None


def test_mes_add1_returns_the_last_outcome_that_fits():
    p = approval_problem(
        {"A": 50, "B": 60, "C": 20}, 100, [["A", "C"], ["A", "C"], ["B", "C"], ["B"]]
    )
    r = tally.mes_add1(p)
    assert r.selected == ["C", "A"]
    assert r.cost == 70
    # One more unit per voter and B becomes affordable too: 130 > 100.
    over = tally.equal_shares(p, r.endowment + 1)
    assert over.cost > 100


def test_free_supported_projects_are_funded_first():
    p = Problem({"free": 0, "a": 10}, 10, [Ballot({"free": 1, "a": 1})], "points")
    assert tally.equal_shares(p).selected == ["free", "a"]


def test_identical_ballots_can_be_grouped_with_a_weight():
    grouped = Problem({"a": 30, "b": 30}, 60, [Ballot({"a": 1}, 3), Ballot({"b": 1}, 1)])
    spread = approval_problem({"a": 30, "b": 30}, 60, [["a"], ["a"], ["a"], ["b"]])
    for rule in tally.RULES:
        assert tally.tally(grouped, rule).selected == tally.tally(spread, rule).selected


def test_no_voters_means_nothing_is_funded_by_mes():
    p = Problem({"a": 10}, 10, [])
    assert tally.mes_add1(p).selected == []
    assert tally.mes(p).selected == []


# ------------------------------------------------------------------------------------------
# Real elections (pabulib): outcomes computed by pabutools 1.2.3, official results
# ------------------------------------------------------------------------------------------

# MES on these takes 14-26 s each (greedy is fast and always runs; Ursynów, 16 s, always
# runs too); run them with SHARITORIES_SLOW_TESTS=1 (all four: about 80 s).
SLOW_FILES = {
    "France_Toulouse_2022.pb",
    "Poland_Warszawa_2020_Praga-Poludnie.pb",
    "Poland_Warszawa_2026.pb",
}
KEYS = {"greedy": "greedy", "mes": "mes", "mes-add1": "mes_add1_no_exhaustive_stop"}
OFFICIAL = {"greedy": "greedy", "greedy-threshold": "greedy-threshold"}
OFFICIAL["equalshares/add1"] = "mes-add1"


def _expected() -> dict:
    path = shared_pabulib() / "expected.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _files(slow):
    folder = Path(os.environ.get("SHARITORIES_SHARED", REPO.parent / "shared")) / "pabulib"
    try:
        names = sorted(json.loads((folder / "expected.json").read_text(encoding="utf-8")))
    except FileNotFoundError:
        return [pytest.param("missing", marks=pytest.mark.skip(f"no pabulib files at {folder}"))]
    return [
        pytest.param(
            name,
            marks=pytest.mark.skipif(not RUN_SLOW, reason="slow: set SHARITORIES_SLOW_TESTS=1")
            if name in slow
            else (),
        )
        for name in names
    ]


def _problem(name):
    election = pabulib.load(shared_pabulib() / name)
    return election, pabulib.to_problem(election)


@pytest.mark.parametrize("name", _files(slow=set()))
def test_greedy_outcomes_match_pabutools_and_official_results(name):
    expected = _expected()[name]
    election, problem = _problem(name)
    result = tally.greedy(problem)
    assert natural(result.selected) == expected["greedy"]
    assert result.cost <= election.budget
    assert set(result.explanations) == set(election.projects)
    official = OFFICIAL.get(election.rule)
    if official in ("greedy", "greedy-threshold") and "real_selected" in expected:
        assert natural(tally.tally(problem, official).selected) == expected["real_selected"]


@pytest.mark.parametrize("name", _files(slow=SLOW_FILES))
def test_mes_outcomes_match_pabutools_and_official_results(name):
    expected = _expected()[name]
    election, problem = _problem(name)
    rules = [rule for rule in ("mes", "mes-add1") if KEYS[rule] in expected]
    official = OFFICIAL.get(election.rule)
    if official == "mes-add1" and official not in rules:
        rules.append(official)
    results = tally.tally_many(problem, rules)
    for rule in rules:
        if KEYS[rule] in expected:
            assert natural(results[rule].selected) == expected[KEYS[rule]], rule
        assert results[rule].cost <= election.budget
        assert set(results[rule].explanations) == set(election.projects)
        assert results[rule].endowment >= election.budget / len(election.votes)
    if official == "mes-add1" and "real_selected" in expected:
        assert natural(results[official].selected) == expected["real_selected"]


# ------------------------------------------------------------------------------------------
# Live oracle: pabutools on small random elections
# ------------------------------------------------------------------------------------------


@st.composite
def elections(draw, cumulative=False):
    n_projects = draw(st.integers(1, 6))
    ids = draw(
        st.lists(
            st.sampled_from([str(i) for i in range(1, 13)] + ["a", "b"]),
            min_size=n_projects,
            max_size=n_projects,
            unique=True,
        )
    )
    costs = {pid: draw(st.integers(0 if not cumulative else 1, 30)) for pid in ids}
    budget = draw(st.integers(1, 60))
    n_voters = draw(st.integers(1, 7))
    ballots = []
    for _ in range(n_voters):
        chosen = draw(st.lists(st.sampled_from(ids), unique=True, max_size=len(ids)))
        if cumulative:
            ballots.append({pid: draw(st.integers(1, 4)) for pid in chosen})
        else:
            ballots.append(dict.fromkeys(chosen, 1))
    return costs, budget, ballots


def _pabutools_outcomes(costs, budget, ballots, cumulative):
    election = pytest.importorskip("pabutools.election")
    rules = pytest.importorskip("pabutools.rules")
    instance = election.Instance(budget_limit=budget)
    projects = {pid: election.Project(pid, cost) for pid, cost in costs.items()}
    instance.update(projects.values())
    if cumulative:
        profile = election.CumulativeProfile(
            [election.CumulativeBallot({projects[p]: s for p, s in b.items()}) for b in ballots],
            instance=instance,
        )
        sat = election.Additive_Cardinal_Sat
    else:
        profile = election.ApprovalProfile(
            [election.ApprovalBallot(projects[p] for p in b) for b in ballots], instance=instance
        )
        sat = election.Cost_Sat
    multi = profile.as_multiprofile()
    out = {}
    if not cumulative:
        out["greedy"] = rules.greedy_utilitarian_welfare(instance, profile, sat_class=sat)
        out["mes"] = rules.completion_by_rule_combination(
            instance,
            multi,
            [rules.method_of_equal_shares, rules.greedy_utilitarian_welfare],
            [{"sat_class": sat, "voter_budget_increment": 1}, {"sat_class": sat}],
        )
    out["mes-add1"] = rules.exhaustion_by_budget_increase(
        instance,
        multi,
        rules.method_of_equal_shares,
        {"sat_class": sat},
        budget_step=profile.num_ballots(),
        exhaustive_stop=False,
    )
    return {rule: sorted(p.name for p in alloc) for rule, alloc in out.items()}


@pytest.mark.parametrize("cumulative", [False, True], ids=["approval", "cumulative"])
def test_random_elections_match_pabutools_live(cumulative):
    pytest.importorskip("pabutools")

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(elections(cumulative=cumulative))
    def check(case):
        costs, budget, ballots = case
        theirs = _pabutools_outcomes(costs, budget, ballots, cumulative)
        problem = Problem(
            costs,
            budget,
            tally.group_ballots(Ballot(b) for b in ballots),
            "points" if cumulative else "cost",
        )
        ours = tally.tally_many(problem, theirs)
        for rule, selected in theirs.items():
            assert sorted(ours[rule].selected) == selected, rule

    check()


# ------------------------------------------------------------------------------------------
# Skipping Add1 steps in certified blocks must not change which step is returned
# ------------------------------------------------------------------------------------------


def _walk_every_step(model, exhaustive_stop):
    """pabutools' Add1 loop, one step at a time (the reference for the block skipping)."""
    limit = None if exhaustive_stop else int(model.budget)
    k = 0
    while True:
        run = mes.run(model, k)
        if run.cost > model.budget:
            return k - 1
        if exhaustive_stop and mes.exhaustive(model, run, model.eligible):
            return k
        if limit is not None and k >= limit:
            return k
        k += 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(3, 8).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(1, 600), min_size=n, max_size=n),
            st.lists(st.sets(st.integers(0, n - 1), min_size=1), min_size=5, max_size=40),
            st.integers(100, 3000),
        )
    )
)
def test_add1_block_skipping_returns_the_same_step_as_walking(case):
    costs, ballots, budget = case
    problem = approval_problem(
        {str(j): c for j, c in enumerate(costs)}, budget, [[str(j) for j in b] for b in ballots]
    )
    model = _model(problem)
    assert mes.add1(model, exhaustive_stop=True) == _walk_every_step(model, True)
    if sum(model.costs[j] for j in model.eligible) > model.budget:
        assert mes.add1(model, exhaustive_stop=False) == _walk_every_step(model, False)


def test_add1_block_skipping_on_real_files():
    folder = shared_pabulib()
    for name in ("Poland_Swiecie_2023.pb", "Netherlands_Assen_2024.pb"):
        model = _model(pabulib.to_problem(pabulib.load(folder / name)))
        assert mes.add1(model, exhaustive_stop=True) == _walk_every_step(model, True)


# ------------------------------------------------------------------------------------------
# The certified float run (mes.fast) must give the exact run's order or give up (None)
# ------------------------------------------------------------------------------------------


def _fast_vs_exact(model, ks):
    settled = 0
    for k in ks:
        order = fast.fast_order(model, model.fast, k)
        if order is not None:
            settled += 1
            exact = mes.run(model, k, explain=True)
            assert order == exact.order, k
            explained = fast.fast_explained(model, model.fast, k)
            assert explained == (exact.order, exact.price, exact.money_left), k
    return settled


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(2, 7).flatmap(
        lambda n: st.tuples(
            # few distinct costs and many repeated ballots: exact ties and near-ties abound
            st.lists(st.sampled_from([10, 12, 20, 30, 60, 61, 90]), min_size=n, max_size=n),
            st.lists(st.sets(st.integers(0, n - 1), min_size=1), min_size=2, max_size=30),
            st.integers(30, 400),
            st.lists(st.integers(0, 40), min_size=1, max_size=4),
        )
    )
)
def test_fast_run_matches_the_exact_run_or_gives_up(case):
    costs, ballots, budget, ks = case
    problem = approval_problem(
        {str(j): c for j, c in enumerate(costs)}, budget, [[str(j) for j in b] for b in ballots]
    )
    model = _model(problem)
    _fast_vs_exact(model, ks)


def test_fast_run_settles_real_files():
    folder = shared_pabulib()
    for name, ks in (
        ("Poland_Warszawa_2019_Ursynow.pb", [0, 37, 109]),
        ("Poland_Swiecie_2023.pb", [0, 100, 226]),
        ("US_Stanford_Dataset_PB_Cambridge_2019_vote_approvals.pb", [0, 5]),
    ):
        model = _model(pabulib.to_problem(pabulib.load(folder / name)))
        assert model.fast.usable
        assert _fast_vs_exact(model, ks) == len(ks), name


def test_fast_run_is_not_used_for_point_ballots():
    p = Problem({"a": 10, "b": 10}, 10, [Ballot({"a": 1, "b": 4}), Ballot({"a": 2})], "points")
    assert not _model(p).fast.usable


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(2, 7).flatmap(
        lambda n: st.tuples(
            st.lists(st.sampled_from([10, 12, 20, 30, 60, 61, 90]), min_size=n, max_size=n),
            st.lists(st.sets(st.integers(0, n - 1), min_size=1), min_size=2, max_size=30),
            st.integers(30, 400),
            st.integers(0, 30),
            st.integers(2, 12),
        )
    )
)
def test_fast_block_certificate_implies_the_same_outcome_on_the_block(case):
    costs, ballots, budget, k0, width = case
    problem = approval_problem(
        {str(j): c for j, c in enumerate(costs)}, budget, [[str(j) for j in b] for b in ballots]
    )
    model = _model(problem)
    found = fast.fast_run(model, model.fast, k0)
    if found is None:
        return
    order, reference = found
    if fast.fast_certify(model, model.fast, k0 + width, order, reference) is None:
        return
    for k in range(k0, k0 + width + 1):
        assert set(mes.run(model, k).order) == set(order), k
