"""``modelcert run <check>``: run one bundled check against a target.

With ``--json`` the result is one JSON object on stdout (schema in
``docs/cli.md``); otherwise a live progress bar and a results table.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from modelcert.cli.options import AccessOpt, DbOpt, ExecutorOpt, ModelOpt
from modelcert.errors import ConfigError, ModelCallError


def register(root: typer.Typer) -> None:
    root.command("run")(run)


def run(
    check: str = typer.Argument(..., help="Check id, e.g. safety.harmful (see `modelcert checks list`)."),
    model: ModelOpt = "local/zoo:clean",
    access: AccessOpt = None,
    limit: int | None = typer.Option(None, "--limit", min=1, help="Run at most N samples."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
    max_retries: int = typer.Option(3, help="Retries per model call (Inspect's default is unlimited)."),
    timeout: int = typer.Option(120, help="Seconds per model call attempt before it counts as an error."),
    log_dir: str | None = typer.Option(None, help="Where Inspect writes its own eval log (default: temp dir)."),
    db: DbOpt = None,
    fresh: bool = typer.Option(False, "--fresh", help="Start a new run instead of resuming an unfinished one."),
    round_size: int | None = typer.Option(None, "--round-size", min=1, help="Samples per round (default: all)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Folder for result files (bias.decisions: effects "
                                    "table and forest plot; default bias-results/<run id>)."),
    task_arg: list[str] = typer.Option([], "-T", "--task-arg", help="Task argument key=value (repeatable; "
                                       "YAML scalar values), as with `inspect eval -T`."),
    executor: ExecutorOpt = None,
) -> None:
    """Run one check (an Inspect task) against a target and report its metrics."""
    from modelcert.checks.registry import get_check
    from modelcert.evidence.store import EvidenceStore
    from modelcert.executors import get_executor
    from modelcert.runner import Limits
    from modelcert.runner.check import run_check_recorded
    from modelcert.targets import make_target

    spec = get_check(check)
    get_executor(executor)  # an unknown name, or ray not installed: one line, exit 2, before any query
    task_args = parse_task_args(spec.factory, task_arg)
    target = make_target(model, access)
    target.require(spec.tier, f"check {spec.id}")
    console = Console(stderr=True)
    progress = Progress(
        TextColumn(f"[bold]{spec.id}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("errors: {task.fields[errors]}"),
        TimeRemainingColumn(),
        console=console,
        disable=not sys.stderr.isatty() and as_json,
    )
    with progress:
        bar = progress.add_task(spec.id, total=None, errors=0)

        def on_progress(done: int, total: int, errors: int) -> None:
            progress.update(bar, completed=done, total=total, errors=errors)

        t0 = time.perf_counter()
        # every sample is recorded as it finishes; the same command again resumes
        with EvidenceStore(db) as store:
            result = run_check_recorded(
                spec,
                target,
                store=store,
                limit=limit,
                limits=Limits(max_retries=max_retries, attempt_timeout=timeout),
                round_size=round_size,
                fresh=fresh,
                log_dir=log_dir,
                on_progress=on_progress,
                task_args=task_args,
                executor=executor,
            )
            if spec.id == "bias.decisions" and result["status"] == "success" and result["n"]:
                from modelcert.checks.bias_analysis import analyze_run

                files = analyze_run(store, result["run_id"]).write(out or Path("bias-results") / result["run_id"])
                result["files"] = {k: str(v) for k, v in files.items()}
        result["task_args"] = task_args
        result["wall_seconds"] = round(time.perf_counter() - t0, 3)
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        _print_table(result)
    if result["status"] != "success":
        raise ModelCallError(f"run {result['run_id']} ended with status {result['status']}: {result.get('error')}")
    if result["n"] == 0:
        raise ConfigError("the check produced no samples")


def parse_task_args(factory: Any, pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs checked against the task factory's signature and type hints.

    Values are YAML scalars (``5``, ``0.5``, ``false``, ``null``, ``de,pl``); where a
    parameter takes text, the text is kept as typed (``-T candidates=1984`` stays a string).
    """
    import inspect
    import typing

    import yaml
    from pydantic import TypeAdapter, ValidationError

    fn = inspect.unwrap(factory)
    params = inspect.signature(fn).parameters
    hints = typing.get_type_hints(fn)
    args: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"task argument {pair!r} is not key=value")
        if key not in params:
            raise ConfigError(f"unknown task argument {key!r}; this check takes: {', '.join(params) or 'none'}")
        if key in args:
            raise ConfigError(f"task argument {key!r} given twice")
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        hint = hints.get(key, Any)
        if value is not None and not isinstance(value, str) and str in (typing.get_args(hint) or (hint,)):
            value = raw
        if isinstance(value, list | dict):
            raise ConfigError(f"task argument {key!r} takes a single value, not {raw!r}")
        try:
            args[key] = TypeAdapter(hint).validate_python(value, strict=hint is not float)
        except ValidationError:
            raise ConfigError(f"task argument {key}={raw!r} is not a valid {getattr(hint, '__name__', hint)}") from None
    return args


def _print_table(result: dict[str, Any]) -> None:
    console = Console()
    console.print(
        f"[bold]{result['check']}[/] v{result['check_version']} on {result['target']['model']} "
        f"(access {result['target']['access']}) — n={result['n']}, errors={result['errors']}, "
        f"run {result['run_id']}"
    )
    table = Table("metric", "value", "95% CI (exact)", "k/n")
    for name, m in result["metrics"].items():
        ci = m.get("ci")
        table.add_row(
            name,
            f"{m['value']:.4f}",
            f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "—",
            f"{m['k']}/{m['n']}" if "k" in m else "—",
        )
    console.print(table)
    if result.get("files"):
        console.print("written: " + ", ".join(result["files"].values()))
