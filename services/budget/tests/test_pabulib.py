"""Tests for the .pb reader/writer: hand-made files, round-trips and pabutools compatibility."""

import os
from fractions import Fraction
from pathlib import Path

import pytest

from services.budget import pabulib

REPO = Path(__file__).resolve().parents[3]


def shared_pabulib() -> Path:
    """The shared pabulib folder (``$SHARITORIES_SHARED/pabulib`` or ``<repo>/../shared``)."""
    shared = Path(os.environ.get("SHARITORIES_SHARED", REPO.parent / "shared"))
    folder = shared / "pabulib"
    if not folder.is_dir():
        pytest.skip(f"shared pabulib files not found at {folder} (set SHARITORIES_SHARED)")
    return folder


SMALL = '''META
key;value
description;"A test; with a semicolon"
num_projects;3
num_votes;3
budget;100,5
vote_type;approval
rule;greedy
PROJECTS
project_id;cost;name;selected
10;60;"Park ""Green""";1
9;40.5;Library;0
x;0;None;0
VOTES
voter_id;vote;age
v1;10,9;30
v2;9;None
v3;;41
'''


def test_parse_small_file_keeps_ids_as_strings_and_numbers_exact():
    election = pabulib.parse(SMALL)
    assert list(election.projects) == ["10", "9", "x"]
    assert election.meta["description"] == "A test; with a semicolon"
    assert election.budget == Fraction(201, 2)
    assert election.projects["9"].cost == Fraction(81, 2)
    assert election.projects["10"].fields["name"] == 'Park "Green"'
    assert "name" not in election.projects["x"].fields  # "None" means missing
    assert [v.projects for v in election.votes] == [("10", "9"), ("9",), ()]
    assert election.votes[1].fields == {}
    assert election.votes[2].fields == {"age": "41"}
    assert election.recorded_selected() == ["10"]


def test_serialise_then_parse_is_identical():
    election = pabulib.parse(SMALL)
    assert pabulib.parse(pabulib.dumps(election)) == election


def test_serialise_writes_the_selected_column():
    election = pabulib.parse(SMALL)
    again = pabulib.parse(pabulib.dumps(election, selected=["9"]))
    assert again.recorded_selected() == ["9"]


def test_ordinal_ballot_without_points_scores_first_of_k_with_k():
    text = SMALL.replace("vote_type;approval", "vote_type;ordinal")
    election = pabulib.parse(text)
    assert pabulib.ballot_points(election, election.votes[0]) == {"10": 2, "9": 1}


def test_cumulative_points_are_parsed_exactly():
    text = """META
key;value
budget;10
vote_type;cumulative
PROJECTS
project_id;cost
a;5
b;5
VOTES
voter_id;vote;points
1;a,b;2.5,0.5
"""
    election = pabulib.parse(text)
    assert election.votes[0].points == (Fraction(5, 2), Fraction(1, 2))
    problem = pabulib.to_problem(election)
    assert problem.utility == "points"
    assert pabulib.parse(pabulib.dumps(election)) == election


def test_format_number_round_trips():
    for value in (Fraction(0), Fraction(7), Fraction(-3, 4), Fraction(1, 3), Fraction(123, 1000)):
        assert pabulib.parse_number(pabulib.format_number(value)) == value


def test_every_shared_file_round_trips():
    for path in sorted(shared_pabulib().glob("*.pb")):
        election = pabulib.load(path)
        assert pabulib.parse(pabulib.dumps(election)) == election, path.name


def test_pabutools_reads_our_export():
    pabutools_pabulib = pytest.importorskip("pabutools.election.pabulib")
    folder = shared_pabulib()
    for name in ("Netherlands_Assen_2024.pb", "Poland_Gdansk_2020_Chelm.pb"):
        election = pabulib.load(folder / name)
        chosen = list(election.projects)[:2]
        text = pabulib.dumps(election, selected=chosen)
        instance, profile = pabutools_pabulib.parse_pabulib_from_string(text)
        assert {p.name: p.cost for p in instance} == {
            pid: p.cost for pid, p in election.projects.items()
        }
        assert instance.budget_limit == election.budget
        assert profile.num_ballots() == len(election.votes)
        assert {p.name for p in instance if instance.project_meta[p]["selected"] == "1"} == set(
            chosen
        )
    # And our own hand-made file, with quoting and a decimal budget.
    instance, profile = pabutools_pabulib.parse_pabulib_from_string(
        pabulib.dumps(pabulib.parse(SMALL))
    )
    assert sorted(p.name for p in instance) == ["10", "9", "x"]
    assert profile.num_ballots() == 3
