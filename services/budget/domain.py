"""Participatory-budget rules, without I/O: phases, proposals, eligibility, ballots, results.

An edition belongs to the territory and holds envelopes (one city-wide, optional district
envelopes), each with its own amount in integer cents. Staff move an edition through its
phases one step at a time:

    information → proposals → pre_selection → assessment → voting → results → delivery

Every action names the phases in which it is allowed (`require_phase`); outside them it is
refused with 409. Ballot validation and eligibility are pure functions that return the
reason a ballot or a voter is refused (or None).

Ballot → points (what the tally sees):
- approval and knapsack: 1 point per chosen project;
- cumulative: the points the voter gave;
- ranking: of k ranked projects the first gets k points, the last 1 (as pabulib's ordinal
  files without a points column).

Tallying runs in currency units (euros, exact fractions of cents) so that MES's Add1 step
raises each voter's endowment by one euro, exactly as pabutools does on the exported file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Literal

from libs.common.rules import InputRefused, PersonRefused, StateRefused, UnverifiedRefused
from libs.common.taxonomy import PB_PHASES
from services.budget import explain, tally

PHASES: tuple[str, ...] = PB_PHASES
CLOSED_PHASES = ("results", "delivery")
RULES = ("greedy", "mes", "mes-add1")
# The names an export's META `rule` carries (pabulib's own style: Assen and Świecie files say
# `equalshares/add1` for MES-Add1 without completion), and what each means in words.
PABULIB_RULES = {
    "greedy": "greedy",
    "mes": "equalshares/add1+greedy",
    "mes-add1": "equalshares/add1",
}
RULE_DESCRIPTIONS = {
    "greedy": "Greedy by votes (points): most supported first, skipping projects that do not "
    "fit the remaining budget.",
    "mes": "Method of Equal Shares with cost utilities (points as utilities for cumulative "
    "and ordinal ballots), endowment raised by one currency unit per voter (Add1) until the "
    "outcome is exhaustive or the next raise overspends, then completed by greedy.",
    "mes-add1": "Method of Equal Shares, endowment raised by one currency unit per voter "
    "(Add1) while the outcome fits the budget; no completion.",
}
PABULIB_VOTE_TYPES = {
    "approval": "approval",
    "knapsack": "approval",
    "cumulative": "cumulative",
    "ranking": "ordinal",
}
BALLOT_KINDS = ("approval", "knapsack", "cumulative", "ranking")
MILESTONES = ("planned", "in_progress", "delivered")

BallotKind = Literal["approval", "knapsack", "cumulative", "ranking"]


class PhaseViolation(StateRefused):
    """An action attempted outside the phases that allow it (409 at the edge)."""


# --- phases -----------------------------------------------------------------------------


def require_phase(current: str, *allowed: str, action: str) -> None:
    """Refuse `action` (409) unless the edition is in one of the `allowed` phases."""
    if current not in allowed:
        raise PhaseViolation(
            f"Cannot {action} while the edition is in phase '{current}'; "
            f"allowed in: {', '.join(allowed)}.",
            phase=current,
            allowed_phases=list(allowed),
            code="wrong_phase",
            params={"phase": current, "allowed": list(allowed)},
        )


def next_phase(current: str, target: str) -> str:
    """The phase staff may move to: only the next one (no going back, no skipping)."""
    if target not in PHASES:
        raise InputRefused(f"Unknown phase '{target}'.", field="body.phase", code="unknown_phase")
    index = PHASES.index(current)
    if index + 1 >= len(PHASES) or PHASES[index + 1] != target:
        expected = PHASES[index + 1] if index + 1 < len(PHASES) else None
        raise PhaseViolation(
            f"An edition in phase '{current}' can only move to "
            f"{repr(expected) if expected else 'no other phase'}, not '{target}'.",
            phase=current,
            code="phase_order",
            params={"phase": current, "target": target},
        )
    return target


def _day(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def voting_window(
    phase_dates: Mapping | None, extended_until: date | str | None
) -> tuple[date | None, date | None]:
    """First and last day of voting (both included): the edition's dates, the last day
    pushed back by the latest staff extension."""
    voting = (phase_dates or {}).get("voting") or {}
    start, end = _day(voting.get("start")), _day(voting.get("end"))
    extended = _day(extended_until)
    if extended is not None and (end is None or extended > end):
        end = extended
    return start, end


def effective_phase(
    stored: str, phase_dates: Mapping | None, *, extended_until: date | str | None, today: date
) -> str:
    """The phase by the calendar: voting opens on its first day (from assessment) and
    closes after its last day, without anyone clicking. Staff may still move phases by
    hand; an edition without voting dates only moves by hand. Computed on every read, so
    there is no background job to miss a date."""
    start, end = voting_window(phase_dates, extended_until)
    phase = stored
    if phase == "assessment" and start is not None and today >= start:
        phase = "voting"
    if phase == "voting" and end is not None and today > end:
        phase = "results"
    return phase


# --- ballot formats ---------------------------------------------------------------------


@dataclass(frozen=True)
class BallotFormat:
    """How residents vote in an edition."""

    kind: BallotKind = "approval"
    min_projects: int = 1
    max_projects: int | None = None
    total_points: int | None = None  # cumulative: points to distribute (at most)
    max_points_per_project: int | None = None  # cumulative


@dataclass(frozen=True)
class BallotInput:
    """What a voter submitted: chosen (or ranked) projects, or points per project."""

    projects: tuple[str, ...] = ()
    points: Mapping[str, int] | None = None


def ballot_problem(
    fmt: BallotFormat, ballot: BallotInput, *, costs: Mapping[str, int], amount_cents: int
) -> Refusal | None:
    """Why this ballot is invalid, or None. `costs` are the projects on the ballot paper."""
    if fmt.kind == "cumulative":
        return _cumulative_problem(fmt, ballot, costs)
    if ballot.points:
        return Refusal(
            "ballot_no_points", f"A {fmt.kind} ballot lists projects, it does not give points."
        )
    chosen = ballot.projects
    if len(set(chosen)) != len(chosen):
        return Refusal("ballot_duplicate", "A project appears more than once on the ballot.")
    unknown = sorted(set(chosen) - set(costs))
    if unknown:
        return Refusal(
            "ballot_not_on_paper",
            f"Not on this ballot paper: {', '.join(unknown)}.",
            {"count": len(unknown)},
        )
    if len(chosen) < fmt.min_projects:
        return Refusal(
            "ballot_too_few",
            f"Choose at least {fmt.min_projects} project(s); this ballot has {len(chosen)}.",
            {"min": fmt.min_projects, "chosen": len(chosen)},
        )
    if fmt.max_projects is not None and len(chosen) > fmt.max_projects:
        return Refusal(
            "ballot_too_many",
            f"Choose at most {fmt.max_projects} project(s); this ballot has {len(chosen)}.",
            {"max": fmt.max_projects, "chosen": len(chosen)},
        )
    if fmt.kind == "knapsack":
        total = sum(costs[p] for p in chosen)
        if total > amount_cents:
            return Refusal(
                "ballot_over_budget",
                f"The chosen projects cost {total} cents in total, more than the envelope's "
                f"{amount_cents} cents.",
                {"total_cents": total, "amount_cents": amount_cents},
            )
    return None


def _cumulative_problem(
    fmt: BallotFormat, ballot: BallotInput, costs: Mapping[str, int]
) -> Refusal | None:
    if ballot.projects and not ballot.points:
        return Refusal(
            "ballot_points_needed", "A cumulative ballot gives points to projects; send 'points'."
        )
    points = dict(ballot.points or {})
    unknown = sorted(set(points) - set(costs))
    if unknown:
        return Refusal(
            "ballot_not_on_paper",
            f"Not on this ballot paper: {', '.join(unknown)}.",
            {"count": len(unknown)},
        )
    if any(p < 0 for p in points.values()):
        return Refusal("ballot_negative_points", "Points cannot be negative.")
    given = {p: n for p, n in points.items() if n > 0}
    if len(given) < fmt.min_projects:
        return Refusal(
            "ballot_too_few",
            f"Give points to at least {fmt.min_projects} project(s).",
            {"min": fmt.min_projects, "chosen": len(given)},
        )
    if fmt.max_projects is not None and len(given) > fmt.max_projects:
        return Refusal(
            "ballot_too_many",
            f"Give points to at most {fmt.max_projects} project(s).",
            {"max": fmt.max_projects, "chosen": len(given)},
        )
    if fmt.max_points_per_project is not None and any(
        n > fmt.max_points_per_project for n in given.values()
    ):
        return Refusal(
            "ballot_points_per_project",
            f"At most {fmt.max_points_per_project} points per project.",
            {"max": fmt.max_points_per_project},
        )
    if fmt.total_points is not None and sum(given.values()) > fmt.total_points:
        return Refusal(
            "ballot_points_total",
            f"{sum(given.values())} points given, more than the {fmt.total_points} allowed.",
            {"given": sum(given.values()), "max": fmt.total_points},
        )
    return None


def ballot_points(fmt: BallotFormat, contents: Mapping) -> dict[str, int]:
    """Points per project that a stored ballot gives, for the tally."""
    if fmt.kind == "cumulative":
        return {p: int(n) for p, n in (contents.get("points") or {}).items() if n}
    projects = list(contents.get("projects") or [])
    if fmt.kind == "ranking":
        if contents.get("points"):  # an imported ordinal file with its own points column
            return {p: int(n) for p, n in contents["points"].items() if n}
        k = len(projects)
        return {p: k - i for i, p in enumerate(projects)}
    return dict.fromkeys(projects, 1)


# --- eligibility ------------------------------------------------------------------------


@dataclass(frozen=True)
class Voter:
    """What eligibility looks at: role, verified residency, age and neighbourhood."""

    verified: bool
    neighbourhood: str | None
    birthdate: date | None
    resident: bool = True


@dataclass(frozen=True)
class Refusal:
    """Why a voter may not vote: a stable `code` for clients, a sentence for people."""

    code: str
    message: str
    params: dict = field(default_factory=dict)


def age_on(birthdate: date, today: date) -> int:
    before_birthday = (today.month, today.day) < (birthdate.month, birthdate.day)
    return today.year - birthdate.year - before_birthday


def eligibility_problem(
    voter: Voter,
    *,
    min_age: int | None,
    district: str | None,
    today: date,
    neighbourhoods: Iterable[str],
) -> Refusal | None:
    """Why this voter may not vote in an envelope of `district` (None: city-wide), or None.

    Every envelope, the city-wide one included, is for residents of the territory: the
    resident role, a verified account and one of the territory's neighbourhoods."""
    if not voter.resident:
        return Refusal("not_resident", "Only residents (role 'resident') can vote.")
    if not voter.verified:
        return Refusal(
            "unverified", "Only verified residents can vote: staff verify your account first."
        )
    if voter.neighbourhood is None or voter.neighbourhood not in set(neighbourhoods):
        return Refusal(
            "outside_territory",
            "Voting needs a neighbourhood of the territory on your account "
            f"(got {voter.neighbourhood!r}).",
        )
    if min_age:
        if voter.birthdate is None:
            return Refusal(
                "birthdate_missing",
                f"This edition is open from age {min_age}: add your date of birth to your "
                "account (staff check it when they verify you).",
                {"min_age": min_age},
            )
        if age_on(voter.birthdate, today) < min_age:
            return Refusal(
                "too_young", f"Voters must be at least {min_age} years old.", {"min_age": min_age}
            )
    if district is not None and voter.neighbourhood != district:
        return Refusal(
            "other_district", f"This envelope is open only to residents of '{district}'."
        )
    return None


