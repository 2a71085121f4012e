"""One MES run in float64 (numpy) whose every decision is certified against exact arithmetic.

``fast_order(model, fast, k)`` returns the order in which exact MES (``exact.run``) funds
projects at endowment ``model.endowment(k)``, or ``None`` when it cannot prove that order; the
caller then runs the exact path. The outcome never depends on float rounding:

- Money. ``m`` holds each ballot group's money in float, ``M`` the exact money. We keep a
  rigorous bound ``delta >= max |m - M|`` (every group, every moment). Groups that certainly
  have nothing left (``alive`` is False) hold exactly 0 in both.
- Price. For project j with supporters S (weights w, one utility u per project), exact MES
  pays P with sum_S w*min(M, P) = C. At any x, replacing M by m changes sum_S w*min(., x)
  by at most W_low*delta, where W_low is the weight of supporters that may still hold money
  and have m < x + delta (richer ones pay x either way). The left side grows at least as
  fast as the weight of supporters holding >= x, so if R is the weight of supporters with
  m >= p + r + b + delta, W_low is taken at that same point and W_low*delta <= b*R, the
  exact price is within b + r of the float one (r bounds the float rounding of the
  computation itself, generously).
- Affordability (sum_S w*M >= C) is decided only when the float sum is farther from C than
  its error bound.
- Choice. Prices only grow during a run, so a stale price minus its error is a lower bound
  of the project's exact price now. The heap is keyed by these lower bounds; a project is
  funded only when its upper bound is below every other project's lower bound. Overlapping
  intervals are settled exactly: an untouched project's price is C/(W u) (the common tie
  between projects with equal approval counts), a touched one's comes from the certified
  poor/rich split of its supporters as in Payment below; if that split is not certain we
  give up (``None``).
- Payment. m <- max(m - p, 0) moves by at most |m - M| + |p - P| + rounding from the exact
  max(M - P, 0), so delta grows by the price error and one rounding per payment. A group is
  marked dead only when m - p is below -(error); in between it stays alive (with tiny money).

- Blocks of Add1 raises (``fast_certify``) are certified like ``exact.certify``: float
  lower bounds against recorded ceilings, exact prices where they come close.

Only problems where every project's supporters share one utility (approval ballots, cost or
point utilities) take this path; others return ``None`` for every k.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from fractions import Fraction
from math import gcd

import numpy as np

UNIT = 2.0**-53  # unit roundoff of float64
_sum = np.add.reduce  # ndarray.sum without its Python wrapper (same summation)
_count = np.count_nonzero
_dot = np.dot
DOT_MAX = 8192  # OpenBLAS computes dot products of up to 10,000 terms on one thread


def _masked_sum(x, mask):
    return _sum(x[mask])


class Ambiguous(Exception):
    """A decision the float bounds cannot settle: use the exact path."""


class FastModel:
    """Numpy view of a ``model.Model`` (endowment independent)."""

    def __init__(self, model) -> None:
        self.model = model
        n = len(model.ids)
        self.usable = model.num_voters > 0 and all(u is not None for u in model.util)
        if not self.usable:
            return
        self.num_groups = len(model.weights)
        weights = np.asarray(model.weights, dtype=np.float64)
        self.weights = weights
        order = np.argsort(model.flat_j, kind="stable")
        by_project = model.flat_g[order]
        bounds = np.searchsorted(model.flat_j[order], np.arange(n + 1))
        self.sup = [by_project[bounds[j] : bounds[j + 1]] for j in range(n)]
        self.supw = [weights[idx] for idx in self.sup]
        # Exact: integer weights summed in float stay exact below 2**53 voters.
        self.wall = [float(w.sum()) for w in self.supw]
        self.exact_wall = [int(x) for x in self.wall]
        self.nterms = [len(idx) + 4 for idx in self.sup]
        self.util = model.util  # exact scaled utility of j for each of its supporters
        self.cost = [float(c) for c in model.costs]
        self.util_f = [float(u) for u in self.util]
        self.weights_int = np.asarray(model.weights, dtype=np.int64)
        den = 1
        for c in model.costs:
            den = den * c.denominator // gcd(den, c.denominator)
        self.cost_den = den


def fast_order(model, fast: FastModel, k) -> list[int] | None:
    """Exact MES funding order at endowment ``model.endowment(k)``, or None if not certified."""
    found = fast_run(model, fast, k)
    return None if found is None else found[0]


def fast_run(model, fast: FastModel, k) -> tuple[list[int], dict] | None:
    """``fast_order`` plus, per funded project, its ``Ceiling`` (see ``fast_certify``)."""
    found = fast_run_finished(model, fast, k)
    return None if found is None else found[:2]


def fast_run_finished(model, fast: FastModel, k) -> tuple[list[int], Reference, Callable] | None:
    """``fast_run`` plus a function that tells, from the finished run, what
    ``fast_explained`` reports besides the order (without running again)."""
    if not fast.usable:
        return None
    run = FloatRun(model, fast, k)
    try:
        order = run.run()
    except Ambiguous:
        return None
    return order, run.reference(), lambda: _explanation(model, run)


def fast_explained(model, fast: FastModel, k) -> tuple[list[int], dict, dict] | None:
    """``fast_order`` plus what ``exact.run(..., explain=True)`` reports, all exact: the
    price per (scaled) utility of each funded project and, for each eligible project left
    out, the money its supporters hold at the end. None if the run is not certified."""
    found = fast_run_finished(model, fast, k)
    return None if found is None else (found[0], *found[2]())


def _explanation(model, run: FloatRun) -> tuple[dict, dict]:
    util = run.fast.util
    prices = {
        j: Fraction(paid, den) / util[j]
        for j, paid, den in zip(run.funded, run.paid, run.paid_den, strict=True)
    }
    money = {j: run.exact_money(j) for j in model.eligible if j not in prices}
    return prices, money


class Reference:
    """What block certification needs of a certified float run: per funded project an upper
    bound of its exact price per utility (``ceilings``) and the exact price itself."""

    def __init__(self, run: FloatRun) -> None:
        self.ceilings = run.ceilings  # project -> (float ceiling, position in run.funded)
        self.paid, self.paid_den, self.util = run.paid, run.paid_den, run.fast.util

    def exact(self, j: int) -> Fraction:
        i = self.ceilings[j][1]
        return Fraction(self.paid[i], self.paid_den[i]) / self.util[j]


def fast_certify(model, fast: FastModel, k1, order: list[int], ref: Reference) -> Reference | None:
    """Float twin of ``exact.certify``: the replay's ``Reference`` at k1 if every endowment
    from the reference run's (which funded ``order``) to k1's funds the same projects; None
    when this is not proved.

    Same argument as ``exact.certify``: we replay ``order`` at k1. The reference ceiling of
    each winner bounds its exact price from above on the whole block; a rival sharing a
    supporter is harmless when its certified lower bound at k1 (stale ones included: prices
    only grow during a run) is strictly above that ceiling. Otherwise the rival's exact price
    at k1 (from the certified poor/rich split) is compared with the winner's exact reference
    price, ties by id, exactly as ``exact.certify`` does.
    """
    if not fast.usable:
        return None
    run = FloatRun(model, fast, k1)
    try:
        return run.replay(order, ref)
    except Ambiguous:
        return None


class FloatRun:
    def __init__(self, model, fast: FastModel, k) -> None:
        self.model = model
        self.fast = fast
        self.endowment = model.endowment(k)
        e = float(self.endowment)
        self.e = e
        self.m = np.full(fast.num_groups, e)
        self.alive = np.ones(fast.num_groups, dtype=np.float64)
        self.walive = fast.weights.copy()  # weight x alive, per group
        self.delta = 2 * UNIT * e  # float(e) is within half an ulp of the exact endowment
        self.changed_at = [-1] * len(model.ids)
        self.step = 0
        # Exact per-voter payments: paid[i] / paid_den[i] for project funded[i]. ``den`` is a
        # common denominator of them all: it grows by each payment's payer weight, and
        # paid_den[i] is ``den`` just after payment i (so den // paid_den[i] is exact). Sums
        # rescale only the few payments they involve, never the whole list.
        d0 = (
            self.endowment.denominator
            * fast.cost_den
            // gcd(self.endowment.denominator, fast.cost_den)
        )
        self.den = d0
        self.funded: list[int] = []  # projects paid so far, in order
        # funded project -> (upper bound of its exact price per utility when funded, its
        # position in ``funded``)
        self.ceilings: dict[int, tuple[float, int]] = {}
        self.paid: list[int] = []  # their exact per-voter payments, times paid_den
        self.paid_den: list[int] = []

    def price(self, j: int):
        """(rho, err, p, err_p) for j now, or None if certainly unaffordable."""
        f = self.fast
        idx, w = f.sup[j], f.supw[j]
        mm = self.m.take(idx)
        cost = f.cost[j]
        gamma = f.nterms[j] * UNIT * 2
        # BLAS dot only on short vectors (OpenBLAS threads longer dot products, which is slow
        # on a busy box): a dot with a 0/1 mask is the masked sum (every product is exact),
        # and any summation order stays within the same rounding bounds.
        wm = w * mm
        total = float(_sum(wm))
        masked = _dot if len(mm) <= DOT_MAX else _masked_sum
        # Affordability: every supporter's money may be off by delta (a safe over-estimate).
        wall = f.wall[j]
        slack = wall * self.delta + gamma * total
        c_lo, c_hi = cost * (1 - 2 * UNIT), cost * (1 + 2 * UNIT)
        if total + slack < c_lo:
            return None
        if total - slack < c_hi:
            raise Ambiguous
        p = cost / wall
        poor = mm < p
        count = _count(poor)
        poor_w = 0.0
        if count:
            for _ in range(len(mm) + 1):  # the poor set only grows, so this ends
                poor_w = float(masked(w, poor))
                p = (cost - float(masked(wm, poor))) / (wall - poor_w)
                poor = mm < p
                new_count = _count(poor)
                if new_count == count:
                    break
                count = new_count
            else:
                raise Ambiguous
        rich_w = wall - poor_w
        if rich_w <= 0:
            raise Ambiguous
        # Rounding of the float computation, generously: sums of n terms, two divisions.
        r = gamma * (cost + total) / rich_w + 8 * UNIT * p
        # Only supporters below the price feel a money error: rich ones pay p either way.
        # ``walive`` is weight x alive (0 or 1), so these are the same products as before.
        wa = self.walive.take(idx) if count else None
        poor_alive = float(masked(wa, poor)) if count else 0.0
        b = 1.5 * self.delta * poor_alive / rich_w + 4 * UNIT * p
        threshold = p + r + b + self.delta
        low = mm < threshold
        if _count(low) == count:  # nobody between p and the threshold
            low_w, rich_far = poor_alive, rich_w
        else:
            if wa is None:
                wa = self.walive.take(idx)
            low_w = float(masked(wa, low))
            rich_far = wall - float(masked(w, low))
        if rich_far <= 0 or low_w * self.delta > b * rich_far:
            raise Ambiguous
        err_p = b + r
        u = f.util_f[j]
        rho = p / u
        err = err_p / u + 4 * UNIT * rho
        return rho, err, p, err_p

    def exact_money(self, j: int) -> Fraction:
        """What j's supporters hold now, exactly: e - the prices of what each one paid for.

        Groups marked dead paid all they had (exactly 0); the others paid in full every funded
        project they support (see ``pay``).
        """
        f = self.fast
        idx = f.sup[j]
        alive_idx = idx[self.alive.take(idx) > 0]
        if not alive_idx.size:
            return Fraction(0)
        pw = f.weights_int[alive_idx]
        e, den = self.endowment, self.den
        numerator = e.numerator * (den // e.denominator) * int(pw.sum())
        if self.funded:
            counts = pw @ self.model.incidence[alive_idx].take(self.funded, axis=1)
            numerator -= self.paid_total(counts)
        return Fraction(numerator, den)

    def paid_total(self, counts) -> int:
        """sum of counts[i] x payment i, times ``den`` (exact; zero counts skipped)."""
        den, paid, paid_den = self.den, self.paid, self.paid_den
        return sum(int(counts[i]) * paid[i] * (den // paid_den[i]) for i in np.flatnonzero(counts))

    def exact_untouched(self, j: int) -> Fraction:
        """Exact price per utility of j while none of its supporters has paid anything."""
        f = self.fast
        wall = f.exact_wall[j]
        cost = self.model.costs[j]
        if self.endowment * wall < cost:  # certified affordable before; never happens
            raise Ambiguous
        return cost / (wall * f.util[j])

    def exact_split(self, j: int, p: float, err_p: float):
        """j's supporters split into certainly poor / certainly rich at its exact price, and
        that price as ``numerator / (den * rich_w)`` per voter (see ``pay``)."""
        f = self.fast
        idx = f.sup[j]
        mm = self.m[idx]
        left = mm - p
        margin = self.delta + err_p + 4 * UNIT * self.e
        poor = left < -margin
        if int(np.count_nonzero(poor)) + int(np.count_nonzero(left > margin)) != len(idx):
            raise Ambiguous
        poor_idx = idx[poor]
        poor_alive = poor_idx[self.alive[poor_idx] > 0]
        wint = f.weights_int
        rich_w = int(f.exact_wall[j]) - int(wint[poor_idx].sum())
        if rich_w <= 0:
            raise Ambiguous
        den = self.den
        cost = self.model.costs[j]
        numerator = cost.numerator * (den // cost.denominator)
        funded = self.funded
        if poor_alive.size:
            pw = wint[poor_alive]
            e = self.endowment
            numerator -= e.numerator * (den // e.denominator) * int(pw.sum())
            if funded:
                # Integer matmul on the funded columns of those rows (exact, no BLAS).
                counts = pw @ self.model.incidence[poor_alive].take(funded, axis=1)
                numerator += self.paid_total(counts)
        return mm, poor, poor_idx, rich_w, numerator

    def exact_rho(self, j: int, p: float, err_p: float) -> Fraction:
        """Exact price per utility of j now, from a current float price (p, err_p)."""
        if self.changed_at[j] < 0:
            return self.exact_untouched(j)
        _, _, _, rich_w, numerator = self.exact_split(j, p, err_p)
        return Fraction(numerator, self.den * rich_w) / self.fast.util[j]

    def pay(self, j: int, p: float, err_p: float) -> None:
        """Charge j's supporters its exact price; the float money follows the exact one.

        Every supporter is certainly rich (money > price) or certainly poor (money < price)
        or we give up. A supporter that still holds money has paid the full price of every
        funded project it supports, so its exact money is e - sum of those prices: the exact
        price is (cost - poor supporters' money) / rich weight, in integers over ``den``.
        Money then carries only rounding (no error compounding from one price to the next).
        """
        f = self.fast
        idx = f.sup[j]
        mm, poor, poor_idx, rich_w, numerator = self.exact_split(j, p, err_p)
        den = self.den
        funded = self.funded
        self.den = den * rich_w
        self.paid.append(numerator)
        self.paid_den.append(self.den)
        funded.append(j)
        exact_p = numerator / self.den  # correctly rounded
        left = mm - exact_p
        left[poor] = 0.0
        self.m[idx] = left
        self.alive[poor_idx] = 0.0
        self.walive[poor_idx] = 0.0
        self.delta += UNIT * exact_p + 2 * UNIT * self.e
        for other in self.model.overlap[j]:
            self.changed_at[other] = self.step
        self.step += 1

    def current(self, j: int, priced_at: int) -> bool:
        return priced_at == self.step or 0 <= priced_at > self.changed_at[j]

    def run(self) -> list[int]:
        model, fast = self.model, self.fast
        ids = model.ids
        heap = []
        for j in model.eligible:
            lb = fast.cost[j] / (fast.wall[j] * fast.util_f[j]) * (1 - 8 * UNIT)
            heap.append((lb, ids[j], j, -1, 0.0, 0.0, 0.0))
        heapq.heapify(heap)
        order = list(model.free)
        while heap:
            entry = heapq.heappop(heap)
            lb, _, j, at, rho, p, err_p = entry
            if not self.current(j, at):
                self._reprice(heap, j)
                continue
            hi = 2 * rho - lb  # rho + err
            ties = []
            while heap and heap[0][0] <= hi:
                other = heapq.heappop(heap)
                if self.current(other[2], other[3]):
                    ties.append(other)
                else:
                    self._reprice(heap, other[2])
            if ties:
                winner = self._settle(entry, ties)
                for other in [entry, *ties]:
                    if other is not winner:
                        heapq.heappush(heap, other)
                lb, _, j, at, rho, p, err_p = winner
            order.append(j)
            self.ceilings[j] = (self.ceiling(j, rho, err_p), len(self.funded))
            self.pay(j, p, err_p)
        return order

    def ceiling(self, j: int, rho: float, err_p: float) -> float:
        """A float at or above rho + err (the exact price's upper bound), rounding included."""
        err = err_p / self.fast.util_f[j] + 4 * UNIT * rho
        return (rho + err) * (1 + 8 * UNIT)

    def reference(self) -> Reference:
        return Reference(self)

    def replay(self, order: list[int], ref: Reference) -> Reference | None:
        """See ``fast_certify``; raises Ambiguous or returns None when not proved."""
        model, fast = self.model, self.fast
        ids = model.ids
        alive = set(model.eligible)
        # Lower bounds of each project's exact price per utility, with the step they were
        # computed at (-1: before any payment, never current).
        bound = {
            j: (fast.cost[j] / (fast.wall[j] * fast.util_f[j]) * (1 - 8 * UNIT), -1, 0.0, 0.0)
            for j in model.eligible
        }
        for w in order[len(model.free) :]:
            ceiling = ref.ceilings[w][0]
            priced = self.price(w)
            if priced is None:
                return None
            rho, _, p, err_p = priced
            self.ceilings[w] = (self.ceiling(w, rho, err_p), len(self.funded))
            alive.discard(w)
            for j in model.overlap[w]:
                if j not in alive:
                    continue
                lo, at, p_j, err_j = bound[j]
                if lo > ceiling:
                    continue
                if not self.current(j, at):
                    priced_j = self.price(j)
                    if priced_j is None:  # unaffordable at k1, hence below it
                        alive.discard(j)
                        continue
                    rho_j, err_rho, p_j, err_j = priced_j
                    lo = (rho_j - err_rho) * (1 - 8 * UNIT)
                    bound[j] = (lo, self.step, p_j, err_j)
                if lo > ceiling:
                    continue
                # j is current here (priced at this step or untouched by payments since).
                if (self.exact_rho(j, p_j, err_j), ids[j]) < (ref.exact(w), ids[w]):
                    return None
            self.pay(w, p, err_p)
        # Nothing else may be affordable at k1 (then nothing is below it either).
        if any(self.price(j) is not None for j in alive):
            return None
        return self.reference()

    def _reprice(self, heap, j: int) -> None:
        priced = self.price(j)
        if priced is None:
            return  # unaffordable now, hence for the rest of the run
        rho, err, p, err_p = priced
        heapq.heappush(heap, (rho - err, self.model.ids[j], j, self.step, rho, p, err_p))

    def _settle(self, entry, ties):
        """Exact choice among projects whose price intervals overlap (all current)."""
        everyone = [entry, *ties]
        return min(everyone, key=lambda e: (self.exact_rho(e[2], e[5], e[6]), e[1]))
