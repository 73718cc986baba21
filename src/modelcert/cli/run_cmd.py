"""``modelcert run <check>``: run one bundled check against a target.

With ``--json`` the result is one JSON object on stdout (schema in
``docs/cli.md``); otherwise a results table. Progress (done/total, rate, ETA) goes to
stderr: a bar on a terminal, a plain line every few seconds in a log.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from modelcert.cli.options import AccessOpt, DbOpt, ExecutorOpt, ModelOpt
from modelcert.cli.progress import ProgressView
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
    full: bool = typer.Option(False, "--full", help="Run the check's full suite, not its quick default design "
                              "(bias.decisions: English, one counterfactual group per stratum)."),
    task_arg: list[str] = typer.Option([], "-T", "--task-arg", help="Task argument key=value (repeatable; "
                                       "YAML values, lists included: -T \"domains=[credit]\"), as with `inspect eval -T`."),
    executor: ExecutorOpt = None,
) -> None:
    """Run one check (an Inspect task) against a target and report its metrics."""
    from modelcert.checks.registry import get_check
    from modelcert.evidence.store import EvidenceStore
    from modelcert.executors import get_executor
    from modelcert.runner import Limits
    from modelcert.runner.check import run_check_recorded
    from modelcert.targets import make_target, pin_access_arg

    spec = get_check(check)
    get_executor(executor)  # an unknown name, or ray not installed: one line, exit 2, before any query
    task_args = parse_task_args(spec.factory, task_arg)
    if not full:  # a check's quick design fills in what -T did not set
        task_args = {**quick_design(spec.id), **task_args}
    target = make_target(model, access)
    target.require(spec.tier, f"check {spec.id}")
    task_args = pin_access_arg(target, spec.factory, task_args)  # no task argument raises the tier
    target.preflight()  # credentials, URL, reachability: before the store gets a run
    with ProgressView() as progress:

        def on_progress(done: int, total: int, errors: int) -> None:
            progress.update(spec.id, done, total, info=f"errors {errors}")

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
        progress.finish(spec.id)
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


def quick_design(check_id: str) -> dict[str, Any]:
    """The task arguments of a check's quick default design (empty: it has none)."""
    if check_id == "bias.decisions":
        from modelcert.checks.bias import QUICK_DESIGN

        return dict(QUICK_DESIGN)
    return {}


def parse_task_args(factory: Any, pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs checked against the task factory's signature and type hints.

    Values are YAML, as with ``inspect eval -T``: scalars (``5``, ``0.5``, ``false``,
    ``null``) and lists (``[credit, hiring]``). Where a parameter takes text, the text is
    kept as typed (``-T candidates=1984`` stays a string). Where it takes a list, a
    scalar is a one-item list and a comma-separated string is split, so
    ``-T langs=de,pl`` and ``-T "langs=[de, pl]"`` mean the same.
    """
    import inspect
    import types
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
        options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        takes_list = [o for o in options if typing.get_origin(o) in (list, tuple, set)]
        if value is not None and not isinstance(value, str | list) and str in options:
            value = raw
        if isinstance(value, dict) or (isinstance(value, list) and not takes_list):
            raise ConfigError(f"task argument {key!r} takes a single value, not {raw!r}")
        if takes_list and isinstance(value, str):  # one spelling for every list: de,pl == [de, pl]
            value = [x.strip() for x in raw.split(",") if x.strip()]
        elif takes_list and value is not None and not isinstance(value, list):
            value = [raw.strip()] if _items_are_text(takes_list) else [value]  # one item of a list
        if isinstance(value, list):  # list items typed as numbers but declared as text stay text
            value = [str(v) if isinstance(v, int | float | bool) and _items_are_text(takes_list) else v
                     for v in value]
        try:
            args[key] = TypeAdapter(hint).validate_python(value, strict=hint is not float)
        except ValidationError:
            raise ConfigError(f"task argument {key}={raw!r} is not a valid {_type_name(hint)}") from None
    return args


def _items_are_text(list_types: list[Any]) -> bool:
    import typing

    return any(str in typing.get_args(t) for t in list_types)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) if not getattr(hint, "__args__", None) else str(hint).replace("typing.", "")


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
