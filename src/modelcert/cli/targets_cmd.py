"""``modelcert targets``: inspect a model address before testing it."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from modelcert.cli.options import AccessOpt, ModelOpt
from modelcert.targets import make_target

app = typer.Typer(help="Model targets: identity and access-tier capabilities.", no_args_is_help=True)


@app.command("show")
def show(model: ModelOpt, access: AccessOpt = None, as_json: bool = typer.Option(False, "--json")) -> None:
    """Print a target's identity digest and what its access tier can observe."""
    target = make_target(model, access)
    summary = target.summary()
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    table = Table(show_header=False, box=None)
    for key, value in summary.items():
        table.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    Console().print(table)
