"""The `sharitories` command line."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from libs.common.auth import ROLES, mint_token
from libs.common.settings import SERVICES, get_settings

app = typer.Typer(
    help="Sharitories: neighbour exchange, crowdfunding, participatory budget "
    "and impact, for one territory.",
    no_args_is_help=True,
)


@app.command()
def up() -> None:
    """Start the whole platform (embedded NATS unless NATS_URL answers); Ctrl-C stops it."""
    from sharitories.supervisor import run

    raise typer.Exit(run(get_settings()))


@app.command()
def migrate(
    service: list[str] = typer.Argument(None, help="Apps (default: all, portal included)."),
) -> None:
    """Apply every pending database migration (safe to run from several places at once)."""
    from libs.common.migrations import APPS, migrate_all

    unknown = [s for s in service or () if s not in APPS]
    if unknown:
        raise typer.BadParameter(f"unknown app(s) {unknown}; choose from {list(APPS)}")
    migrate_all(get_settings(), tuple(service or APPS))
    typer.echo("Databases are up to date.")


@app.command()
def token(
    sub: str = typer.Option(..., help="The member id (subject) of the token."),
    role: list[str] = typer.Option(["resident"], help=f"Roles: {', '.join(ROLES)}."),
    neighbourhood: str | None = typer.Option(None, help="Neighbourhood code claim."),
    hours: int = typer.Option(12, help="Validity in hours."),
    verified: bool = typer.Option(True, help="Verified resident claim."),
) -> None:
    """Mint a development token signed with JWT_SECRET."""
    from datetime import timedelta

    try:
        typer.echo(
            mint_token(
                get_settings(),
                sub=sub,
                roles=role,
                neighbourhood=neighbourhood,
                verified=verified,
                ttl=timedelta(hours=hours),
            )
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--role") from exc


@app.command()
def demo() -> None:
    """Load the demo territory into a running platform (through its HTTP APIs)."""
    from sharitories.demo import DemoError, load_demo_sync

    settings = get_settings()
    urls = {s: f"http://{settings.host}:{settings.port_for(s)}" for s in SERVICES}
    try:
        summary = load_demo_sync(urls, settings)
    except DemoError as exc:
        raise typer.Exit(f"Demo data not loaded: {exc}") from exc
    typer.echo(json.dumps(summary, indent=2, default=str))


@app.command()
def contracts(
    asyncapi: bool = typer.Option(
        False, "--asyncapi", help="Write the AsyncAPI 3.0 document of every contract instead."
    ),
    path: Path | None = typer.Argument(
        None,
        help="With --asyncapi: where to write it (default: the committed "
        "libs/common/contracts/asyncapi.json; '-' prints it).",
    ),
) -> None:
    """List the registered event contracts (type and version), or write their AsyncAPI."""
    if asyncapi:
        from libs.common.asyncapi import ASYNCAPI_FILE, render

        text = render()
        if str(path) == "-":
            typer.echo(text, nl=False)
            return
        target = path or ASYNCAPI_FILE
        target.write_text(text, encoding="utf-8")
        typer.echo(f"AsyncAPI document written to {target}")
        return
    if path is not None:
        raise typer.BadParameter("a path goes with --asyncapi", param_hint="PATH")
    from libs.common.events import registered_contracts

    rows = sorted(f"{t} v{v}" for t, v in registered_contracts())
    typer.echo(json.dumps(rows, indent=2))


def _mount_service_commands() -> None:
    # Each service ships its own commands; the platform CLI only mounts them.
    from services.budget.cli import app as budget_app
    from services.crowdfunding.cli import app as crowdfunding_app
    from services.impact.cli import app as impact_app

    app.add_typer(budget_app, name="budget")
    app.add_typer(crowdfunding_app, name="crowdfunding")
    app.add_typer(impact_app, name="impact")


_mount_service_commands()

deadletter = typer.Typer(help="Inspect and replay events that a consumer could not apply.")
app.add_typer(deadletter, name="deadletter")


@deadletter.command("list")
def deadletter_list(consumer: str | None = typer.Option(None, help="Only this consumer.")) -> None:
    """List dead letters: consumer, original subject, error."""
    import asyncio

    from libs.common.deadletter import list_dead_letters

    letters = asyncio.run(list_dead_letters(get_settings().nats_url, consumer=consumer))
    for letter in letters:
        typer.echo(f"#{letter.sequence} {letter.consumer} {letter.subject}: {letter.error}")
    typer.echo(f"{len(letters)} dead letter(s)")


@deadletter.command("replay")
def deadletter_replay(
    consumer: str | None = typer.Option(None, help="Only this consumer."),
) -> None:
    """Republish dead letters on their original subjects (inboxes drop what was applied)."""
    import asyncio

    from libs.common.deadletter import replay_dead_letters

    count = asyncio.run(replay_dead_letters(get_settings().nats_url, consumer=consumer))
    typer.echo(f"replayed {count} dead letter(s)")


if __name__ == "__main__":
    app()
