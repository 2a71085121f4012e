"""Pure rules of the budget service: phases, eligibility, ballots, pre-selection, results."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.common.web import problem_for
from services.budget import domain
from services.budget.domain import BallotFormat, BallotInput, Voter


def test_phases_move_one_step_forward_only():
    assert domain.next_phase("information", "proposals") == "proposals"
    with pytest.raises(domain.PhaseViolation):
        domain.next_phase("information", "voting")
    with pytest.raises(domain.PhaseViolation):
        domain.next_phase("voting", "assessment")
    with pytest.raises(domain.PhaseViolation):
        domain.next_phase("delivery", "delivery")


def test_an_action_outside_its_phase_is_a_conflict():
    domain.require_phase("voting", "voting", action="vote")
    with pytest.raises(domain.PhaseViolation) as caught:
        domain.require_phase("results", "voting", action="vote")
    assert problem_for(caught.value).status == 409


def test_top_n_or_threshold_promotes():
    supports = {"a": 5, "b": 3, "c": 3, "d": 1}
    assert domain.promoted(supports, threshold=None, top_n=2) == {"a", "b"}
    assert domain.promoted(supports, threshold=3, top_n=None) == {"a", "b", "c"}
    assert domain.promoted(supports, threshold=5, top_n=2) == {"a", "b"}
    assert domain.promoted(supports, threshold=None, top_n=None) == set(supports)


def test_age_counts_birthdays():
    assert domain.age_on(date(2009, 6, 2), date(2025, 6, 1)) == 15
    assert domain.age_on(date(2009, 6, 1), date(2025, 6, 1)) == 16


CODES = ("centre", "port")


def refusal(voter, *, min_age=None, district=None, today=date(2025, 6, 1)):
    found = domain.eligibility_problem(
        voter, min_age=min_age, district=district, today=today, neighbourhoods=CODES
    )
    return found and found.code


def test_eligibility_reasons():
    adult = Voter(verified=True, neighbourhood="port", birthdate=date(1990, 1, 1))
    assert refusal(adult, min_age=16, district="port") is None
    assert refusal(Voter(False, "port", None)) == "unverified"
    assert refusal(adult, district="centre") == "other_district"
    assert refusal(Voter(True, "port", None, resident=False)) == "not_resident"
    assert refusal(Voter(True, None, None)) == "outside_territory"
    assert refusal(Voter(True, "paris", None)) == "outside_territory"
    assert refusal(Voter(True, "port", None), min_age=16) == "birthdate_missing"
    assert refusal(Voter(True, "port", date(2010, 6, 2)), min_age=16) == "too_young"
    assert refusal(Voter(True, "port", date(2009, 6, 1)), min_age=16) is None


def test_voting_opens_and_closes_by_the_calendar():
    dates = {"voting": {"start": "2025-06-01", "end": "2025-06-30"}}

    def phase(stored, today, extended=None):
        return domain.effective_phase(
            stored, dates, extended_until=extended, today=date.fromisoformat(today)
        )

    assert phase("assessment", "2025-05-31") == "assessment"
    assert phase("assessment", "2025-06-01") == "voting"
    assert phase("voting", "2025-06-30") == "voting"  # the last day is included
    assert phase("voting", "2025-07-01") == "results"
    assert phase("assessment", "2025-07-01") == "results"
    assert phase("voting", "2025-07-01", extended="2025-07-05") == "voting"
    assert phase("voting", "2025-07-06", extended="2025-07-05") == "results"
    assert phase("proposals", "2025-06-10") == "proposals"  # only assessment opens voting
    assert phase("results", "2025-06-10") == "results"  # closed by hand stays closed
    assert domain.effective_phase("voting", {}, extended_until=None, today=date(2030, 1, 1)) == (
        "voting"
    )


def test_ranking_gives_borda_points_and_cumulative_keeps_points():
    ranking = BallotFormat(kind="ranking")
    assert domain.ballot_points(ranking, {"projects": ["x", "y", "z"]}) == {"x": 3, "y": 2, "z": 1}
    cumulative = BallotFormat(kind="cumulative", total_points=5)
    assert domain.ballot_points(cumulative, {"points": {"x": 2, "y": 0}}) == {"x": 2}


def test_a_tied_result_is_explained_and_leaves_the_leftover():
    outcome = domain.tally_envelope(
        rule="greedy",
        fmt=BallotFormat(),
        costs={"a": 60, "b": 60, "c": 30},
        amount_cents=100,
        ballots=[{"projects": ["a"]}, {"projects": ["b"]}, {"projects": ["c"]}],
    )
    assert outcome.selected == ["a", "c"]  # a and b tie: the smaller label wins
    lost = {p.project_id: p for p in outcome.projects}["b"]
    assert not lost.selected and lost.reason.startswith("lost: not enough budget")
    assert outcome.leftover_cents == 10


costs_st = st.dictionaries(
    st.sampled_from("abcdefgh"), st.integers(min_value=1, max_value=10_000), min_size=1
)


@settings(max_examples=60, deadline=None)
@given(
    costs=costs_st,
    amount=st.integers(min_value=1, max_value=30_000),
    rule=st.sampled_from(domain.RULES),
    data=st.data(),
)
def test_results_never_overspend_an_envelope(costs, amount, rule, data):
    ids = sorted(costs)
    ballots = data.draw(st.lists(st.lists(st.sampled_from(ids), unique=True), max_size=12))
    outcome = domain.tally_envelope(
        rule=rule,
        fmt=BallotFormat(),
        costs=costs,
        amount_cents=amount,
        ballots=[{"projects": b} for b in ballots],
    )
    assert outcome.allocated_cents <= amount
    assert outcome.leftover_cents == amount - outcome.allocated_cents
    assert {p.project_id for p in outcome.projects} == set(costs)


@settings(max_examples=60, deadline=None)
@given(costs=costs_st, amount=st.integers(min_value=1, max_value=30_000), data=st.data())
def test_knapsack_ballots_are_valid_exactly_when_they_fit(costs, amount, data):
    chosen = data.draw(st.lists(st.sampled_from(sorted(costs)), unique=True, min_size=1))
    problem = domain.ballot_problem(
        BallotFormat(kind="knapsack"),
        BallotInput(projects=tuple(chosen)),
        costs=costs,
        amount_cents=amount,
    )
    assert (problem is None) == (sum(costs[p] for p in chosen) <= amount)
