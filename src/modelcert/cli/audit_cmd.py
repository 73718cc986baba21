"""``modelcert audit``: run a certification policy against a model; write report.html and result.json.

Exit codes: 0 certified or conditionally certified, 1 refused, 2 user errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from modelcert.cli.options import DbOpt, ExecutorOpt
from modelcert.cli.progress import ProgressView

_STYLE = {"PASS": "green", "FAIL": "red", "INCONCLUSIVE": "yellow", "NOT_ASSESSED": "dim", "CONTINUE": "cyan",
          "RUNNING": "cyan"}


def register(root: typer.Typer) -> None:
    root.command("audit")(audit)


def _printer(view: ProgressView):
    """Render the audit's events: one line per decision, a progress task per requirement."""
    console = view.console
    done: dict[str, int] = {}

    def on_event(event: str, data: dict[str, Any]) -> None:
        if event == "plan":
            t = data["target"]
            where = f" ({t['resolved']})" if t.get("resolved") else ""
            console.print(f"[bold]audit[/] {t['model']}{where} at [bold]{t['access']}[/]"
                          f"{' (downgraded from ' + t['max_access'] + ')' if t['downgraded'] else ''} "
                          f"under policy [bold]{data['policy']}[/]", highlight=False)
        elif event == "preregistered":
            console.print(f"pre-registered in evidence run {data['run_id']} (record {data['hash'][:16]}…)")
        elif event == "fingerprint_start":
            view.update("fingerprint", 0, None, label="behaviour fingerprint")
        elif event == "fingerprint":
            view.finish("fingerprint")
            console.print(f"fingerprint {data['digest'][:16]}…")
        elif event == "requirement_start" and not data["runs"]:
            r = data["result"]
            console.print(f"  {r.id:<34} [dim]NOT_ASSESSED[/] {r.reason}", highlight=False)
        elif event == "requirement_start":
            done[data["id"]] = 0
            view.update(data["id"], 0, None)
        elif event == "sample":
            done[data["id"]] = done.get(data["id"], 0) + 1
            view.update(data["id"], done[data["id"]])
        elif event == "round":
            v = data["verdict"]
            n = max(done.get(data["id"], 0), data["n"])
            view.update(data["id"], n, data["cap"], info=f"round {data['round']} {v}")
            if v != "RUNNING":
                console.print(f"  {data['id']:<34} round {data['round']}: {data['k']}/{data['n']} "
                              f"errors {data['errors']} (cap {data['cap']}) [{_STYLE.get(v, 'white')}]{v}[/]",
                              highlight=False)
        elif event == "requirement_end" and data["runs"]:
            r = data["result"]
            view.finish(r.id, info=r.verdict)
            console.print(f"  {r.id:<34} [bold {_STYLE.get(r.verdict, 'white')}]{r.verdict}[/] {r.reason}", highlight=False)
        elif event == "outcome":
            console.print(f"[bold]outcome: {data['outcome']}[/] ({data['reason']})", highlight=False)
            for name, path in data["files"].items():
                if name in ("report", "result"):
                    console.print(f"  {name}: {path}", highlight=False)

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
    judge_labels: Path | None = typer.Option(
        None, "--judge-labels", help="Reviewers' labels of the pre-registered review samples (JSONL or CSV: "
        "requirement, sample_id, label, reviewer); the judged verdicts are decided through them."),
) -> None:
    """Audit a model under a certification policy (defaults: the bundled clean organism, EU GPAI policy)."""
    from modelcert.executors import get_executor
    from modelcert.policy.audit import AuditOptions, run_audit
    from modelcert.runner import Limits
    from modelcert.targets import make_target

    get_executor(executor)  # an unknown name, or ray not installed: one line, exit 2, before any query
    make_target(model, access).preflight()  # a bad address, key or URL: before the store gets a run
    options = AuditOptions(
        model=model, policy=policy, access=access, claims=str(claims) if claims else None,
        attest=str(attest) if attest else None, out=out, db=db, only=only or None, declared_base=declared_base,
        limits=Limits(max_retries=max_retries, attempt_timeout=timeout, timeout=max(timeout * (max_retries + 1), 60)),
        executor=executor, judge_labels=str(judge_labels) if judge_labels else None,
    )
    started: dict[str, Any] = {}
    with ProgressView() as view:
        show = _printer(view)

        def on_event(event: str, data: dict[str, Any]) -> None:
            if event == "preregistered":
                started["run_id"] = data["run_id"]
            show(event, data)

        try:
            report = run_audit(options, on_event=on_event)
        except Exception as exc:  # an interrupt (Ctrl-C) leaves the runs open instead
            if "run_id" in started:
                close_failed_runs(db, started["run_id"], exc)
            raise
    raise typer.Exit(report.exit_code)


def close_failed_runs(db: str | None, audit_run: str, exc: BaseException) -> list[str]:
    """Close the audit's run and its requirements' runs that are still open as ``failed``.

    An audit that dies after it started must not leave "open" runs behind; their
    ``run_end`` records the error. Returns the runs it closed.
    """
    import contextlib

    from modelcert.evidence.store import EvidenceStore

    closed: list[str] = []
    error = f"{type(exc).__name__}: {exc}"[:2000]
    with contextlib.suppress(Exception), EvidenceStore(db) as store:
        for r in store.runs():
            if r.closed:
                continue
            # a requirement's run points at the audit's run in its pre-registration record
            first = next(iter(store.records(r.run_id)), None)
            ours = r.run_id == audit_run or (first is not None and first.data.get("audit_run") == audit_run)
            if ours:
                store.finish(r.run_id, {"status": "failed", "error": error})
                closed.append(r.run_id)
    return closed
