"""The typed model MES works on: projects, costs, voters (ballot groups) and utilities.

``Model`` is everything about an election that does not depend on the voters' endowment:
project ids and exact costs, the budget, ballot groups (identical ballots merged, with their
weight), each supporter's utility as a scaled integer, which projects share supporters, and
the money unit that keeps every endowment and cost an integer. ``Run`` is one MES run at a
fixed endowment. Both are read by ``exact`` (Fractions and ints), ``fast`` (certified
float64) and ``endowments`` (the Add1 loop).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd

import numpy as np

from services.budget.mes.fast import FastModel

Number = int | Fraction


def lcm(a: int, b: int) -> int:
    """Least common multiple of two positive ints."""
    return a * b // gcd(a, b)


def as_number(x: Number) -> Number:
    """An int when the value is whole, else the Fraction."""
    x = Fraction(x)
    return x.numerator if x.denominator == 1 else x


@dataclass(frozen=True)
class Ballot:
    """Identical ballots: points per project (1 for an approval) and how many voters cast them."""

    scores: Mapping[str, Number]
    weight: int = 1


def group_ballots(ballots: Iterable[Ballot]) -> list[Ballot]:
    """Merge identical ballots into one with the summed weight (MES and greedy are unchanged)."""
    counts: dict[frozenset, int] = {}
    alone: dict[frozenset, Ballot] = {}  # the ballot itself while it has no twin (no zeros)
    for ballot in ballots:
        scores = ballot.scores
        if 0 in scores.values():
            key = frozenset((p, s) for p, s in scores.items() if s)
        else:
            key = frozenset(scores.items())
            if key not in counts:
                alone[key] = ballot
        counts[key] = counts.get(key, 0) + ballot.weight
    # Reuse the ballots that merged with none (pabulib files come grouped already): building
    # tens of thousands of equal Ballot objects again is a good part of the model's cost.
    return [
        b if (b := alone.get(k)) is not None and b.weight == w else Ballot(dict(k), w)
        for k, w in counts.items()
    ]


class Model:
    """Everything about a problem that does not depend on the voters' endowment.

    ``utility`` is "cost" (a supporter's utility is points x cost: cost utilities, simply
    the cost for approval ballots) or "points" (the points alone).
    """

    ids: list[str]  # project ids; projects are their index j everywhere else
    costs: list[Fraction]
    budget: Fraction
    weights: list[int]  # voters per ballot group g
    num_voters: int
    flat: tuple[list[int], list[int], list[int]]  # (group, project, scaled utility) triples
    scale: int  # utilities are scaled by this to integers; prices scale back by it
    total_sat: list[int]  # summed scaled utility per project
    util: list[int | None]  # the one utility all supporters of j get, None when they differ
    overlap: list[list[int]]  # projects sharing a supporter with j (j included)
    eligible: list[int]  # projects MES considers (positive cost and support)
    free: list[int]  # supported projects that cost nothing: funded up front
    base: int  # money unit 1/base: every endowment budget/n + k and every cost is whole

    def __init__(
        self,
        costs: Mapping[str, Number],
        budget: Number,
        ballots: Iterable[Ballot],
        utility: str = "cost",
        extra_denominator: int = 1,
    ) -> None:
        self.runs: dict[Number, Run] = {}  # plain runs by k, shared by mes and mes-add1
        self.finished: list[Run] = []  # the latest plain runs that still hold their end state
        self.ids = list(costs)
        index = {pid: j for j, pid in enumerate(self.ids)}
        self.costs = [Fraction(costs[pid]) for pid in self.ids]
        self.budget = Fraction(budget)
        groups = group_ballots(ballots)
        self.weights = [b.weight for b in groups]
        self.num_voters = sum(self.weights)
        # Plain ints where possible: Fraction arithmetic is slow on 100k ballot entries.
        factor = [as_number(c) if utility == "cost" else 1 for c in self.costs]
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
                den = lcm(den, Fraction(u).denominator)
        # Utilities are scaled to integers by one common factor: prices scale uniformly, so
        # every comparison between projects is unchanged. ``scale`` converts prices back.
        self.scale = den
        if den != 1 or not all(type(u) is int for u in flat_u):
            flat_u = [int(u * den) for u in flat_u]
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
        incidence = np.zeros((len(groups), n), dtype=np.uint8)
        incidence[self.flat_g, self.flat_j] = 1
        self.incidence = incidence  # group x project, 1 = supports
        # overlap[j]: projects sharing a supporter with j; only their prices move when j is paid.
        # From j's supporters' rows (no matrix product: BLAS threads are slow on a busy box).
        by_project = np.argsort(self.flat_j, kind="stable")
        bounds = np.searchsorted(self.flat_j[by_project], np.arange(n + 1))
        supporters = self.flat_g[by_project]
        self.overlap = [
            np.flatnonzero(incidence[supporters[bounds[j] : bounds[j + 1]]].any(axis=0)).tolist()
            for j in range(n)
        ]
        self.has_exact_tables = False
        # pabutools: only projects with positive cost and satisfaction take part in MES;
        # supported projects that cost nothing are funded up front.
        self.eligible = [j for j in range(n) if self.total_sat[j] > 0 and self.costs[j]]
        self.free = [j for j in range(n) if self.total_sat[j] > 0 and not self.costs[j]]
        # Money unit 1/base makes the endowment budget/n + k and every cost an integer.
        base = self.num_voters * self.budget.denominator if self.num_voters else 1
        base = lcm(base, extra_denominator)
        for c in self.costs:
            base = lcm(base, c.denominator)
        self.base = base
        self.fast = FastModel(self)

    def exact_tables(self) -> None:
        """Build the tables the exact path uses (on first use: the float path needs none)."""
        if self.has_exact_tables:
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
                lcm_u = lcm(lcm_u, u)
            self.sort_mult[j] = lcm_u
        self.has_exact_tables = True

    def endowment(self, k: Number) -> Fraction:
        """Per-voter starting money after k one-unit raises."""
        return self.budget / self.num_voters + k


@dataclass
class Run:
    """One MES run at a fixed endowment."""

    k: Number
    order: list[int]  # selected projects, free ones first
    price: dict[int, Fraction]  # selected project -> price per unit of (scaled) utility
    cost: Fraction
    money_left: dict[int, Fraction] = field(default_factory=dict)
    exact: bool = True  # False for a certified float run: order only, no prices
    ceilings: object = None  # certified float run: its fast.Reference (price bounds)
    # Canonical runs (not replays), the latest few only: (exact prices, money left) from the
    # run's end state, so the explained run at the returned k need not be run again.
    finish: Callable[[], tuple[dict, dict]] | None = field(default=None, repr=False)
