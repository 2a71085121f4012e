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

All arithmetic is exact (``fractions.Fraction`` and ints), like pabutools, so no comparison can
flip through rounding.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

Number = int | Fraction

RULES = ("greedy", "greedy-threshold", "mes", "mes-add1")

SELECTED = "selected"
SELECTED_BY_COMPLETION = "selected_by_greedy_completion"
NOT_ENOUGH_BUDGET = "not_enough_budget_left"
SHARES_EXHAUSTED = "supporters_shares_exhausted"
BELOW_THRESHOLD = "below_threshold"
NO_SUPPORTERS = "no_supporters"


@dataclass(frozen=True)
class Ballot:
    """Identical ballots: points per project (1 for an approval) and how many voters cast them."""

    scores: Mapping[str, Number]
    weight: int = 1


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


def group_ballots(ballots: Iterable[Ballot]) -> list[Ballot]:
    """Merge identical ballots into one with the summed weight (MES and greedy are unchanged)."""
    counts: dict[frozenset, int] = {}
    for ballot in ballots:
        key = frozenset((p, s) for p, s in ballot.scores.items() if s)
        counts[key] = counts.get(key, 0) + ballot.weight
    return [Ballot(dict(k), w) for k, w in counts.items()]


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


def _as_number(x: Number) -> Number:
    x = Fraction(x)
    return x.numerator if x.denominator == 1 else x


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
                status, score[pid], step=len(chosen), remaining_budget=_as_number(remaining)
            )
        elif before is None:
            explanations[pid] = Explanation(
                NOT_ENOUGH_BUDGET, score[pid], remaining_budget=_as_number(remaining)
            )
        else:  # keep the earlier (MES) reason, note what completion had left
            explanations[pid] = Explanation(
                before.status,
                before.score,
                remaining_budget=_as_number(remaining),
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
    total = _as_number(sum(Fraction(problem.costs[p]) for p in chosen))
    ordered = {pid: explanations[pid] for pid in problem.costs}
    return TallyResult(rule, list(chosen), total, ordered, **kwargs)


# --------------------------------------------------------------------------------------------
# Method of Equal Shares
# --------------------------------------------------------------------------------------------

ZERO = -1  # budget class of voters who have no money left


class _MESModel:
    """Everything about a problem that does not depend on the voters' endowment."""

    def __init__(self, problem: Problem) -> None:
        self.ids = list(problem.costs)
        index = {pid: j for j, pid in enumerate(self.ids)}
        self.costs = [Fraction(problem.costs[pid]) for pid in self.ids]
        groups = group_ballots(problem.ballots)
        self.weights = [b.weight for b in groups]
        self.num_voters = sum(self.weights)
        # ballots[g] = [(project index, utility)]; utilities are exact and > 0.
        self.ballots: list[list[tuple[int, Number]]] = []
        for b in groups:
            row = []
            for pid, points in b.scores.items():
                j = index[pid]
                u = points * problem.costs[pid] if problem.utility == "cost" else points
                if u > 0:
                    row.append((j, _as_number(u)))
            self.ballots.append(row)
        self.supporters: list[list[tuple[int, Number]]] = [[] for _ in self.ids]
        self.total_sat: list[Number] = [0] * len(self.ids)
        for g, row in enumerate(self.ballots):
            for j, u in row:
                self.supporters[j].append((g, u))
                self.total_sat[j] += u * self.weights[g]
        # pabutools: only projects with positive cost and satisfaction take part in MES;
        # supported projects that cost nothing are funded up front.
        self.eligible = [j for j in range(len(self.ids)) if self.total_sat[j] > 0 and self.costs[j]]
        self.free = [j for j in range(len(self.ids)) if self.total_sat[j] > 0 and not self.costs[j]]


@dataclass
class _Run:
    """One MES run at a fixed endowment."""

    endowment: Fraction
    order: list[int]  # selected projects, free ones first
    price: dict[int, Fraction]
    money_left: dict[int, Fraction]  # eligible unselected project -> supporters' money at the end
    cost: Fraction


def _mes_run(model: _MESModel, endowment: Fraction) -> _Run:
    """Run MES once with every voter starting at ``endowment``."""
    costs = model.costs
    weights = model.weights
    # Voters are tracked by budget class: all voters in a class hold the same money. Classes
    # with equal money are merged, so a project's supporters are a handful of (class, utility)
    # buckets instead of thousands of voters.
    value: dict[int, Fraction] = {0: endowment}
    class_of_value: dict[Fraction, int] = {endowment: 0}
    cls = [0] * len(weights)
    alive = set(model.eligible)
    counts: dict[int, dict[tuple[int, Number], int]] = {}
    for j in model.eligible:
        bucket: dict[tuple[int, Number], int] = {}
        for g, u in model.supporters[j]:
            key = (0, u)
            bucket[key] = bucket.get(key, 0) + weights[g]
        counts[j] = bucket

    def rho_of(j: int) -> Fraction | None:
        """Smallest price per utility unit the supporters can pay, None if they cannot."""
        entries = []
        available = 0
        denominator = 0
        for (c, u), w in counts[j].items():
            v = value[c]
            entries.append((v / u, v * w, u * w))
            available += v * w
            denominator += u * w
        cost = costs[j]
        if available < cost:
            return None
        # Poorest (money per utility) first: those who cannot pay rho*u pay all they have.
        entries.sort()
        paid = 0
        for ratio, money, sat in entries:
            rho = Fraction(cost - paid) / denominator
            if rho <= ratio:
                return rho
            paid += money
            denominator -= sat
        raise AssertionError("unreachable: available >= cost guarantees a price")

    # Lazy selection: a project's rho only grows as voters spend, so a stale rho is a lower
    # bound; the heap top is the winner once its rho is fresh. Ties go to the smaller id.
    heap = [(costs[j] / model.total_sat[j], model.ids[j], j, -1) for j in model.eligible]
    heapq.heapify(heap)
    order = list(model.free)
    price: dict[int, Fraction] = {}
    step = 0
    while heap:
        rho, _, j, fresh = heapq.heappop(heap)
        if fresh != step:
            new_rho = rho_of(j)
            if new_rho is not None:
                heapq.heappush(heap, (new_rho, model.ids[j], j, step))
            continue
        order.append(j)
        price[j] = rho
        alive.discard(j)
        del counts[j]
        _pay(model, j, rho, cls, value, class_of_value, counts, alive)
        step += 1
    money_left = {}
    for j in model.eligible:
        if j not in price:
            money_left[j] = sum(
                (value[cls[g]] * weights[g] for g, _ in model.supporters[j] if cls[g] != ZERO),
                Fraction(0),
            )
    total = sum((costs[j] for j in order), Fraction(0))
    return _Run(endowment, order, price, money_left, total)


def _pay(
    model: _MESModel,
    j: int,
    rho: Fraction,
    cls: list[int],
    value: dict[int, Fraction],
    class_of_value: dict[Fraction, int],
    counts: dict[int, dict[tuple[int, Number], int]],
    alive: set[int],
) -> None:
    """Charge project j's supporters rho per unit of utility (or all they have) and re-bucket."""
    moved: dict[tuple[int, Number], int] = {}
    for g, u in model.supporters[j]:
        c = cls[g]
        if c == ZERO:
            continue
        nc = moved.get((c, u))
        if nc is None:
            left = value[c] - rho * u
            if left <= 0:
                nc = ZERO
            else:
                nc = class_of_value.get(left)
                if nc is None:
                    nc = len(value)
                    value[nc] = left
                    class_of_value[left] = nc
            moved[(c, u)] = nc
        if nc == c:
            continue
        cls[g] = nc
        w = model.weights[g]
        for j2, u2 in model.ballots[g]:
            if j2 in alive:
                bucket = counts[j2]
                key = (c, u2)
                remaining = bucket[key] - w
                if remaining:
                    bucket[key] = remaining
                else:
                    del bucket[key]
                if nc != ZERO:
                    key = (nc, u2)
                    bucket[key] = bucket.get(key, 0) + w


def _exhaustive(model: _MESModel, run: _Run, budget: Fraction, among: Iterable[int]) -> bool:
    chosen = set(run.order)
    return not any(j not in chosen and run.cost + model.costs[j] <= budget for j in among)


def _mes_explanations(
    problem: Problem, model: _MESModel, run: _Run, score: Mapping[str, Number]
) -> dict[str, Explanation]:
    explanations: dict[str, Explanation] = {}
    spent = Fraction(0)
    for step, j in enumerate(run.order, start=1):
        spent += model.costs[j]
        explanations[model.ids[j]] = Explanation(
            SELECTED,
            score[model.ids[j]],
            step=step,
            remaining_budget=_as_number(Fraction(problem.budget) - spent),
            price=run.price.get(j, Fraction(0)),
        )
    for j, money in run.money_left.items():
        explanations[model.ids[j]] = Explanation(
            SHARES_EXHAUSTED, score[model.ids[j]], supporters_money=money
        )
    for j, pid in enumerate(model.ids):
        if pid not in explanations:
            explanations[pid] = Explanation(NO_SUPPORTERS, score[pid])
    return explanations


def _add1_runs(model: _MESModel, budget: Fraction, exhaustive_stop: bool) -> tuple[_Run, int]:
    """Raise the per-voter endowment by 1 until overspending (or exhaustiveness, if asked)."""
    start = budget / model.num_voters
    previous: _Run | None = None
    k = 0
    if not exhaustive_stop:
        # pabutools stops raising once budget + k*n exceeds budget*(n+1), i.e. after k = budget.
        limit = int(budget)  # floor; budget >= 0
        if sum(model.costs[j] for j in model.eligible) <= budget:
            # Every outcome fits, so the loop runs to the limit, where each voter alone can pay
            # for any project: the last outcome is the one at the limit.
            return _mes_run(model, start + limit), limit
    while True:
        run = _mes_run(model, start + k)
        if run.cost > budget:
            assert previous is not None  # endowment budget/n can never overspend
            return previous, k - 1
        if exhaustive_stop and _exhaustive(model, run, budget, model.eligible):
            return run, k
        if not exhaustive_stop and k >= limit:
            return run, k
        previous = run
        k += 1


def mes(problem: Problem) -> TallyResult:
    """Method of Equal Shares, Add1 with exhaustive stop, completed by greedy."""
    return _mes(problem, exhaustive_stop=True, rule="mes")


def mes_add1(problem: Problem) -> TallyResult:
    """MES, Add1 raised while the outcome fits the budget; no completion."""
    return _mes(problem, exhaustive_stop=False, rule="mes-add1")


def _mes(problem: Problem, exhaustive_stop: bool, rule: str) -> TallyResult:
    model = _MESModel(problem)
    score = scores(problem)
    budget = Fraction(problem.budget)
    if model.num_voters == 0:
        return _result(rule, problem, [], {p: Explanation(NO_SUPPORTERS, 0) for p in problem.costs})
    run, steps = _add1_runs(model, budget, exhaustive_stop)
    explanations = _mes_explanations(problem, model, run, score)
    chosen = [model.ids[j] for j in run.order]
    if exhaustive_stop and not _exhaustive(model, run, budget, range(len(model.ids))):
        order = _greedy_order(problem, score)
        _greedy_fill(problem, order, chosen, explanations, score, SELECTED_BY_COMPLETION)
    return _result(rule, problem, chosen, explanations, endowment=run.endowment, add1_steps=steps)
