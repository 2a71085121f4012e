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

All arithmetic is exact (``fractions.Fraction`` and ints), like pabutools, so no comparison can
flip through rounding.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import accumulate, repeat
from math import gcd
from operator import mul

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
#
# Speed. pabutools re-runs MES from scratch for every one-unit raise of the endowment and
# sorts every supporter's exact fraction for every candidate in every round. Here:
# - money is an exact integer in units of 1/D, where D grows by the denominator of each
#   per-voter share, so the hot loops add and compare ints instead of Fractions;
# - voters are kept in budget classes (all voters in a class hold the same money); a project's
#   supporters become (class, utility) buckets, counted in C by ``Counter``, and its price is
#   found by bisecting prefix sums over the buckets sorted by money per utility;
# - rounds are lazy: a project's price only grows as voters spend, so a stale price is a lower
#   bound and only the heap top needs re-pricing;
# - Add1 steps are skipped in certified blocks: with the same winners, more endowment means
#   more money and lower prices at every round (induction: Σ min(money, ρ·u) = cost). So if
#   the run at k0 and the run at k1 pick the same winners and, at every round, the k0 winner's
#   price is below every rival's price lower bound at k1, every endowment in between picks the
#   same winners too. Probes double while certification succeeds; after a failed probe we
#   walk one step at a time for a while. (On the big Warsaw files near-ties make most probes
#   fail, so there the gain comes from the cheaper runs.)
# - mes and mes-add1 share the runs they have in common (``tally_many``).

ZERO = -1  # budget class of voters who have no money left


def _lcm(a: int, b: int) -> int:
    return a * b // gcd(a, b)


class _MESModel:
    """Everything about a problem that does not depend on the voters' endowment."""

    def __init__(self, problem: Problem, extra_denominator: int = 1) -> None:
        self.runs: dict[Fraction, _Run] = {}  # plain runs by k, shared by mes and mes-add1
        self.ids = list(problem.costs)
        index = {pid: j for j, pid in enumerate(self.ids)}
        self.costs = [Fraction(problem.costs[pid]) for pid in self.ids]
        self.budget = Fraction(problem.budget)
        groups = group_ballots(problem.ballots)
        self.weights = [b.weight for b in groups]
        self.num_voters = sum(self.weights)
        raw: list[list[tuple[int, Fraction]]] = []
        den = 1
        for b in groups:
            row = []
            for pid, points in b.scores.items():
                j = index[pid]
                u = Fraction(points) * (self.costs[j] if problem.utility == "cost" else 1)
                if u > 0:
                    row.append((j, u))
                    den = _lcm(den, u.denominator)
            raw.append(row)
        # Utilities are scaled to integers by one common factor: prices scale uniformly, so
        # every comparison between projects is unchanged. ``scale`` converts prices back.
        self.scale = den
        self.ballots = [[(j, int(u * den)) for j, u in row] for row in raw]
        n = len(self.ids)
        self.supporters: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        # slots[j][u]: supporting groups with utility u, each repeated by its weight, so that
        # Counter(map(cls.__getitem__, slots)) counts voters per budget class in C.
        self.slots: list[dict[int, list[int]]] = [{} for _ in range(n)]
        self.groups: list[dict[int, list[int]]] = [{} for _ in range(n)]  # distinct, by u
        self.total_sat = [0] * n
        for g, row in enumerate(self.ballots):
            w = self.weights[g]
            for j, u in row:
                self.supporters[j].append((g, u))
                self.groups[j].setdefault(u, []).append(g)
                self.slots[j].setdefault(u, []).extend([g] * w)
                self.total_sat[j] += u * w
        # overlap[j]: projects sharing a supporter with j; only their prices move when j is paid.
        row_mask = [sum(1 << j for j, _ in row) for row in self.ballots]
        self.overlap = []
        for j in range(n):
            mask = 0
            for g, _ in self.supporters[j]:
                mask |= row_mask[g]
            self.overlap.append([i for i in range(n) if mask >> i & 1])
        self.sort_mult = [0] * n  # key v * (lcm of utilities // u) orders buckets by v/u
        for j in range(n):
            lcm_u = 1
            for u in self.slots[j]:
                lcm_u = _lcm(lcm_u, u)
            self.sort_mult[j] = lcm_u
        # pabutools: only projects with positive cost and satisfaction take part in MES;
        # supported projects that cost nothing are funded up front.
        self.eligible = [j for j in range(n) if self.total_sat[j] > 0 and self.costs[j]]
        self.free = [j for j in range(n) if self.total_sat[j] > 0 and not self.costs[j]]
        # Money unit 1/base makes the endowment budget/n + k and every cost an integer.
        base = self.num_voters * self.budget.denominator if self.num_voters else 1
        base = _lcm(base, extra_denominator)
        for c in self.costs:
            base = _lcm(base, c.denominator)
        self.base = base

    def endowment(self, k: Number) -> Fraction:
        """Per-voter starting money after k one-unit raises."""
        return self.budget / self.num_voters + k


