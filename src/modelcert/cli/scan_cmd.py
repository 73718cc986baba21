"""``modelcert scan <path>``: the artifact gate on the command line.

Exit codes: 0 when nothing blocking was found, 1 when a finding is high or critical
(do not load this checkpoint), 2 for a missing path or bad option.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from modelcert.analyzers.artifact.report import ScanReport

_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def register(root: typer.Typer) -> None:
    root.command("scan")(scan)


def scan(
    path: Path = typer.Argument(..., help="A model folder or a single model file (or local/zoo:<name>)."),
    sarif: Path | None = typer.Option(None, "--sarif", help="Also write the findings as SARIF 2.1.0 here."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
    show_files: bool = typer.Option(False, "--files", help="List every file with its identified format."),
) -> None:
    """Check model files before loading them: formats, pickles, headers, templates, archives."""
    from modelcert.analyzers.artifact import scan_path
    from modelcert.evidence.chain import canonical_json

    if not path.exists() and str(path).startswith("local/zoo:"):
        from modelcert.targets import resolve_local_path

        path = resolve_local_path(str(path).removeprefix("local/"))
    report = scan_path(path)
    if sarif is not None:
        tmp = sarif.with_name(sarif.name + ".tmp")
        tmp.write_text(json.dumps(report.to_sarif(), indent=2, ensure_ascii=False), encoding="utf-8")
        tmp.replace(sarif)
    if as_json:
        typer.echo(canonical_json(report.to_dict()).decode("utf-8"))
    else:
        _print(report, show_files)
    if report.blocking:
        raise SystemExit(1)


def _print(report: ScanReport, show_files: bool) -> None:
    console = Console()
    if show_files:
        files = Table("file", "format", title="Files")
        for name, fmt in sorted(report.files.items()):
            files.add_row(name, fmt)
        console.print(files)
    if report.findings:
        table = Table(title=f"Findings for {report.root}", show_lines=True)
        table.add_column("severity", no_wrap=True)
        table.add_column("rule", overflow="fold")
        table.add_column("file", overflow="fold")
        table.add_column("message", overflow="fold", ratio=3)
        for f in report.sorted_findings():
            table.add_row(f"[{_STYLE[f.severity]}]{f.severity}[/]", f.rule, f.file, f.message)
        console.print(table)
    console.print(("[bold red]" if report.blocking else "[green]") + report.summary() + "[/]")
