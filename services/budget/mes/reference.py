"""The Method of Equal Shares as the paper states it: slow, exact, and easy to check by eye.

Peters & Skowron, "Proportionality and the Limits of Welfarism" (EC 2021), and Peters,
Pierczyński & Skowron, "Proportional Participatory Budgeting with Additive Utilities"
(NeurIPS 2021), with the completion the service uses (pabutools 1.2.3's Add1 and greedy).
This module is the oracle of the property tests: ``tally.mes`` / ``tally.mes_add1`` (the
certified fast path and the exact path behind it) must fund exactly what it funds, in the
same order. Every number is a ``Fraction``; every voter is handled one by one.

One run at endowment e (``equal_shares``):
  1. Every voter i gets e. Supported projects that cost nothing are funded first.
  2. A project j is affordable when its supporters (u_ij > 0) hold at least its cost c_j.
     Its price per unit of utility is the smallest rho with
         sum over supporters i of min(money_i, rho * u_ij) = c_j.
  3. Fund the affordable project with the smallest rho (ties: the smaller project id as a
     string); each supporter pays min(money_i, rho * u_ij). Repeat until nothing is affordable.

Add1 (``add1_steps``): run with e = budget / n + k for k = 0, 1, 2, ...
  - rule ``mes``: stop at the first k whose outcome is exhaustive (no unfunded project fits
    the budget left), or at k - 1 when the outcome at k overspends; then complete the outcome
    greedily (projects by total points, ties by id; add each one that still fits);
  - rule ``mes-add1``: keep the last outcome that fits the budget, up to k = budget (where
    pabutools stops raising); no completion.

Utilities: "cost" gives a supporter points x cost (for approval ballots: the cost),
"points" the points alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Protocol


class Ballots(Protocol):
    scores: Mapping[str, int | Fraction]
    weight: int


class Election(Protocol):
    costs: Mapping[str, int | Fraction]
    budget: int | Fraction
    ballots: Iterable[Ballots]
    utility: str


def utilities(election: Election) -> list[dict[str, Fraction]]:
    """One dict per voter: project -> positive utility."""
    voters = []
    for ballot in election.ballots:
        u = {
            j: Fraction(points) * (election.costs[j] if election.utility == "cost" else 1)
            for j, points in ballot.scores.items()
        }
        voters += [{j: x for j, x in u.items() if x > 0}] * ballot.weight
    return voters


def price(cost: Fraction, money: list[Fraction], utility: list[Fraction]) -> Fraction | None:
    """The smallest rho with sum min(money_i, rho * u_i) = cost, None if they cannot pay."""
    if sum(money) < cost:
        return None
    # Poorest per unit of utility first: they pay all they have, the others rho * u_i.
    supporters = sorted(zip(money, utility, strict=True), key=lambda mu: mu[0] / mu[1])
    paid, rest = Fraction(0), sum(utility)
    for m, u in supporters:
        rho = (cost - paid) / rest
        if m >= rho * u:
            return rho
        paid, rest = paid + m, rest - u
    raise AssertionError("unreachable: they can pay")


def equal_shares(election: Election, endowment: Fraction) -> list[str]:
    """One MES run, every voter starting with ``endowment``: funded projects in order."""
    voters = utilities(election)
    money = [Fraction(endowment)] * len(voters)
    supported = {j for u in voters for j in u}
    funded = [j for j in election.costs if j in supported and election.costs[j] == 0]
    candidates = sorted(j for j in supported if election.costs[j] > 0)
    while True:
        best = None
        for j in candidates:
            if j in funded:
                continue
            who = [i for i, u in enumerate(voters) if j in u]
            rho = price(
                Fraction(election.costs[j]), [money[i] for i in who], [voters[i][j] for i in who]
            )
            if rho is not None and (best is None or (rho, j) < best[:2]):
                best = (rho, j, who)
        if best is None:
            return funded
        rho, j, who = best
        for i in who:
            money[i] -= min(money[i], rho * voters[i][j])
        funded.append(j)


def _cost(election: Election, projects: Iterable[str]) -> Fraction:
    return sum((Fraction(election.costs[j]) for j in projects), Fraction(0))


def _exhaustive(election: Election, funded: list[str], among: Iterable[str]) -> bool:
    left = Fraction(election.budget) - _cost(election, funded)
    return not any(j not in funded and election.costs[j] <= left for j in among)


def add1_steps(election: Election, exhaustive_stop: bool) -> int:
    """How many one-unit raises the outcome that Add1 keeps used."""
    n = sum(b.weight for b in election.ballots)
    budget = Fraction(election.budget)
    supported = {j for u in utilities(election) for j in u if election.costs[j] > 0}
    k = 0
    while True:
        funded = equal_shares(election, budget / n + k)
        if _cost(election, funded) > budget:
            return k - 1
        if exhaustive_stop and _exhaustive(election, funded, supported):
            return k
        if not exhaustive_stop and k >= int(budget):
            return k
        k += 1


def mes(election: Election) -> list[str]:
    """Rule ``mes``: Add1 with the exhaustive stop, completed greedily."""
    n = sum(b.weight for b in election.ballots)
    if n == 0:
        return []
    k = add1_steps(election, exhaustive_stop=True)
    funded = equal_shares(election, Fraction(election.budget) / n + k)
    if _exhaustive(election, funded, election.costs):
        return funded
    points = dict.fromkeys(election.costs, Fraction(0))
    for ballot in election.ballots:
        for j, x in ballot.scores.items():
            points[j] += x * ballot.weight
    left = Fraction(election.budget) - _cost(election, funded)
    for j in sorted(election.costs, key=lambda j: (-points[j], j)):
        if j not in funded and election.costs[j] <= left:
            funded.append(j)
            left -= election.costs[j]
    return funded


def mes_add1(election: Election) -> list[str]:
    """Rule ``mes-add1``: the last Add1 outcome that fits the budget, no completion."""
    n = sum(b.weight for b in election.ballots)
    if n == 0:
        return []
    k = add1_steps(election, exhaustive_stop=False)
    return equal_shares(election, Fraction(election.budget) / n + k)
