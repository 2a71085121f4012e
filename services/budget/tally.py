"""Pure tallying rules for participatory budgeting: greedy, greedy-threshold, MES, MES-Add1.

The input is a small model (``Problem``): project costs, a budget and ballots that give each
project some points (1 for an approval). The rules reproduce pabutools 1.2.3 exactly:

- ``greedy``: projects by total points (approvals) descending; each one that still fits the
  remaining budget is funded, the others are skipped (the scan does not stop).
- ``greedy-threshold``: the same among projects whose total points reach ``Problem.threshold``.
- ``mes``: Method of Equal Shares with cost utilities (or point utilities, see
  ``Problem.utility``), per-voter endowment budget/n raised by one currency unit per voter
  (Add1) until the outcome is exhaustive or the next step would overspend; then completed by
  greedy.
- ``mes-add1``: Add1 without the exhaustive stop (keep raising while the outcome fits, return the
  last outcome that fits) and without completion.

Tie-breaking: whenever two projects are equally good (same total points for greedy, same price
per unit of utility ``rho`` for MES), the one whose project id is smaller *as a string*
(plain code-point order, so "10" < "9") wins. This is pabutools' lexicographic tie-breaking.

For point ballots (cumulative, scoring, ordinal) MES uses the points as utilities
(``Problem.utility = "points"``), for approval ballots the project cost ("cost").

Every decision is exact (``fractions.Fraction`` and ints, like pabutools), so no comparison can
flip through rounding; the float path in ``mes.fast`` only decides what its error bounds prove.
The method itself lives in the ``mes`` package (``mes/reference.py`` states it as the paper
does); this module words its runs as results and explanations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from services.budget import mes as method  # the package; ``mes`` here is the rule
from services.budget.mes.model import Ballot, Number, as_number, group_ballots

__all__ = ["Ballot", "Number", "group_ballots"]  # part of this module's vocabulary

RULES = ("greedy", "greedy-threshold", "mes", "mes-add1")

SELECTED = "selected"
SELECTED_BY_COMPLETION = "selected_by_greedy_completion"
NOT_ENOUGH_BUDGET = "not_enough_budget_left"
SHARES_EXHAUSTED = "supporters_shares_exhausted"
BELOW_THRESHOLD = "below_threshold"
NO_SUPPORTERS = "no_supporters"


@dataclass(frozen=True)
class Problem:
    """A budgeting election reduced to what the rules need."""

    costs: Mapping[str, Number]
    budget: Number
    ballots: Sequence[Ballot]
    # MES utility of a project for a voter: "cost" = points x cost (cost utilities; for
    # approval ballots simply the cost), "points" = the points alone.
    utility: str = "cost"
    # greedy-threshold: minimum total points (approvals) a project needs to be considered.
    threshold: Number | None = None


@dataclass(frozen=True)
class Explanation:
    """Why a project was or was not funded."""

    status: str
    score: Number
    step: int | None = None  # position in the selection order, for funded projects
    remaining_budget: Number | None = None  # budget left when the project was considered
    price: Fraction | None = None  # MES: money per unit of utility each supporter paid
    supporters_money: Fraction | None = None  # MES: what its supporters had left at the end


@dataclass(frozen=True)
class TallyResult:
    """Outcome of a rule: funded projects in selection order, their cost and explanations."""

    rule: str
    selected: list[str]
    cost: Number
    explanations: dict[str, Explanation]
    endowment: Fraction | None = None  # MES: per-voter starting money of the returned run
    add1_steps: int | None = None  # MES: how many one-unit raises the returned run used
    extra: dict[str, object] = field(default_factory=dict)


def approval_problem(
    costs: Mapping[str, Number], budget: Number, ballots: Iterable[Iterable[str]]
) -> Problem:
    """Build a Problem from approval sets (one per voter), grouping identical ones."""
    counts: dict[frozenset[str], int] = {}
    for ballot in ballots:
        key = frozenset(ballot)
        counts[key] = counts.get(key, 0) + 1
    grouped = [Ballot(dict.fromkeys(sorted(k), 1), w) for k, w in counts.items()]
    return Problem(dict(costs), budget, grouped)


def scores(problem: Problem) -> dict[str, Number]:
    """Total points (approval count for approval ballots) per project."""
    total: dict[str, Number] = dict.fromkeys(problem.costs, 0)
    for ballot in problem.ballots:
        for pid, points in ballot.scores.items():
            total[pid] += ballot.weight * points
    return total


def tally(problem: Problem, rule: str) -> TallyResult:
    """Run one of RULES on a problem."""
    if rule == "greedy":
        return greedy(problem)
    if rule == "greedy-threshold":
        return greedy(problem, threshold=problem.threshold)
    if rule == "mes":
        return mes(problem)
    if rule == "mes-add1":
        return mes_add1(problem)
    raise ValueError(f"unknown rule {rule!r}; expected one of {RULES}")


def _greedy_order(problem: Problem, score: Mapping[str, Number]) -> list[str]:
    # Highest score first; ties by project id as a string (pabutools' lexicographic rule).
    return sorted(problem.costs, key=lambda pid: (-score[pid], pid))


def _greedy_fill(
    problem: Problem,
    order: Iterable[str],
    chosen: list[str],
    explanations: dict[str, Explanation],
    score: Mapping[str, Number],
    status: str,
) -> None:
    """Add each project of ``order`` that still fits; record why the others did not."""
    remaining = Fraction(problem.budget) - sum(Fraction(problem.costs[p]) for p in chosen)
    taken = set(chosen)
    for pid in order:
        if pid in taken:
            continue
        cost = problem.costs[pid]
        before = explanations.get(pid)
        if cost <= remaining:
            remaining -= cost
            chosen.append(pid)
            taken.add(pid)
            explanations[pid] = Explanation(
                status, score[pid], step=len(chosen), remaining_budget=as_number(remaining)
            )
        elif before is None:
            explanations[pid] = Explanation(
                NOT_ENOUGH_BUDGET, score[pid], remaining_budget=as_number(remaining)
            )
        else:  # keep the earlier (MES) reason, note what completion had left
            explanations[pid] = Explanation(
                before.status,
                before.score,
                remaining_budget=as_number(remaining),
                supporters_money=before.supporters_money,
            )


def greedy(problem: Problem, threshold: Number | None = None) -> TallyResult:
    """Greedy by total points; with ``threshold``, only projects whose score reaches it."""
    score = scores(problem)
    explanations: dict[str, Explanation] = {}
    order = _greedy_order(problem, score)
    if threshold is not None:
        for pid in order:
            if score[pid] < threshold:
                explanations[pid] = Explanation(BELOW_THRESHOLD, score[pid])
        order = [pid for pid in order if pid not in explanations]
    chosen: list[str] = []
    _greedy_fill(problem, order, chosen, explanations, score, SELECTED)
    rule = "greedy" if threshold is None else "greedy-threshold"
    return _result(rule, problem, chosen, explanations)


def _result(
    rule: str,
    problem: Problem,
    chosen: list[str],
    explanations: dict[str, Explanation],
    **kwargs: object,
) -> TallyResult:
    total = as_number(sum(Fraction(problem.costs[p]) for p in chosen))
    ordered = {pid: explanations[pid] for pid in problem.costs}
    return TallyResult(rule, list(chosen), total, ordered, **kwargs)


def _mes_explanations(
    problem: Problem, model: method.Model, run: method.Run | None, score: Mapping[str, Number]
) -> dict[str, Explanation]:
    explanations: dict[str, Explanation] = {}
    spent = Fraction(0)
    if run is None:
        return {pid: Explanation(NO_SUPPORTERS, score[pid]) for pid in model.ids}
    for step, j in enumerate(run.order, start=1):
        spent += model.costs[j]
        explanations[model.ids[j]] = Explanation(
            SELECTED,
            score[model.ids[j]],
            step=step,
            remaining_budget=as_number(model.budget - spent),
            price=run.price.get(j, Fraction(0)) * model.scale,
        )
    for j, money in run.money_left.items():
        explanations[model.ids[j]] = Explanation(
            SHARES_EXHAUSTED, score[model.ids[j]], supporters_money=money
        )
    for pid in model.ids:
        if pid not in explanations:
            explanations[pid] = Explanation(NO_SUPPORTERS, score[pid])
    return explanations


def _model(problem: Problem, extra_denominator: int = 1) -> method.Model:
    return method.Model(
        problem.costs, problem.budget, problem.ballots, problem.utility, extra_denominator
    )


def mes(problem: Problem) -> TallyResult:
    """Method of Equal Shares, Add1 with exhaustive stop, completed by greedy."""
    return _mes(problem, _model(problem), exhaustive_stop=True, rule="mes")


def mes_add1(problem: Problem) -> TallyResult:
    """MES, Add1 raised while the outcome fits the budget; no completion."""
    return _mes(problem, _model(problem), exhaustive_stop=False, rule="mes-add1")


def tally_many(problem: Problem, rules: Iterable[str] = RULES) -> dict[str, TallyResult]:
    """Run several rules; mes and mes-add1 share their MES runs."""
    model = None
    results = {}
    for rule in rules:
        if rule in ("mes", "mes-add1"):
            model = model or _model(problem)
            results[rule] = _mes(problem, model, rule == "mes", rule)
        else:
            results[rule] = tally(problem, rule)
    return results


def equal_shares(problem: Problem, endowment: Number | None = None) -> TallyResult:
    """One plain MES run (no Add1, no completion), each voter starting with ``endowment``."""
    if endowment is None:
        endowment = Fraction(problem.budget) / max(1, sum(b.weight for b in problem.ballots))
    endowment = Fraction(endowment)
    model = _model(problem, extra_denominator=endowment.denominator)
    score = scores(problem)
    if model.num_voters == 0:
        return _result("mes-plain", problem, [], _mes_explanations(problem, model, None, score))
    run = method.run(model, endowment - model.endowment(0), explain=True)
    chosen = [model.ids[j] for j in run.order]
    explanations = _mes_explanations(problem, model, run, score)
    return _result("mes-plain", problem, chosen, explanations, endowment=endowment)


def _mes(problem: Problem, model: method.Model, exhaustive_stop: bool, rule: str) -> TallyResult:
    score = scores(problem)
    if model.num_voters == 0:
        return _result(rule, problem, [], _mes_explanations(problem, model, None, score))
    k = method.add1(model, exhaustive_stop)
    run = method.explained_run(model, k)
    explanations = _mes_explanations(problem, model, run, score)
    chosen = [model.ids[j] for j in run.order]
    if exhaustive_stop and not method.exhaustive(model, run, range(len(model.ids))):
        order = _greedy_order(problem, score)
        _greedy_fill(problem, order, chosen, explanations, score, SELECTED_BY_COMPLETION)
    endowment = model.endowment(k)
    return _result(rule, problem, chosen, explanations, endowment=endowment, add1_steps=k)
