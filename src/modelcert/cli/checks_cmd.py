"""``modelcert checks``: the catalogue of bundled checks."""

from __future__ import annotations

import json

import typer

from modelcert.checks.registry import all_checks
from modelcert.cli.tables import listing, print_table

app = typer.Typer(help="Bundled checks (Inspect tasks) with their requirements and tiers.", no_args_is_help=True)


@app.command("list")
def list_checks(as_json: bool = typer.Option(False, "--json", help="Print a JSON list (schema in docs/cli.md).")) -> None:
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
    # requirement ids one per line, whole; the description wraps under them
    rows = [(c.id, f"{c.tier}\nv{c.version}", "\n".join(c.requirements) + f"\n[dim]{c.description}[/]")
            for c in checks]
    print_table(listing(("check", "tier", "requirements / description"), rows, whole=("check", "tier")))
