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
flip through rounding; the float path in ``mes_fast`` only decides what its error bounds prove.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import accumulate, repeat
from math import gcd
from operator import mul

import numpy as np

from services.budget import mes_fast

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
        scores = ballot.scores
        if 0 in scores.values():
            key = frozenset((p, s) for p, s in scores.items() if s)
        else:
            key = frozenset(scores.items())
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
#   bound and only the heap top needs re-pricing; a price stays exact until one of the
#   project's supporters pays for something;
# - Add1 steps are skipped in certified blocks (see ``_certify``): with the same history, more
#   endowment means more money and lower prices at every round (induction on
#   Σ min(money, ρ·u) = cost), and the order among projects that share no supporter does not
#   change the outcome. Probes double while certification succeeds and back off when it
#   fails. On the big Warsaw files near-ties make most probes fail, so there the gain comes
#   from the cheaper runs; on Toulouse or Swiecie most steps are skipped.
# - mes and mes-add1 share the runs they have in common (``tally_many``).
# - When every project's supporters share one utility (approval ballots), each Add1 run is
#   first done in float64 with numpy (``mes_fast``): every decision is certified by a
#   rigorous error bound and every payment is the exact integer price, so the float run
#   returns exactly this module's order or gives up, and then the exact run above is used.
#   Certified float runs carry certified price upper bounds instead of prices, and their
#   blocks are certified in float too (``mes_fast.fast_certify``, same argument).

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
        # Plain ints where possible: Fraction arithmetic is slow on 100k ballot entries.
        factor = [_as_number(c) if problem.utility == "cost" else 1 for c in self.costs]
        n = len(self.ids)
        lengths = [len(b.scores) for b in groups]
        flat_j = [index[pid] for b in groups for pid in b.scores]
        flat_u = [
            pt * factor[j]
            for j, pt in zip(flat_j, (pt for b in groups for pt in b.scores.values()), strict=True)
        ]
        flat_g = [g for g, size in enumerate(lengths) for _ in range(size)]
        if not all(type(u) is int and u > 0 for u in flat_u):
            keep = [i for i, u in enumerate(flat_u) if u > 0]
            flat_j = [flat_j[i] for i in keep]
            flat_g = [flat_g[i] for i in keep]
            flat_u = [flat_u[i] for i in keep]
        den = 1
        for u in flat_u:
            if type(u) is not int:
                den = _lcm(den, Fraction(u).denominator)
        # Utilities are scaled to integers by one common factor: prices scale uniformly, so
        # every comparison between projects is unchanged. ``scale`` converts prices back.
        self.scale = den
        flat_u = [int(u) if den == 1 else int(u * den) for u in flat_u]
        self.flat = (flat_g, flat_j, flat_u)
        # total_sat[j]: summed utility; util[j]: the utility every supporter of j gets, or None
        # when supporters differ (point ballots), which rules out the float path.
        self.total_sat = [0] * n
        util: list[int | None] = [0] * n
        weights = self.weights
        for g, j, u in zip(flat_g, flat_j, flat_u, strict=True):
            self.total_sat[j] += u * weights[g]
            if util[j] != u:
                util[j] = u if util[j] == 0 else None
        self.util = util
        self.flat_g = np.asarray(flat_g, dtype=np.intp)
        self.flat_j = np.asarray(flat_j, dtype=np.intp)
        # overlap[j]: projects sharing a supporter with j; only their prices move when j is paid.
        incidence = np.zeros((len(groups), n), dtype=np.float32)
        incidence[self.flat_g, self.flat_j] = 1.0
        shared = incidence.T @ incidence  # counts of shared groups; exact zero when none
        self.incidence = incidence.astype(np.uint8)  # group x project, 1 = supports
        self.overlap = [np.flatnonzero(shared[j]).tolist() for j in range(n)]
        self._exact_tables: tuple | None = None
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
        self.fast = mes_fast.FastModel(self)

    def exact_tables(self) -> None:
        """Build the tables the exact path uses (on first use: the float path needs none)."""
        if self._exact_tables is not None:
            return
        n = len(self.ids)
        # slots[j][u]: supporting groups with utility u, each repeated by its weight, so that
        # Counter(map(cls.__getitem__, slots)) counts voters per budget class in C.
        self.slots: list[dict[int, list[int]]] = [{} for _ in range(n)]
        self.groups: list[dict[int, list[int]]] = [{} for _ in range(n)]  # distinct, by u
        for g, j, u in zip(*self.flat, strict=True):
            self.groups[j].setdefault(u, []).append(g)
            self.slots[j].setdefault(u, []).extend([g] * self.weights[g])
        self.sort_mult = [0] * n  # key v * (lcm of utilities // u) orders buckets by v/u
        for j in range(n):
            lcm_u = 1
            for u in self.slots[j]:
                lcm_u = _lcm(lcm_u, u)
            self.sort_mult[j] = lcm_u
        self._exact_tables = (self.slots, self.groups, self.sort_mult)

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
    money_left: dict[int, Fraction] = field(default_factory=dict)
    exact: bool = True  # False for a certified float run: order only, no prices
    ceilings: object = None  # certified float run: its mes_fast.Reference (price bounds)


