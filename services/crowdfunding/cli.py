"""`sharitories crowdfunding ...`: operator commands of the crowdfunding service.

The platform CLI mounts this app: `app.add_typer(services.crowdfunding.cli.app,
name="crowdfunding")`.
"""

from __future__ import annotations

import asyncio
import json

import typer

app = typer.Typer(help="The crowdfunding service: payments and settlement.", no_args_is_help=True)


@app.command()
def reconcile(
    apply: bool = typer.Option(False, "--apply", help="Void the orphan holds (default: report)."),
) -> None:
    """Compare the ledger with the payment provider; void holds no pledge will settle."""
    from libs.common.runtime import ServiceRuntime
    from libs.common.settings import get_settings
    from services.crowdfunding.app import NAME, build
    from services.crowdfunding.reconcile import as_dicts
    from services.crowdfunding.reconcile import reconcile as run

    async def main() -> list[dict]:
        runtime = ServiceRuntime(NAME, get_settings())
        try:
            return as_dicts(await run(build(runtime), apply=apply))
        finally:
            await runtime.db.dispose()

    findings = asyncio.run(main())
    typer.echo(json.dumps(findings, indent=2))
    orphans = [f for f in findings if f["problem"] != "missing-hold"]
    verb = "voided" if apply else "to void (dry run; --apply to act)"
    typer.echo(f"{len(orphans)} orphan hold(s) {verb}; {len(findings) - len(orphans)} reported")


@app.command()
def settle() -> None:
    """One settlement pass (for cron); its events wait in the outbox for the app's relay."""
    from services.crowdfunding.app import settle_once

    typer.echo(json.dumps(asyncio.run(settle_once()), indent=2, default=str))
