"""``modelcert checks``: the catalogue of bundled checks."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from modelcert.checks.registry import all_checks

app = typer.Typer(help="Bundled checks (Inspect tasks) with their requirements and tiers.", no_args_is_help=True)


@app.command("list")
def list_checks(as_json: bool = typer.Option(False, "--json")) -> None:
    """List bundled checks, the requirement ids they serve and the access tier each needs."""
    checks = all_checks()
    if as_json:
        rows = [
            {"id": c.id, "tier": c.tier, "requirements": list(c.requirements), "version": c.version,
             "description": c.description}
            for c in checks
        ]
        print(json.dumps(rows, indent=2))
        return
    table = Table("check", "tier", "requirements", "version", "description")
    for c in checks:
        table.add_row(c.id, c.tier, ", ".join(c.requirements), c.version, c.description)
    Console().print(table)