class _Wallets:
    """Voters' money during one MES run, grouped into budget classes."""

    def __init__(self, model: _MESModel, k: Number) -> None:
        model.exact_tables()
        self.model = model
        self.scale_d = model.base  # current money unit is 1/scale_d
        self.val = [int(model.endowment(k) * model.base)]  # class -> money, in its own units
        self.lvl = [0]  # class -> payment count when it was created
        self.mult = [1]  # mult[r]: factor taking units after r payments to the current unit
        self.cls = [0] * len(model.weights)  # group -> class
        self.cost_units = [int(c * model.base) for c in model.costs]  # in units of 1/base
        self.last: dict[int, tuple] = {}  # project -> its last pricing, see _found
        self.changed_at = [-1] * len(model.ids)  # project -> last payment touching it
        self.step = 0  # payments so far

    def buckets(self, j: int):
        """Per utility u: the budget classes among j's supporters, their money and head count."""
        cls_of, val_of = self.cls.__getitem__, self.val.__getitem__
        lvl_of, mult_of = self.lvl.__getitem__, self.mult.__getitem__
        for u, slots in self.model.slots[j].items():
            counts = Counter(map(cls_of, slots))
            counts.pop(ZERO, None)
            keys = list(counts)
            money = list(map(mul, map(val_of, keys), map(mult_of, map(lvl_of, keys))))
            yield u, keys, money, list(counts.values())

    def money(self, j: int) -> Fraction:
        """What j's supporters hold together."""
        held = sum(sum(map(mul, m, w)) for _, _, m, w in self.buckets(j))
        return Fraction(held, self.scale_d)

    def price(self, j: int) -> Fraction | None:
        """Exact price per utility unit of j for its supporters now, None if unaffordable."""
        cost = self.cost_units[j] * (self.scale_d // self.model.base)
        classes = {}
        if len(self.model.slots[j]) == 1:  # approval: one utility, buckets sort by money alone
            ((u, keys, money, heads),) = self.buckets(j)
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
            return self._found(j, cost - paid[lo], total - heads_before[lo], classes, u)
        entries = []
        lcm_u = self.model.sort_mult[j]
        for u, keys, money, heads in self.buckets(j):
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
        return self._found(j, cost - paid[lo], total - sats[lo], classes, 1)

    def _found(self, j: int, num: int, den: int, classes: dict, unit: int) -> Fraction:
        """Remember j's price: a voter with utility u pays (num/den) * (u/unit) money units."""
        g = gcd(num, den)
        # Keeping the utility unit out of den keeps the money unit (and the ints) small.
        self.last[j] = (self.step, num // g, den // g, classes, unit, self.scale_d)
        return Fraction(num, self.scale_d * den * unit)

    def is_exact(self, j: int, priced_at: int) -> bool:
        """Is a price of j computed after ``priced_at`` payments still exact?"""
        return priced_at == self.step or 0 <= priced_at > self.changed_at[j]

    def pay(self, j: int) -> None:
        """Charge j's supporters its last price (the poor pay all they have)."""
        _, num, den, classes, unit, scale_then = self.last[j]
        num *= self.scale_d // scale_then  # the price may be a few payments old
        for other in self.model.overlap[j]:
            self.changed_at[other] = self.step
        # Rescale every class to the new unit 1/(D*den), then charge the rich num*u each.
        self.scale_d *= den
        mult, val, lvl, cls = self.mult, self.val, self.lvl, self.cls
        for r in range(len(mult)):
            mult[r] *= den
        mult.append(1)
        self.step += 1
        for u, keys in classes.items():
            move = {ZERO: ZERO}
            for c in keys:
                left = val[c] * mult[lvl[c]] - num * (u // unit)
                if left <= 0:
                    move[c] = ZERO
                else:
                    move[c] = len(val)
                    val.append(left)
                    lvl.append(self.step)
            groups = self.model.groups[j][u]
            # cls[g] = move[cls[g]] for every supporting group, looped in C.
            deque(
                map(cls.__setitem__, groups, map(move.__getitem__, map(cls.__getitem__, groups))),
                maxlen=0,
            )


def _mes_run(model: _MESModel, k: Number, explain: bool = False) -> _Run:
    """Run MES with every voter starting at ``model.endowment(k)``."""
    ids = model.ids
    wallets = _Wallets(model, k)
    heap = [(model.costs[j] / model.total_sat[j], ids[j], j, -1) for j in model.eligible]
    heapq.heapify(heap)
    order = list(model.free)
    prices: dict[int, Fraction] = {}
    while heap:
        rho, name, j, priced_at = heapq.heappop(heap)
        if not wallets.is_exact(j, priced_at):
            new_rho = wallets.price(j)
            if new_rho is not None:
                heapq.heappush(heap, (new_rho, name, j, wallets.step))
            continue
        order.append(j)
        prices[j] = rho
        wallets.pay(j)
    run = _Run(k, order, prices, sum((model.costs[j] for j in order), Fraction(0)))
    if explain:
        for j in model.eligible:
            if j not in prices:
                run.money_left[j] = wallets.money(j)
    return run


def _explained_run(model: _MESModel, k: int) -> _Run:
    """The run at k with prices and money left: certified float run if possible, else exact."""
    found = mes_fast.fast_explained(model, model.fast, k) if model.fast.usable else None
    if found is None:
        return _mes_run(model, k, explain=True)
    order, prices, money = found
    run = _Run(k, order, prices, sum((model.costs[j] for j in order), Fraction(0)))
    run.money_left = money
    return run


def _plain_run(model: _MESModel, k: int) -> _Run:
    """The run at k: the certified float run when it settles every decision, else exact."""
    run = model.runs.get(k)
    if run is None:
        found = mes_fast.fast_run(model, model.fast, k) if model.fast.usable else None
        if found is None:
            run = _mes_run(model, k)
        else:
            order, ceilings = found
            cost = sum((model.costs[j] for j in order), Fraction(0))
            run = _Run(k, order, {}, cost, exact=False, ceilings=ceilings)
        model.runs[k] = run
    return run


def _certify(model: _MESModel, k1: int, reference: _Run) -> _Run | None:
    """The run at k1 if every endowment from the reference run's to k1's funds the same projects.

    MES's outcome does not depend on the order in which it funds projects that share no
    supporter: any order that always funds a project cheaper (price, then id) than every
    affordable project sharing a supporter with it gives the same outcome. (Two such choices
    share no supporter, so funding one leaves the other's price unchanged and its rivals' no
    lower: the choices commute, and every such order ends in the same state.) We replay the
    reference order at k1: with the same history, prices only fall as the endowment rises, so
    the reference price of each winner bounds its price from above on the whole block and the
    prices at k1 bound its rivals' from below. The replay (same order, prices at k1) serves as
    the reference for the next block.
    """
    ids = model.ids
    prices: dict[int, Fraction] = {}
    wallets = _Wallets(model, k1)
    alive = set(model.eligible)
    bound_key = {j: (model.costs[j] / model.total_sat[j], -1) for j in model.eligible}
    for w in reference.order[len(model.free) :]:
        ceiling = reference.price[w]
        prices[w] = wallets.price(w)
        if prices[w] is None:
            return None
        alive.discard(w)
        for j in model.overlap[w]:
            if j not in alive:
                continue
            rho, priced_at = bound_key[j]
            if rho > ceiling or (rho == ceiling and ids[j] > ids[w]):
                continue
            if not wallets.is_exact(j, priced_at):
                rho = wallets.price(j)
                if rho is None:  # unaffordable at k1, hence at every smaller endowment
                    alive.discard(j)
                    continue
                bound_key[j] = (rho, wallets.step)
            if rho < ceiling or (rho == ceiling and ids[j] < ids[w]):
                return None
        wallets.pay(w)
    # Nothing else may be affordable at k1 (then nothing is below it either).
    if any(wallets.price(j) is not None for j in alive):
        return None
    return _Run(k1, list(reference.order), prices, reference.cost)


def _certify_fast(model: _MESModel, k1: int, reference: _Run) -> _Run | None:
    """``_certify`` for a certified float reference run, in float with the same error bounds."""
    ceilings = mes_fast.fast_certify(model, model.fast, k1, reference.order, reference.ceilings)
    if ceilings is None:
        return None
    return _Run(k1, list(reference.order), {}, reference.cost, exact=False, ceilings=ceilings)


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
    jump, cooldown, backoff = 2, 0, 1
    while True:
        if exhaustive_stop and _exhaustive(model, current, model.eligible):
            return current.k
        if limit is not None and current.k >= limit:
            return current.k
        can_skip = current.exact or current.ceilings is not None
        target = current.k + (jump if cooldown == 0 and can_skip else 1)
        if limit is not None:
            target = min(target, limit)
        if target > current.k + 1:
            replay = (
                _certify(model, target, current)
                if current.exact
                else _certify_fast(model, target, current)
            )
            if replay is not None:
                # Same outcome at every step up to target: it fits and is not exhaustive.
                current = replay
                jump, backoff = jump * 2, 1
            elif jump > 2:
                jump //= 2
            else:  # even two steps fail: walk a while (longer after each failure)
                cooldown, backoff = backoff, min(2 * backoff, 32)
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
    run = _explained_run(model, k)
    explanations = _mes_explanations(problem, model, run, score)
    chosen = [model.ids[j] for j in run.order]
    if exhaustive_stop and not _exhaustive(model, run, range(len(model.ids))):
        order = _greedy_order(problem, score)
        _greedy_fill(problem, order, chosen, explanations, score, SELECTED_BY_COMPLETION)
    endowment = model.endowment(k)
    return _result(rule, problem, chosen, explanations, endowment=endowment, add1_steps=k)