def refuse(refusal: Refusal) -> PersonRefused:
    """The exception for a refusal (403 at the edge; verification-required if unverified)."""
    cls = UnverifiedRefused if refusal.code == "unverified" else PersonRefused
    return cls(refusal.message, code=refusal.code, params=refusal.params)


def parse_birthdate(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


# --- pre-selection and assessment -------------------------------------------------------


def promoted(supports: Mapping[str, int], *, threshold: int | None, top_n: int | None) -> set[str]:
    """Proposals that go on: at least `threshold` supports, or among the `top_n` most
    supported (ties broken by proposal id, ascending). With neither set, all go on."""
    if threshold is None and top_n is None:
        return set(supports)
    chosen: set[str] = set()
    if threshold is not None:
        chosen |= {p for p, n in supports.items() if n >= threshold}
    if top_n is not None:
        ordered = sorted(supports, key=lambda p: (-supports[p], p))
        chosen |= set(ordered[:top_n])
    return chosen


def assessment_problem(*, feasible: bool, reason: str, cost_cents: int | None) -> str | None:
    if not reason.strip():
        return "An assessment needs a written reason."
    if feasible and (cost_cents is None or cost_cents <= 0):
        return "A feasible proposal needs an estimated cost (positive, in cents)."
    return None


# --- delivery ---------------------------------------------------------------------------


def milestone_allowed(previous: str | None, status: str) -> bool:
    """Milestones move forward: planned → in_progress → delivered (repeats allowed)."""
    if previous is None:
        return True
    return MILESTONES.index(status) >= MILESTONES.index(previous)


# --- results ----------------------------------------------------------------------------

REASONS = {
    tally.SELECTED: "won: selected",
    tally.SELECTED_BY_COMPLETION: "won: selected when the leftover budget was completed",
    tally.NOT_ENOUGH_BUDGET: "lost: not enough budget left when its turn came",
    tally.SHARES_EXHAUSTED: "lost: its supporters' shares of the budget were exhausted",
    tally.BELOW_THRESHOLD: "lost: below the support threshold",
    tally.NO_SUPPORTERS: "lost: no voter supported it",
}


@dataclass(frozen=True)
class ProjectOutcome:
    project_id: str
    selected: bool
    status: str
    reason: str
    score: str  # total points (approvals for approval ballots)
    step: int | None
    votes: int  # ballots that name the project


@dataclass(frozen=True)
class EnvelopeOutcome:
    selected: list[str]
    allocated_cents: int
    leftover_cents: int
    projects: list[ProjectOutcome]
    voters: int
    explanation: dict  # round by round (explain.py), JSON-ready


def utility_of(fmt: BallotFormat) -> str:
    """MES utilities, as pabulib defines them for the exported vote_type: the cost of the
    project for approval ballots (knapsack ones are exported as approval), the points for
    cumulative and ordinal ones. The CLI and pabutools read the export the same way."""
    return "points" if fmt.kind in ("cumulative", "ranking") else "cost"


def to_units(cents: int) -> Fraction:
    """Cents → euros, exactly: the currency unit the tally (and the .pb export) uses."""
    return Fraction(cents, 100)


def tally_envelope(
    *,
    rule: str,
    fmt: BallotFormat,
    costs: Mapping[str, int],
    amount_cents: int,
    ballots: Iterable[Mapping],
    labels: Mapping[str, str] | None = None,
) -> EnvelopeOutcome:
    """Run `rule` on one envelope's feasible projects and stored ballots, with reasons.

    Ties are broken by project label, as strings (pabutools' rule): `labels` maps a project
    to its label (its id in an imported .pb file); by default the project id itself, a
    UUIDv7, so that among equals the earlier proposal wins."""
    if rule not in RULES:
        raise InputRefused(f"Unknown rule '{rule}'; expected one of {', '.join(RULES)}.")
    label = {p: (labels or {}).get(p, p) for p in costs}
    back = {v: k for k, v in label.items()}
    points = [{label[p]: n for p, n in ballot_points(fmt, b).items()} for b in ballots]
    problem = tally.Problem(
        costs={label[p]: to_units(c) for p, c in costs.items()},
        budget=to_units(amount_cents),
        ballots=tally.group_ballots(tally.Ballot(p) for p in points),
        utility=utility_of(fmt),
    )
    labelled = tally.tally(problem, rule)
    story = explain.as_json(explain.explain(problem, labelled), name=back)
    votes = dict.fromkeys(costs, 0)
    for ballot in points:
        for project, n in ballot.items():
            if n and back.get(project) in votes:
                votes[back[project]] += 1
    result = tally.TallyResult(
        rule=labelled.rule,
        selected=[back[p] for p in labelled.selected],
        cost=labelled.cost,
        explanations={back[p]: e for p, e in labelled.explanations.items()},
    )
    allocated = sum(costs[p] for p in result.selected)
    outcomes = []
    for pid in sorted(costs, key=_order_key(result)):
        why = result.explanations.get(pid)
        status = why.status if why else tally.NO_SUPPORTERS
        outcomes.append(
            ProjectOutcome(
                project_id=pid,
                selected=pid in result.selected,
                status=status,
                reason=REASONS.get(status, status),
                score=str(why.score) if why else "0",
                step=why.step if why else None,
                votes=votes[pid],
            )
        )
    return EnvelopeOutcome(
        selected=list(result.selected),
        allocated_cents=allocated,
        leftover_cents=amount_cents - allocated,
        projects=outcomes,
        voters=len(points),
        explanation=story,
    )


def _order_key(result: tally.TallyResult):
    order = {p: i for i, p in enumerate(result.selected)}

    def key(pid: str):
        return (order.get(pid, len(order)), pid)

    return key


# --- the Soup evening -------------------------------------------------------------------
# A Soup evening's vote is an edition of kind "soup": one city-wide envelope worth one
# share, each shortlisted project costing that share, approval ballots of exactly one
# project, counted greedily: the most chosen project is the one that fits, the winner.
SOUP_SHARE_CENTS = 100
SOUP_MIN_PROJECTS, SOUP_MAX_PROJECTS = 2, 12
