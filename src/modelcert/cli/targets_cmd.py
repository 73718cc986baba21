"""``modelcert targets``: inspect a model address before testing it."""

from __future__ import annotations

import json

import typer

from modelcert.cli.options import AccessOpt, ModelOpt
from modelcert.targets import make_target

app = typer.Typer(help="Model targets: identity and access-tier capabilities.", no_args_is_help=True)


@app.command("show")
def show(model: ModelOpt, access: AccessOpt = None,
         as_json: bool = typer.Option(False, "--json", help="Print one JSON object (schema in docs/cli.md).")) -> None:
    """Print a target's identity digest and what its access tier can observe."""
    target = make_target(model, access)
    summary = target.summary()
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    # plain "key  value" lines: a digest or a path is never folded or cut, whatever the width
    width = max(map(len, summary))
    for key, value in summary.items():
        typer.echo(f"{key:<{width}}  {', '.join(value) if isinstance(value, list) else value}")
