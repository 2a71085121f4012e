"""Read and write participatory-budgeting elections in the pabulib ``.pb`` format.

A ``.pb`` file is UTF-8, ``;``-separated CSV with three sections (META, PROJECTS, VOTES),
each introduced by its name on a line of its own followed by a header row. The format is
described in Faliszewski et al., "Participatory Budgeting: Data, Tools and Analysis",
IJCAI 2023. Parsing mirrors pabutools' reader (stripped cells, ``none`` meaning missing,
decimal commas in costs) so both see the same election.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from libs.common import csvsafe
from services.budget import tally

SECTIONS = ("meta", "projects", "votes")
VOTE_TYPES = ("approval", "ordinal", "cumulative", "scoring", "choose-1")


@dataclass(frozen=True)
class Project:
    """One project: its id (kept as the file's string), its cost and its other columns."""

    project_id: str
    cost: Fraction
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Vote:
    """One ballot: project ids in file order (preference order for ordinal) and optional points."""

    voter_id: str
    projects: tuple[str, ...]
    points: tuple[Fraction, ...] | None = None
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class Election:
    """A parsed ``.pb`` file; columns are kept in file order so it can be written back."""

    meta: dict[str, str]
    projects: dict[str, Project]
    votes: list[Vote]
    project_columns: list[str] = field(default_factory=lambda: ["project_id", "cost"])
    vote_columns: list[str] = field(default_factory=lambda: ["voter_id", "vote"])

    @property
    def budget(self) -> Fraction:
        """The budget limit from META."""
        return parse_number(self.meta["budget"])

    @property
    def vote_type(self) -> str:
        """The META vote_type (approval, ordinal, cumulative, scoring or choose-1)."""
        return self.meta.get("vote_type", "approval").strip().lower()

    @property
    def rule(self) -> str:
        """The META rule the organisers used, or ``unknown``."""
        return self.meta.get("rule", "unknown")

    def recorded_selected(self) -> list[str] | None:
        """Project ids the file marks as funded (``selected`` = 1), or None without that column."""
        if "selected" not in self.project_columns:
            return None
        return [p.project_id for p in self.projects.values() if p.fields.get("selected", "") == "1"]


def parse_number(text: str) -> Fraction:
    """Parse a cost, budget or point value exactly (accepts a decimal comma)."""
    return Fraction(text.strip().replace(",", "."))


def format_number(value: Fraction | int) -> str:
    """Format an exact number so that ``parse_number`` (and pabutools) read it back unchanged."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    # Finite decimals print as decimals; anything else as p/q, which Fraction and gmpy2 accept.
    den = value.denominator
    for prime in (2, 5):
        while den % prime == 0:
            den //= prime
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    digits = 0
    scaled = value
    while scaled.denominator != 1:
        scaled *= 10
        digits += 1
    sign = "-" if scaled < 0 else ""
    text = str(abs(scaled.numerator)).rjust(digits + 1, "0")
    return f"{sign}{text[:-digits]}.{text[-digits:]}"


def _is_missing(cell: str) -> bool:
    return cell.strip().lower() == "none"


def parse(text: str) -> Election:
    """Parse the text of a ``.pb`` file."""
    if text.startswith("\ufeff"):
        text = text[1:]
    meta: dict[str, str] = {}
    projects: dict[str, Project] = {}
    votes: list[Vote] = []
    project_columns: list[str] = []
    vote_columns: list[str] = []
    section = ""
    header: list[str] = []
    reader = csv.reader(text.splitlines(), delimiter=";")
    for row in reader:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if row[0].strip().lower() in SECTIONS:
            section = row[0].strip().lower()
            header = [h.strip() for h in next(reader)]
            if section == "projects":
                project_columns = header
            elif section == "votes":
                vote_columns = header
        elif section == "meta":
            meta[row[0].strip()] = row[1].strip() if len(row) > 1 else ""
        elif section == "projects":
            cells = _row_dict(header, row)
            pid = row[0].strip()
            cost = parse_number(cells.pop("cost"))
            cells.pop(header[0], None)
            projects[pid] = Project(pid, cost, cells)
        elif section == "votes":
            votes.append(_parse_vote(header, row))
    return Election(meta, projects, votes, project_columns, vote_columns)


def _row_dict(header: list[str], row: list[str]) -> dict[str, str]:
    return {
        key: cell.strip() for key, cell in zip(header, row, strict=False) if not _is_missing(cell)
    }


def _parse_vote(header: list[str], row: list[str]) -> Vote:
    cells = _row_dict(header, row)
    voter_id = cells.pop(header[0], "")
    ids = tuple(p.strip() for p in cells.pop("vote", "").split(",") if p.strip())
    points = None
    if "points" in cells:
        raw = [x for x in cells.pop("points").split(",") if x.strip()]
        points = tuple(parse_number(x) for x in raw)
        if len(points) != len(ids):
            raise ValueError(f"voter {voter_id}: {len(ids)} projects but {len(points)} points")
    return Vote(voter_id, ids, points, cells)


def load(path: str | Path) -> Election:
    """Parse a ``.pb`` file from disk."""
    return parse(Path(path).read_text(encoding="utf-8-sig"))


def dumps(election: Election, selected: list[str] | None = None) -> str:
    """Serialise an election to ``.pb`` text; ``selected`` (if given) fills the selected column."""
    out = io.StringIO()
    writer = csvsafe.writer(out, delimiter=";", lineterminator="\n")  # no formula cells
    out.write("META\n")
    writer.writerow(["key", "value"])
    for key, value in election.meta.items():
        writer.writerow([key, value])
    project_columns = list(election.project_columns or ["project_id", "cost"])
    if selected is not None and "selected" not in project_columns:
        project_columns.append("selected")
    chosen = set(selected or ())
    out.write("PROJECTS\n")
    writer.writerow(project_columns)
    for project in election.projects.values():
        cells = dict(project.fields)
        if selected is not None:
            cells["selected"] = "1" if project.project_id in chosen else "0"
        cells[project_columns[0]] = project.project_id
        cells["cost"] = format_number(project.cost)
        writer.writerow([cells.get(col, "None") for col in project_columns])
    vote_columns = list(election.vote_columns or ["voter_id", "vote"])
    if any(v.points is not None for v in election.votes) and "points" not in vote_columns:
        vote_columns.insert(vote_columns.index("vote") + 1, "points")
    out.write("VOTES\n")
    writer.writerow(vote_columns)
    for vote in election.votes:
        cells = dict(vote.fields)
        cells[vote_columns[0]] = vote.voter_id
        cells["vote"] = ",".join(vote.projects)
        if vote.points is not None:
            cells["points"] = ",".join(format_number(x) for x in vote.points)
        writer.writerow([cells.get(col, "None") for col in vote_columns])
    return out.getvalue()


def dump(election: Election, path: str | Path, selected: list[str] | None = None) -> None:
    """Write an election (and optionally a result) to a ``.pb`` file."""
    Path(path).write_text(dumps(election, selected), encoding="utf-8")


def ballot_points(election: Election, vote: Vote) -> dict[str, int | Fraction]:
    """Points a vote gives each project: 1 per approval, the points column, or Borda-like ranks."""
    kind = election.vote_type
    if kind in ("approval", "choose-1"):
        return dict.fromkeys(vote.projects, 1)
    if vote.points is not None:
        # Whole points as ints: the tally runs much faster on ints than on Fractions.
        points = (p.numerator if p.denominator == 1 else p for p in vote.points)
        return dict(zip(vote.projects, points, strict=True))
    if kind == "ordinal":
        # Without a points column, the first of k ranked projects gets k points, the last 1.
        k = len(vote.projects)
        return {pid: k - i for i, pid in enumerate(vote.projects)}
    raise ValueError(f"voter {vote.voter_id}: {kind} ballot without points")


def to_problem(election: Election) -> tally.Problem:
    """Convert a parsed election into the tallying model (identical ballots grouped)."""
    ballots = [tally.Ballot(ballot_points(election, v)) for v in election.votes]
    threshold = election.meta.get("min_project_score_threshold")
    return tally.Problem(
        costs={pid: p.cost for pid, p in election.projects.items()},
        budget=election.budget,
        ballots=tally.group_ballots(ballots),
        # Point ballots use the points as utilities (what pabutools' reference runs used).
        utility="cost" if election.vote_type in ("approval", "choose-1") else "points",
        threshold=parse_number(threshold) if threshold else None,
    )
