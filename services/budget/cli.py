"""`sharitories budget …`: tally a pabulib file, import one into the service, export one.

`tally` is offline (it only reads the file). `import` and `export` talk to a running budget
service over HTTP with a staff bearer token (`--token` or SHARITORIES_TOKEN).
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Annotated

import typer

from services.budget import pabulib, tally

app = typer.Typer(help="Participatory budget: tally, import and export pabulib (.pb) files.")

DEFAULT_URL = "http://127.0.0.1:8003"


def _number(value: Fraction | int) -> int | float | str:
    value = Fraction(value)
    if value.denominator == 1:
        return value.numerator
    return pabulib.format_number(value)


@app.command("tally")
def tally_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A .pb file")],
    rule: Annotated[
        str | None,
        typer.Option(help="greedy | mes | mes-add1 (default: the file's META rule, else mes)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Compute the winning projects of a .pb file with one rule."""
    election = pabulib.load(file)
    if rule is None:  # our exports name their rule in META (see services/budget/README.md)
        # Imported here: the rules' META names live with the service's domain, whose imports
        # cost more start-up than the whole count of a small file.
        from services.budget.domain import PABULIB_RULES

        rule = {name: rule for rule, name in PABULIB_RULES.items()}.get(election.rule, "mes")
    if rule not in ("greedy", "mes", "mes-add1"):
        raise typer.BadParameter("rule must be greedy, mes or mes-add1", param_hint="--rule")
    result = tally.tally(pabulib.to_problem(election), rule)
    if as_json:
        typer.echo(json.dumps({"selected": list(result.selected), "cost": _number(result.cost)}))
        return
    typer.echo(f"{rule}: {len(result.selected)} projects, cost {_number(result.cost)}")
    for pid in result.selected:
        typer.echo(f"  {pid}")


@app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    rule: Annotated[str, typer.Option()] = "mes",
    url: Annotated[str, typer.Option(envvar="BUDGET_URL")] = DEFAULT_URL,
    token: Annotated[str, typer.Option(envvar="SHARITORIES_TOKEN")] = "",
) -> None:
    """Import a .pb file as a closed edition of the running budget service."""
    import httpx

    response = httpx.post(
        f"{url}/editions/import",
        params={"rule": rule},
        content=file.read_bytes(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
        timeout=300,
    )
    if response.status_code >= 400:
        typer.echo(response.text, err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(response.json(), indent=2))


@app.command("export")
def export_command(
    edition_id: str,
    out: Annotated[Path, typer.Option("--out", "-o")] = Path("edition.pb"),
    envelope_id: Annotated[str | None, typer.Option()] = None,
    url: Annotated[str, typer.Option(envvar="BUDGET_URL")] = DEFAULT_URL,
) -> None:
    """Export a closed edition's envelope (default: city-wide) as a .pb file."""
    import httpx

    params = {"envelope_id": envelope_id} if envelope_id else {}
    response = httpx.get(f"{url}/editions/{edition_id}/export.pb", params=params, timeout=300)
    if response.status_code >= 400:
        typer.echo(response.text, err=True)
        raise typer.Exit(1)
    out.write_text(response.text, encoding="utf-8")
    typer.echo(f"wrote {out}")


if __name__ == "__main__":  # python -m services.budget.cli tally FILE (no platform imports)
    app()
