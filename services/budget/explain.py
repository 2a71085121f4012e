"""Why each project won or lost, round by round, as equalshares.net explains it (pure).

The tally (`tally.py`) decides; this module replays its decision in plain exact arithmetic
to tell the story, and never changes it:

- MES: every voter starts with the endowment the Add1 loop settled on. Each round funds the
  project whose supporters can pay its cost at the lowest price per unit of utility (rho);
  a supporter pays rho × their utility, or everything they have left if that is less. We
  record, per round, rho, what a supporter paying in full paid, how many paid in full and
  how many gave all they had, and what money the voters have left. A losing project becomes
  unaffordable in the round after which its supporters hold less than its cost together:
  we record that round and how much they lacked. Projects funded afterwards by the greedy
  completion are listed with the running total.
- greedy: projects in order of votes (points), each with the running total, and for a
  skipped one the budget left when its turn came.

Identical ballots are replayed as one group (their voters always hold the same money).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from services.budget import tally


@dataclass(frozen=True)
class Round:
    step: int
    project: str
    cost: Fraction
    rho: Fraction  # price per unit of utility
    full_share: Fraction  # what a supporter with the smallest utility paid in full
    supporters: int
    paid_in_full: int  # supporters who paid rho × utility
    gave_all: int  # supporters who could not, and gave everything they had
    money_left_total: Fraction  # all voters together, after this round
    voters_with_money: int  # voters holding anything after this round


@dataclass(frozen=True)
class Shortfall:
    round: int  # after this many rounds its supporters could no longer pay (0: never could)
    supporters_money: Fraction
    lacked: Fraction


@dataclass(frozen=True)
class GreedyStep:
    project: str
    cost: Fraction
    selected: bool
    running_total: Fraction  # spent after this project's turn
    budget_left: Fraction  # left after this project's turn


@dataclass
class Story:
    rule: str
    budget: Fraction
    voters: int
    start_endowment: Fraction | None = None
    endowment: Fraction | None = None
    add1_steps: int | None = None
    rounds: list[Round] = field(default_factory=list)
    shortfalls: dict[str, Shortfall] = field(default_factory=dict)
    completion: list[GreedyStep] = field(default_factory=list)
    greedy: list[GreedyStep] = field(default_factory=list)
    money_left: dict[str, Fraction | int] = field(default_factory=dict)


def explain(problem: tally.Problem, result: tally.TallyResult) -> Story:
    voters = sum(b.weight for b in problem.ballots)
    story = Story(rule=result.rule, budget=Fraction(problem.budget), voters=voters)
    if result.rule in ("greedy", "greedy-threshold"):
        story.greedy = _greedy_steps(problem, result, [], statuses=None)
        return story
    if voters == 0:
        return story
    story.start_endowment = Fraction(problem.budget) / voters
    story.endowment = result.endowment
    story.add1_steps = result.add1_steps
    by_mes = [p for p in result.selected if result.explanations[p].status == tally.SELECTED]
    _replay_mes(problem, story, by_mes)
    completed = [p for p in result.selected if p not in set(by_mes)]
    if completed or result.rule == "mes":
        story.completion = _greedy_steps(
            problem, result, by_mes, statuses={tally.SELECTED_BY_COMPLETION}
        )
    return story


def _utility(problem: tally.Problem, project: str, points) -> Fraction:
    cost = Fraction(problem.costs[project])
    return Fraction(points) * (cost if problem.utility == "cost" else 1)


def _replay_mes(problem: tally.Problem, story: Story, order: list[str]) -> None:
    groups = [b for b in tally.group_ballots(problem.ballots)]
    money = [Fraction(story.endowment)] * len(groups)
    supporters: dict[str, list[tuple[int, Fraction]]] = {p: [] for p in problem.costs}
    for g, ballot in enumerate(groups):
        for project, points in ballot.scores.items():
            if points:
                supporters[project].append((g, _utility(problem, project, points)))
    candidates = {p for p, s in supporters.items() if s and problem.costs[p]}
    candidates -= set(order)
    projects_of = [[q for q in b.scores if q in candidates] for b in groups]
    # What each candidate's supporters hold together, the total and who still has money,
    # all kept up to date payment by payment (cheaper than summing again every round).
    held = {
        q: sum((money[g] * groups[g].weight for g, _ in supporters[q]), Fraction(0))
        for q in candidates
    }
    total = sum((m * b.weight for m, b in zip(money, groups, strict=True)), Fraction(0))
    with_money = sum(b.weight for m, b in zip(money, groups, strict=True) if m)

    def note_shortfalls(after_round: int, touched) -> None:
        # Only projects sharing a supporter with the one just paid can have become
        # unaffordable: the others' supporters hold what they held.
        for q in sorted(candidates.intersection(touched)):
            cost = Fraction(problem.costs[q])
            if held[q] < cost:
                story.shortfalls[q] = Shortfall(after_round, held[q], cost - held[q])
                candidates.discard(q)

    note_shortfalls(0, list(candidates))
    for step, project in enumerate(order, start=1):
        cost = Fraction(problem.costs[project])
        rho = _price(cost, supporters[project], money, groups)
        full = gave_all = 0
        touched: set[str] = set()
        for g, u in supporters[project]:
            weight = groups[g].weight
            if not money[g]:  # spent out earlier: gives all it has, nothing
                gave_all += weight
                continue
            due = rho * u
            if money[g] >= due:
                paid = due
                full += weight
            else:
                paid = money[g]
                gave_all += weight
            if not paid:
                continue
            money[g] -= paid
            total -= paid * weight
            if not money[g]:
                with_money -= weight
            for q in projects_of[g]:
                held[q] -= paid * weight
                touched.add(q)
        smallest = min((u for _, u in supporters[project]), default=Fraction(0))
        story.rounds.append(
            Round(
                step=step,
                project=project,
                cost=cost,
                rho=rho,
                full_share=rho * smallest,
                supporters=full + gave_all,
                paid_in_full=full,
                gave_all=gave_all,
                money_left_total=total,
                voters_with_money=with_money,
            )
        )
        note_shortfalls(step, touched)
    for q in sorted(candidates):  # MES stops when nothing is affordable: a safety net
        cost = Fraction(problem.costs[q])
        story.shortfalls[q] = Shortfall(len(order), held[q], max(Fraction(0), cost - held[q]))
    weights = [b.weight for b in groups]
    story.money_left = {
        "total": sum((m * w for m, w in zip(money, weights, strict=True)), Fraction(0)),
        "max": max(money, default=Fraction(0)),
        "voters_with_nothing": sum(w for m, w in zip(money, weights, strict=True) if not m),
    }


def _price(cost: Fraction, sup: list[tuple[int, Fraction]], money: list, groups) -> Fraction:
    """rho such that sum over supporters of min(money, rho × u) = cost (poorest first).
    Supporters with nothing left pay nothing at any rho: they are left out."""
    ordered = sorted((item for item in sup if money[item[0]]), key=lambda i: money[i[0]] / i[1])
    paid = Fraction(0)
    util_left = sum((groups[g].weight * u for g, u in ordered), Fraction(0))
    for g, u in ordered:
        rho = (cost - paid) / util_left
        if money[g] >= rho * u:
            return rho
        paid += groups[g].weight * money[g]
        util_left -= groups[g].weight * u
    return (cost - paid) / util_left if util_left else Fraction(0)


def _greedy_steps(
    problem: tally.Problem,
    result: tally.TallyResult,
    already: list[str],
    statuses: set[str] | None,
) -> list[GreedyStep]:
    """The greedy scan: projects by score (ties by id), running total and what was left."""
    score = tally.scores(problem)
    spent = sum((Fraction(problem.costs[p]) for p in already), Fraction(0))
    budget = Fraction(problem.budget)
    steps = []
    for project in sorted(problem.costs, key=lambda p: (-score[p], p)):
        if project in already:
            continue
        why = result.explanations.get(project)
        if statuses is None:
            won = project in result.selected
        else:
            won = why is not None and why.status in statuses
        if why is not None and why.status == tally.BELOW_THRESHOLD:
            continue
        cost = Fraction(problem.costs[project])
        if won:
            spent += cost
        steps.append(GreedyStep(project, cost, won, spent, budget - spent))
    return steps


def as_json(story: Story, *, name: Mapping[str, str]) -> dict:
    """JSON-ready, amounts in currency units rounded to the cent for display (the decision
    itself was exact). `name` maps tally ids back to the service's project ids."""

    def money(x) -> str | None:
        if x is None:
            return None
        cents = round(Fraction(x) * 100)  # display only: half to even, to the cent
        return str((Decimal(cents) / 100).quantize(Decimal("0.01")))

    def rate(x: Fraction) -> str:
        return f"{float(x):.6g}"

    return {
        "rule": story.rule,
        "budget": money(story.budget),
        "voters": story.voters,
        "add1": None
        if story.endowment is None
        else {
            "start_endowment": money(story.start_endowment),
            "endowment": money(story.endowment),
            "steps": story.add1_steps,
            "raised_by": money(story.endowment - story.start_endowment),
        },
        "rounds": [
            {
                "step": r.step,
                "project": name[r.project],
                "cost": money(r.cost),
                "rho": rate(r.rho),
                "full_share": money(r.full_share),
                "supporters": r.supporters,
                "paid_in_full": r.paid_in_full,
                "gave_all": r.gave_all,
                "money_left_total": money(r.money_left_total),
                "voters_with_money": r.voters_with_money,
            }
            for r in story.rounds
        ],
        "shortfalls": {
            name[p]: {
                "round": s.round,
                "supporters_money": money(s.supporters_money),
                "lacked": money(s.lacked),
            }
            for p, s in story.shortfalls.items()
        },
        "completion": [_step_json(s, name, money) for s in story.completion],
        "greedy": [_step_json(s, name, money) for s in story.greedy],
        "money_left": {
            k: money(v) if k != "voters_with_nothing" else v for k, v in story.money_left.items()
        },
    }


def _step_json(step: GreedyStep, name: Mapping[str, str], money) -> dict:
    return {
        "project": name[step.project],
        "cost": money(step.cost),
        "selected": step.selected,
        "running_total": money(step.running_total),
        "budget_left": money(step.budget_left),
    }
