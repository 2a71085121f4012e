"""Exact MES runs: Fractions and ints, so no comparison can flip through rounding.

This is the path of record. ``run`` is one MES run at endowment ``model.endowment(k)``;
``certify`` proves that a whole block of Add1 raises funds the same projects (see its
docstring). Both reproduce pabutools 1.2.3 decision for decision, ties included (price per
unit of utility, then project id as a string).

Speed without floats:
- money is an exact integer in units of 1/D, where D grows by the denominator of each
  per-voter share, so the hot loops add and compare ints instead of Fractions;
- voters are kept in budget classes (all voters in a class hold the same money); a project's
  supporters become (class, utility) buckets, counted in C by ``Counter``, and its price is
  found by bisecting prefix sums over the buckets sorted by money per utility;
- rounds are lazy: a project's price only grows as voters spend, so a stale price is a lower
  bound and only the heap top needs re-pricing; a price stays exact until one of the
  project's supporters pays for something.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from fractions import Fraction
from itertools import accumulate, repeat
from math import gcd
from operator import mul

from services.budget.mes.model import Model, Number, Run

ZERO = -1  # budget class of voters who have no money left


class Wallets:
    """Voters' money during one MES run, grouped into budget classes."""

    def __init__(self, model: Model, k: Number) -> None:
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


def run(model: Model, k: Number, explain: bool = False) -> Run:
    """Run MES with every voter starting at ``model.endowment(k)``."""
    ids = model.ids
    wallets = Wallets(model, k)
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
    run = Run(k, order, prices, sum((model.costs[j] for j in order), Fraction(0)))
    run.finish = lambda: (
        prices,
        {j: wallets.money(j) for j in model.eligible if j not in prices},
    )
    if explain:
        run.money_left = run.finish()[1]
    return run


def certify(model: Model, k1: int, reference: Run) -> Run | None:
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
    wallets = Wallets(model, k1)
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
    return Run(k1, list(reference.order), prices, reference.cost)
