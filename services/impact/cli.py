"""`sharitories impact ...`: rebuild the projections from the stream, print a report.

The platform CLI mounts this app: `app.add_typer(services.impact.cli.app, name="impact")`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Literal

import typer

app = typer.Typer(
    help="The impact service: projections and the impact report.", no_args_is_help=True
)


@app.command()
def rebuild(
    dry_run: bool = typer.Option(False, help="Rebuild and compare only; do not swap."),
) -> None:
    """Recompute every projection from stream sequence 1, compare with live, swap."""
    from libs.common.settings import get_settings
    from services.impact.rebuild import run

    settings = get_settings()
    outcome = run(
        settings.database_url_for("impact"),
        settings.schema_for("impact"),
        settings.nats_url,
        dry_run=dry_run,
    )
    typer.echo(json.dumps(outcome, indent=2))


def render_report(
    period: str,
    fmt: Literal["json", "csv", "html"],
    catalogue: str | None = None,
    lang: str = "fr",
) -> str:
    """The report as text, read straight from the impact database (no HTTP needed)."""
    from libs.common.db import Database
    from libs.common.settings import get_settings
    from services.impact.api import requested_catalogue
    from services.impact.config import configured_territory, get_impact_settings
    from services.impact.periods import parse_period
    from services.impact.render import report_csv, report_html, report_json
    from services.impact.report import build_report

    settings = get_settings()

    async def main() -> dict:
        database = Database(
            settings.database_url_for("impact"), schema=settings.schema_for("impact")
        )
        try:
            async with database.read() as session:
                return await build_report(
                    session,
                    window=parse_period(period),
                    catalogue=requested_catalogue(catalogue),
                    territory=configured_territory(),
                    min_cell=get_impact_settings().min_cell,
                )
        finally:
            await database.dispose()

    data = asyncio.run(main())
    if fmt == "html":
        return report_html(data, lang=lang)
    return {"json": report_json, "csv": report_csv}[fmt](data)


@app.command()
def report(
    period: str = typer.Option(
        "all", help="2026, 2026-03, 2026-W10, 2026-03-15, edition:<id>, all"
    ),
    format: str = typer.Option("json", help="json, csv or html"),
    catalogue: str | None = typer.Option(None, help="Factor catalogue version (default: current)."),
    lang: str = typer.Option("fr", help="Language of the HTML report: fr or en"),
) -> None:
    """Print the impact report of a period."""
    if format not in ("json", "csv", "html"):
        raise typer.BadParameter("json, csv or html", param_hint="--format")
    if lang not in ("fr", "en"):
        raise typer.BadParameter("fr or en", param_hint="--lang")
    from libs.common.problems import Problem
    from services.impact.api import requested_catalogue

    try:
        requested_catalogue(catalogue)
    except Problem as exc:
        raise typer.BadParameter(exc.detail, param_hint="--catalogue") from exc
    try:
        typer.echo(render_report(period, format, catalogue, lang))  # type: ignore[arg-type]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--period") from exc
