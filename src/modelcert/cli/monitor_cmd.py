"""``modelcert monitor``: watch a certified model version (enroll, check, status)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from modelcert.cli.options import DbOpt
from modelcert.errors import ConfigError

app = typer.Typer(help="Watch deployed model versions: reference sample, checks, anytime-valid alarms.",
                  no_args_is_help=True)
console = Console(soft_wrap=True)

DataOpt = typer.Option(Path("lab-data"), "--data", help="Lab data folder (sealed monitoring prompts go in monitor/).")


@contextmanager
def _monitor(db: str | None, data: Path) -> Iterator[Any]:
    from modelcert.evidence.store import EvidenceStore
    from modelcert.monitor.service import Monitor
    from modelcert.registry import Registry

    with EvidenceStore(db) as store, Registry(db) as reg:
        yield Monitor(store, reg, data / "monitor")


@app.command("enroll")
def enroll(
    version: int = typer.Argument(..., help="Registry id of the model version."),
    tier: str = typer.Option(None, "--tier", help="api or logprobs (default: the granted tier)."),
    prompts: int = typer.Option(None, "--prompts", help="Prompts in the secret set (default 25)."),
    per_prompt: int = typer.Option(None, "--per-prompt", help="Queries per prompt and check."),
    blocks: int = typer.Option(None, "--blocks", help="api: checks the reference sample covers (default 20)."),
    temperature: float = typer.Option(None, "--temperature", help="Sampling temperature (default 1.0)."),
    shortcut: bool = typer.Option(False, "--shortcut", help="Pre-register the exact-identity shortcut: a check "
                                  "whose greedy answers hash as at enrollment runs no test (docs/monitoring.md)."),
    novelty: bool = typer.Option(False, "--novelty", help="api: pre-register the novelty process beside the "
                                 "MMD and witness (draws a learning sample of 100 more replies per prompt)."),
    seed: int = typer.Option(None, "--seed", help="First query seed (default: random, recorded)."),
    result: Path = typer.Option(None, "--result", help="An audit's result.json, not yet signed: the reference "
                                "sample's digest is written into it, so the certificate names it."),
    db: DbOpt = None,
    data: Path = DataOpt,
) -> None:
    """Draw a secret monitoring prompt set and the reference sample; pre-register the test."""
    if result is not None and not result.is_file():
        raise ConfigError(f"--result {result}: no such file")
    given = {"prompts": prompts, "per_prompt": per_prompt, "blocks": blocks, "temperature": temperature,
             "shortcut": shortcut or None, "novelty": novelty or None}
    with _monitor(db, data) as mon:
        st = mon.enroll(version, actor="cli", tier=tier, seed=seed, **{k: v for k, v in given.items() if v is not None})
    if result is not None:
        from modelcert.monitor.service import name_reference

        name_reference(result, st.reference_digest)
    console.print(f"enrolled version {version}: {st.plan['test']} at {st.plan['tier']}, "
                  f"{st.plan['prompts']} secret prompts (root {st.prompt_set['root'][:16]}…), "
                  f"reference {st.reference_digest}, evidence run {st.enrollment}")


@app.command("check")
def check(
    version: int = typer.Argument(..., help="Registry id of the model version."),
    seed: int = typer.Option(None, "--seed", help="First query seed (default: random, recorded)."),
    db: DbOpt = None,
    data: Path = DataOpt,
) -> None:
    """Query the deployed model once more and update the e-process; exit 1 on an alarm."""
    with _monitor(db, data) as mon:
        c = mon.check(version, actor="cli", seed=seed)
    console.print(f"check {c.check}: p={c.p_value:.3g} e={c.e_value:.3g} e-process={c.e_process:.3g} "
                  f"({c.queries} queries, evidence run {c.run_id})")
    if c.alarm:
        console.print(f"ALARM: the deployed model differs from the reference; status {c.status_change or 'unchanged'}")
        raise typer.Exit(1)


@app.command("status")
def status(
    version: int = typer.Argument(None, help="Registry id (default: every monitored version)."),
    as_json: bool = typer.Option(False, "--json"),
    db: DbOpt = None,
    data: Path = DataOpt,
) -> None:
    """The monitoring state: plan, e-process trajectory, alarm."""
    with _monitor(db, data) as mon:
        states = [mon.status(version)] if version is not None else mon.monitored()
    if as_json:
        print(json.dumps([s.to_dict() for s in states], indent=1))
        return
    for s in states:
        if s.plan is None:
            console.print(f"version {s.version_id}: not enrolled")
            continue
        traj = " ".join(f"{e:.3g}" for e in s.e_values) or "no checks yet"
        console.print(f"version {s.version_id}: {s.plan['test']} at {s.plan['tier']}, "
                      f"{'ALARM' if s.alarm else 'no alarm'}; e-process {traj} (alarm at {1 / s.plan['alpha']:.0f})")
