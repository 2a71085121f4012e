import json

from typer.testing import CliRunner

from libs.common.auth import TokenVerifier
from libs.common.settings import get_settings
from sharitories.cli import app

runner = CliRunner()


def test_token_command_mints_a_token_the_services_accept():
    result = runner.invoke(
        app, ["token", "--role", "staff", "--sub", "alice", "--neighbourhood", "centre"]
    )
    assert result.exit_code == 0, result.output
    principal = TokenVerifier(get_settings()).verify(result.output.strip())
    assert principal.sub == "alice" and principal.roles == {"staff"}
    assert principal.neighbourhood == "centre"


def test_token_command_refuses_an_unknown_role():
    result = runner.invoke(app, ["token", "--role", "mayor", "--sub", "bob"])
    assert result.exit_code != 0
    assert "unknown roles" in result.output


def test_contracts_command_lists_versioned_contracts():
    result = runner.invoke(app, ["contracts"])
    assert result.exit_code == 0
    assert "exchange.loan.returned v1" in result.output
    assert "budget.results.published v1" in result.output


def test_contracts_command_writes_the_asyncapi_document(tmp_path):
    target = tmp_path / "asyncapi.json"
    result = runner.invoke(app, ["contracts", "--asyncapi", str(target)])
    assert result.exit_code == 0, result.output
    written = json.loads(target.read_text(encoding="utf-8"))
    assert written["asyncapi"] == "3.0.0"
    assert "exchange_loan_returned" in written["channels"]
    printed = runner.invoke(app, ["contracts", "--asyncapi", "-"])
    assert json.loads(printed.output) == written


def test_impact_report_refuses_an_unknown_catalogue_in_one_line():
    result = runner.invoke(app, ["impact", "report", "--catalogue", "v9"])
    assert result.exit_code == 2, result.output
    assert "Invalid value for --catalogue" in result.output
    assert "unknown catalogue version 'v9'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
