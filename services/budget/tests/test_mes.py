"""The MES package against its textbook oracle (``mes/reference.py``) on random small elections.

Approval ballots take the certified float path (``mes.fast``) with the exact path behind it;
point ballots take the exact path alone. Costs repeat and ballots repeat so that exact ties
and near-ties, where a float comparison could flip, are common.
"""

from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.budget import mes, tally
from services.budget.mes import reference
from services.budget.tally import Ballot, Problem


def elections(points: bool):
    """Small elections: (costs, budget, ballots), ballots as project -> points."""

    def build(n):
        score = st.integers(1, 5) if points else st.just(1)
        ballot = st.dictionaries(st.sampled_from([str(j) for j in range(n)]), score, min_size=1)
        return st.tuples(
            st.lists(st.sampled_from([0, 10, 12, 20, 30, 60, 61, 90]), min_size=n, max_size=n),
            st.integers(20, 200),
            st.lists(ballot, min_size=1, max_size=12),
        )

    return st.integers(1, 6).flatmap(build)


def _problem(case, points: bool) -> Problem:
    costs, budget, ballots = case
    return Problem(
        {str(j): c for j, c in enumerate(costs)},
        budget,
        mes.group_ballots(Ballot(b) for b in ballots),
        "points" if points else "cost",
    )


SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(elections(points=False))
def test_mes_on_approval_ballots_funds_what_the_textbook_funds(case):
    problem = _problem(case, points=False)
    assert tally.mes(problem).selected == reference.mes(problem)


@SETTINGS
@given(elections(points=True))
def test_mes_on_point_ballots_funds_what_the_textbook_funds(case):
    problem = _problem(case, points=True)
    assert tally.mes(problem).selected == reference.mes(problem)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(elections(points=False))
def test_mes_add1_funds_what_the_textbook_funds(case):
    problem = _problem(case, points=False)
    assert tally.mes_add1(problem).selected == reference.mes_add1(problem)


@SETTINGS
@given(elections(points=False), st.integers(0, 30))
def test_one_run_at_any_endowment_is_the_textbook_run(case, k):
    problem = _problem(case, points=False)
    endowment = Fraction(problem.budget, sum(b.weight for b in problem.ballots)) + k
    assert tally.equal_shares(problem, endowment).selected == reference.equal_shares(
        problem, endowment
    )


def test_textbook_price_makes_the_poor_pay_all_they_have():
    # cost 30, three supporters with utility 1 holding 5, 20, 20: the poor one pays 5, the
    # others 12.5 each.
    assert reference.price(Fraction(30), [Fraction(5), Fraction(20), Fraction(20)], [1, 1, 1]) == (
        Fraction(25, 2)
    )
    assert reference.price(Fraction(50), [Fraction(5), Fraction(20), Fraction(20)], [1, 1, 1]) is (
        None
    )
