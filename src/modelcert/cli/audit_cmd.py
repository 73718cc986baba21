"""``modelcert audit``: run a certification policy against a model; write report.html and result.json.

Exit codes: 0 certified or conditionally certified, 1 refused, 2 user errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from modelcert.cli.options import DbOpt, ExecutorOpt

_STYLE = {"PASS": "green", "FAIL": "red", "INCONCLUSIVE": "yellow", "NOT_ASSESSED": "dim", "CONTINUE": "cyan",
          "RUNNING": "cyan"}


def register(root: typer.Typer) -> None:
    root.command("audit")(audit)


def _printer(console: Console):
    def on_event(event: str, data: dict[str, Any]) -> None:
        if event == "plan":
            t = data["target"]
            console.print(f"[bold]audit[/] {t['model']} at [bold]{t['access']}[/]"
                          f"{' (downgraded from ' + t['max_access'] + ')' if t['downgraded'] else ''} "
                          f"under policy [bold]{data['policy']}[/]")
        elif event == "preregistered":
            console.print(f"pre-registered in evidence run {data['run_id']} (record {data['hash'][:16]}…)")
        elif event == "fingerprint":
            console.print(f"fingerprint {data['digest'][:16]}…")
        elif event == "requirement_start" and not data["runs"]:
            r = data["result"]
            console.print(f"  {r.id:<34} [dim]NOT_ASSESSED[/] {r.reason}")
        elif event == "round":
            v = data["verdict"]
            console.print(f"  {data['id']:<34} round {data['round']}: {data['k']}/{data['n']} "
                          f"errors {data['errors']} (cap {data['cap']}) [{_STYLE.get(v, 'white')}]{v}[/]",
                          highlight=False)
        elif event == "requirement_end" and data["runs"]:
            r = data["result"]
            console.print(f"  {r.id:<34} [bold {_STYLE[r.verdict]}]{r.verdict}[/] {r.reason}", highlight=False)
        elif event == "outcome":
            console.print(f"[bold]outcome: {data['outcome']}[/] ({data['reason']})")
            for name, path in data["files"].items():
                if name in ("report", "result"):
                    console.print(f"  {name}: {path}")

    return on_event


def audit(
    model: str = typer.Option("local/zoo:clean", "--model", "-m",
                              help="Inspect model string or local/<folder> / local/zoo:<name>."),
    policy: str = typer.Option("eu-gpai-systemic-risk", "--policy", "-p",
                               help="Bundled policy name or policy YAML file."),
    claims: Path | None = typer.Option(None, "--claims", help="Provider claims YAML to verify."),
    attest: Path | None = typer.Option(None, "--attest", help="Auditor attestations YAML (documentation items)."),
    access: str | None = typer.Option(None, "--access", help="Access tier: api, logprobs or weights "
                                      "(default: highest the provider supports; lower is a downgrade)."),
    out: Path = typer.Option(Path("out/audit"), "--out", "-o", help="Folder for report.html and result.json."),
    db: DbOpt = None,
    only: list[str] | None = typer.Option(None, "--only", help="Run only this requirement (repeatable)."),
    declared_base: str | None = typer.Option(
        None, "--declared-base", help="Checkpoint the provider says the model was fine-tuned from (folder or "
        "zoo:<name>); the logprobs/weights backdoor scans compare against it."),
    max_retries: int = typer.Option(2, help="Retries per model call."),
    timeout: int = typer.Option(60, help="Seconds per model call attempt."),
    executor: ExecutorOpt = None,
) -> None:
    """Audit a model under a certification policy (defaults: the bundled clean organism, EU GPAI policy)."""
    from modelcert.executors import get_executor
    from modelcert.policy.audit import AuditOptions, run_audit
    from modelcert.runner import Limits

    get_executor(executor)  # an unknown name, or ray not installed: one line, exit 2, before any query
    console = Console(stderr=True)
    options = AuditOptions(
        model=model, policy=policy, access=access, claims=str(claims) if claims else None,
        attest=str(attest) if attest else None, out=out, db=db, only=only or None, declared_base=declared_base,
        limits=Limits(max_retries=max_retries, attempt_timeout=timeout, timeout=max(timeout * (max_retries + 1), 60)),
        executor=executor,
    )
    report = run_audit(options, on_event=_printer(console))
    raise typer.Exit(report.exit_code)
