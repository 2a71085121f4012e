"""The Add1 loop: raise every voter's endowment by one currency unit until MES is done.

pabutools' ``method_of_equal_shares`` with ``voter_budget_increment=1`` starts each voter at
budget/n and re-runs MES after each one-unit raise; ``add1`` returns how many raises the
outcome it keeps used:
- with the exhaustive stop (rule ``mes``): the first outcome that is exhaustive (no
  unfunded project fits the money left), or the last one before an outcome that overspends;
- without it (rule ``mes-add1``): the last outcome that fits, up to pabutools' limit
  budget + k*n <= budget*(n+1).

Speed. Add1 steps are skipped in certified blocks (``exact.certify``, ``fast.fast_certify``):
with the same history, more endowment means more money and lower prices at every round
(induction on sum min(money, rho*u) = cost), and the order among projects that share no
supporter does not change the outcome. Probes double while certification succeeds and back
off when it fails. When every project's supporters share one utility (approval ballots),
each run is first done in float64 (``fast``): every decision is certified by a rigorous error
bound and every payment is the exact integer price, so the float run returns exactly the
exact run's order or gives up, and then ``exact.run`` is used.
"""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction

from services.budget.mes import exact, fast
from services.budget.mes.model import Model, Run


def explained_run(model: Model, k: int) -> Run:
    """The run at k with prices and money left: certified float run if possible, else exact."""
    cached = model.runs.get(k)
    if cached is not None and cached.finish is not None:
        prices, money = cached.finish()
        run = Run(k, list(cached.order), prices, cached.cost)
        run.money_left = money
        return run
    found = fast.fast_explained(model, model.fast, k) if model.fast.usable else None
    if found is None:
        return exact.run(model, k, explain=True)
    order, prices, money = found
    run = Run(k, order, prices, sum((model.costs[j] for j in order), Fraction(0)))
    run.money_left = money
    return run


KEEP_FINISHED = 2  # the returned k is the latest plain run or the one before it


def plain_run(model: Model, k: int) -> Run:
    """The run at k: the certified float run when it settles every decision, else exact."""
    run = model.runs.get(k)
    if run is None:
        found = fast.fast_run_finished(model, model.fast, k) if model.fast.usable else None
        if found is None:
            run = exact.run(model, k)
        else:
            order, ceilings, finish = found
            cost = sum((model.costs[j] for j in order), Fraction(0))
            run = Run(k, order, {}, cost, exact=False, ceilings=ceilings, finish=finish)
        model.runs[k] = run
        # End states are large (money per ballot group): keep only the latest few.
        model.finished.append(run)
        while len(model.finished) > KEEP_FINISHED:
            model.finished.pop(0).finish = None
    return run


def certify_fast(model: Model, k1: int, reference: Run) -> Run | None:
    """``exact.certify`` for a certified float reference run, in float with its error bounds."""
    ceilings = fast.fast_certify(model, model.fast, k1, reference.order, reference.ceilings)
    if ceilings is None:
        return None
    return Run(k1, list(reference.order), {}, reference.cost, exact=False, ceilings=ceilings)


def exhaustive(model: Model, run: Run, among: Iterable[int]) -> bool:
    """Does no project of ``among`` left out of the run fit the budget it leaves?"""
    chosen = set(run.order)
    return not any(j not in chosen and run.cost + model.costs[j] <= model.budget for j in among)


def add1(model: Model, exhaustive_stop: bool) -> int:
    """Number of one-unit raises whose outcome pabutools' Add1 loop returns."""
    budget = model.budget
    # Without the exhaustive stop pabutools gives up once budget + k*n > budget*(n+1).
    limit = None if exhaustive_stop else int(budget)
    if limit is not None and sum(model.costs[j] for j in model.eligible) <= budget:
        # Every outcome fits, so the loop runs to the limit, where one voter alone can pay for
        # any project: the outcome there funds every eligible project.
        return limit
    current = plain_run(model, 0)  # budget/n each can never overspend
    jump, cooldown, backoff = 2, 0, 1
    while True:
        if exhaustive_stop and exhaustive(model, current, model.eligible):
            return current.k
        if limit is not None and current.k >= limit:
            return current.k
        can_skip = current.exact or current.ceilings is not None
        target = current.k + (jump if cooldown == 0 and can_skip else 1)
        if limit is not None:
            target = min(target, limit)
        if target > current.k + 1:
            replay = (
                exact.certify(model, target, current)
                if current.exact
                else certify_fast(model, target, current)
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
        nxt = plain_run(model, target)
        if nxt.cost > budget:
            return current.k
        current = nxt
