"""Pabulib interop through HTTP and the CLI: import a real file, publish, export, recompute."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from libs.common.testing import require_shared
from services.budget import pabulib, tally
from services.budget.app import create_app
from services.budget.cli import app as cli_app


@pytest.mark.parametrize(
    "name,rule",
    [
        ("Netherlands_Assen_2024.pb", "mes-add1"),
        ("Netherlands_Assen_2024.pb", "mes"),
        ("Poland_Warszawa_2017_Anin.pb", "greedy"),
    ],
)
async def test_imported_file_gives_the_official_result_and_exports_back(
    service_factory, name, rule
):
    path = require_shared("pabulib") / name
    service = await service_factory("budget", create_app)
    staff = service.auth("clerk", "staff")
    r = await service.client.post(
        "/editions/import", params={"rule": rule}, content=path.read_bytes(), headers=staff
    )
    assert r.status_code == 201, r.text
    edition = r.json()
    election = pabulib.load(path)
    assert edition["ballots"] == len(election.votes)
    r = await service.client.post(f"/editions/{edition['id']}/results", headers=staff)
    assert r.status_code == 201, r.text
    city = r.json()["envelopes"][0]
    ours = sorted(p["external_id"] for p in city["projects"] if p["selected"])
    expected = tally.tally(pabulib.to_problem(election), rule).selected
    assert ours == sorted(expected)
    if rule != "mes":  # the files' own rules: equalshares/add1 and greedy
        assert ours == sorted(election.recorded_selected())
    assert all(p["reason"] for p in city["projects"])

    r = await service.client.get(f"/editions/{edition['id']}/export.pb")
    assert r.status_code == 200
    exported = pabulib.parse(r.text)
    assert sorted(exported.recorded_selected()) == sorted(expected)
    again = tally.tally(pabulib.to_problem(exported), rule).selected
    assert sorted(again) == sorted(expected)


async def test_export_is_refused_before_the_edition_is_closed(service_factory):
    service = await service_factory("budget", create_app)
    body = {"name": "open", "envelopes": [{"name": "City", "amount_cents": 100}]}
    r = await service.client.post("/editions", json=body, headers=service.auth("s", "staff"))
    r = await service.client.get(f"/editions/{r.json()['id']}/export.pb")
    assert r.status_code == 409


def test_cli_tally_prints_the_selected_projects_as_json():
    path = require_shared("pabulib") / "Netherlands_Assen_2024.pb"
    for rule in ("greedy", "mes", "mes-add1"):
        result = CliRunner().invoke(cli_app, ["tally", str(path), "--rule", rule, "--json"])
        assert result.exit_code == 0, result.output
        printed = json.loads(result.output)
        expected = tally.tally(pabulib.to_problem(pabulib.load(path)), rule)
        assert printed["selected"] == expected.selected
        assert printed["cost"] == expected.cost


def test_cli_refuses_an_unknown_rule():
    path = require_shared("pabulib") / "Netherlands_Assen_2024.pb"
    result = CliRunner().invoke(cli_app, ["tally", str(path), "--rule", "borda"])
    assert result.exit_code != 0