@dataclass
class _Run:
    """One MES run at a fixed endowment."""

    k: Number
    order: list[int]  # selected projects, free ones first
    price: dict[int, Fraction]  # selected project -> price per unit of (scaled) utility
    cost: Fraction
    certified: bool = False  # same winners as the reference run for every step in between
    money_left: dict[int, Fraction] = field(default_factory=dict)


def _mes_run(model: _MESModel, k: Number, reference: _Run | None = None, explain=False) -> _Run:
    """Run MES at endowment ``model.endowment(k)``; optionally certify the block since reference."""
    ids = model.ids
    base = model.base
    scale_d = base  # current money unit is 1/scale_d
    val = [int(model.endowment(k) * base)]  # class -> money, in units current at its creation
    lvl = [0]  # class -> round it was created in
    mult = [1]  # mult[r]: factor taking round-r units to the current unit
    cls = [0] * len(model.weights)
    cls_of, val_of, lvl_of, mult_of = (x.__getitem__ for x in (cls, val, lvl, mult))
    cost_units = [int(c * base) for c in model.costs]  # cost in units of 1/base
    last: dict[int, tuple] = {}  # project -> its last pricing, see _found
    changed_at = [-1] * len(ids)  # project -> last step at which one of its supporters paid
    step = 0

    def buckets(j: int):
        """Per utility u: the budget classes among j's supporters, their money and head count."""
        for u, slots in model.slots[j].items():
            counts = Counter(map(cls_of, slots))
            counts.pop(ZERO, None)
            keys = list(counts)
            money = list(map(mul, map(val_of, keys), map(mult_of, map(lvl_of, keys))))
            yield u, keys, money, list(counts.values())

    def price(j: int) -> Fraction | None:
        """Exact price per utility unit of j for its supporters now, None if unaffordable."""
        cost = cost_units[j] * (scale_d // base)
        classes = {}
        if len(model.slots[j]) == 1:  # approval: one utility, buckets sort by money alone
            ((u, keys, money, heads),) = buckets(j)
            classes[u] = keys
            if not keys:
                return None
            vs, ws = zip(*sorted(zip(money, heads, strict=True)), strict=True)
            paid = [0, *accumulate(map(mul, vs, ws))]
            if paid[-1] < cost:
                return None
            # Poorest first: the first bucket whose voters can pay price * u fixes the price;
            # everyone before it pays all they have. The test is monotone, so bisect.
            heads_before = [0, *accumulate(ws)]
            total = heads_before[-1]
            lo, hi = 0, len(vs) - 1
            while lo < hi:
                mid = (lo + hi) // 2
                if cost - paid[mid] <= vs[mid] * (total - heads_before[mid]):
                    hi = mid
                else:
                    lo = mid + 1
            # Price per voter num/den; per utility unit it is num/(den*u).
            return _found(j, cost - paid[lo], total - heads_before[lo], classes, u)
        entries = []
        lcm_u = model.sort_mult[j]
        for u, keys, money, heads in buckets(j):
            classes[u] = keys
            factor = lcm_u // u  # money * factor orders buckets by money / u
            entries.extend(zip((m * factor for m in money), money, repeat(u), heads))
        entries.sort()
        vs = [v for _, v, _, _ in entries]
        us = [u for _, _, u, _ in entries]
        paid = [0, *accumulate(v * w for _, v, _, w in entries)]
        sats = [0, *accumulate(u * w for _, _, u, w in entries)]
        if paid[-1] < cost:
            return None
        total = sats[-1]
        lo, hi = 0, len(vs) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if (cost - paid[mid]) * us[mid] <= vs[mid] * (total - sats[mid]):
                hi = mid
            else:
                lo = mid + 1
        return _found(j, cost - paid[lo], total - sats[lo], classes, 1)

    def _found(j: int, num: int, den: int, classes: dict, unit: int) -> Fraction:
        """Remember j's price: a voter with utility u pays (num/den) * (u/unit) money units."""
        g = gcd(num, den)
        # Keeping the utility unit out of den keeps the money unit (and the ints) small.
        last[j] = (step, num // g, den // g, classes, unit, scale_d)
        return Fraction(num, scale_d * den * unit)

    heap = [(model.costs[j] / model.total_sat[j], ids[j], j, -1) for j in model.eligible]
    heapq.heapify(heap)
    order = list(model.free)
    prices: dict[int, Fraction] = {}
    certified = reference is not None
    while heap:
        rho, name, j, fresh = heapq.heappop(heap)
        # A price is still exact if no supporter of j has paid since it was computed.
        if fresh != step and (fresh < 0 or changed_at[j] >= fresh):
            new_rho = price(j)
            if new_rho is not None:
                heapq.heappush(heap, (new_rho, name, j, step))
            continue
        if certified:
            certified = _certify_round(reference, step, j, heap, price, ids)
        order.append(j)
        prices[j] = rho
        _, num, den, classes, unit, scale_then = last[j]
        num *= scale_d // scale_then  # the price may have been computed a few payments ago
        for other in model.overlap[j]:
            changed_at[other] = step
        # Rescale every class to the new unit 1/(D*den), then charge the rich num*u each.
        scale_d *= den
        for r in range(len(mult)):
            mult[r] *= den
        mult.append(1)
        step += 1
        for u, keys in classes.items():
            move = {ZERO: ZERO}
            for c in keys:
                left = val[c] * mult[lvl[c]] - num * (u // unit)
                if left <= 0:
                    move[c] = ZERO
                else:
                    move[c] = len(val)
                    val.append(left)
                    lvl.append(step)
            moved = move.__getitem__
            for g in model.groups[j][u]:
                cls[g] = moved(cls[g])
    if certified:
        certified = reference.order == order
    run = _Run(k, order, prices, sum((model.costs[j] for j in order), Fraction(0)), certified)
    if explain:
        for j in model.eligible:
            if j not in prices:
                money = sum(sum(map(mul, m, w)) for _, _, m, w in buckets(j))
                run.money_left[j] = Fraction(money, scale_d)
    return run


def _plain_run(model: _MESModel, k: int) -> _Run:
    run = model.runs.get(k)
    if run is None:
        run = model.runs[k] = _mes_run(model, k)
    return run


def _certify_round(reference, step, winner, heap, price, ids) -> bool:
    """At this round, does the reference winner's price beat every rival's bound here?"""
    free = len(reference.order) - len(reference.price)
    if free + step >= len(reference.order) or reference.order[free + step] != winner:
        return False
    bound = reference.price[winner]
    name = ids[winner]
    ok = True
    kept = []
    for entry in heap:
        rho, other, j, _ = entry
        if ok and (rho < bound or (rho == bound and other < name)):
            # A stale bound may just be too low: re-price before giving up.
            new_rho = price(j)
            if new_rho is None:
                continue
            entry = (new_rho, other, j, step)
            ok = new_rho > bound or (new_rho == bound and other > name)
        kept.append(entry)
    heap[:] = kept
    heapq.heapify(heap)
    return ok


def _exhaustive(model: _MESModel, run: _Run, among: Iterable[int]) -> bool:
    chosen = set(run.order)
    return not any(j not in chosen and run.cost + model.costs[j] <= model.budget for j in among)


def _mes_explanations(
    problem: Problem, model: _MESModel, run: _Run | None, score: Mapping[str, Number]
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
            remaining_budget=_as_number(model.budget - spent),
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


def _add1(model: _MESModel, exhaustive_stop: bool) -> int:
    """Number of one-unit raises whose outcome pabutools' Add1 loop returns."""
    budget = model.budget
    # Without the exhaustive stop pabutools gives up once budget + k*n > budget*(n+1).
    limit = None if exhaustive_stop else int(budget)
    if limit is not None and sum(model.costs[j] for j in model.eligible) <= budget:
        # Every outcome fits, so the loop runs to the limit, where one voter alone can pay for
        # any project: the outcome there funds every eligible project.
        return limit
    current = _plain_run(model, 0)  # budget/n each can never overspend
    jump = 2
    cooldown = 0
    while True:
        if exhaustive_stop and _exhaustive(model, current, model.eligible):
            return current.k
        if limit is not None and current.k >= limit:
            return current.k
        target = current.k + (jump if cooldown == 0 else 1)
        if limit is not None:
            target = min(target, limit)
        if target > current.k + 1:
            nxt = _mes_run(model, target, reference=current)
            if nxt.certified:  # same outcome at every step up to target: fits, not exhaustive
                current = nxt
                jump *= 2
            else:  # wasted probe: walk step by step for a while before probing again
                jump = 2
                cooldown = 8
            continue
        cooldown = max(0, cooldown - 1)
        nxt = _plain_run(model, target)
        if nxt.cost > budget:
            return current.k
        current = nxt


def mes(problem: Problem) -> TallyResult:
    """Method of Equal Shares, Add1 with exhaustive stop, completed by greedy."""
    return _mes(problem, _MESModel(problem), exhaustive_stop=True, rule="mes")


def mes_add1(problem: Problem) -> TallyResult:
    """MES, Add1 raised while the outcome fits the budget; no completion."""
    return _mes(problem, _MESModel(problem), exhaustive_stop=False, rule="mes-add1")


def tally_many(problem: Problem, rules: Iterable[str] = RULES) -> dict[str, TallyResult]:
    """Run several rules; mes and mes-add1 share their MES runs."""
    model = None
    results = {}
    for rule in rules:
        if rule in ("mes", "mes-add1"):
            model = model or _MESModel(problem)
            results[rule] = _mes(problem, model, rule == "mes", rule)
        else:
            results[rule] = tally(problem, rule)
    return results


def equal_shares(problem: Problem, endowment: Number | None = None) -> TallyResult:
    """One plain MES run (no Add1, no completion), each voter starting with ``endowment``."""
    if endowment is None:
        endowment = Fraction(problem.budget) / max(1, sum(b.weight for b in problem.ballots))
    endowment = Fraction(endowment)
    model = _MESModel(problem, extra_denominator=endowment.denominator)
    score = scores(problem)
    if model.num_voters == 0:
        return _result("mes-plain", problem, [], _mes_explanations(problem, model, None, score))
    run = _mes_run(model, endowment - model.endowment(0), explain=True)
    chosen = [model.ids[j] for j in run.order]
    explanations = _mes_explanations(problem, model, run, score)
    return _result("mes-plain", problem, chosen, explanations, endowment=endowment)


def _mes(problem: Problem, model: _MESModel, exhaustive_stop: bool, rule: str) -> TallyResult:
    score = scores(problem)
    if model.num_voters == 0:
        return _result(rule, problem, [], _mes_explanations(problem, model, None, score))
    k = _add1(model, exhaustive_stop)
    run = _mes_run(model, k, explain=True)
    explanations = _mes_explanations(problem, model, run, score)
    chosen = [model.ids[j] for j in run.order]
    if exhaustive_stop and not _exhaustive(model, run, range(len(model.ids))):
        order = _greedy_order(problem, score)
        _greedy_fill(problem, order, chosen, explanations, score, SELECTED_BY_COMPLETION)
    endowment = model.endowment(k)
    return _result(rule, problem, chosen, explanations, endowment=endowment, add1_steps=k)
