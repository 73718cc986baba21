"""Run one bundled check through the engine: recorded, resumable, summarised from evidence.

This is ``modelcert run`` with an evidence store behind it. The result has the shape
of :func:`modelcert.checks.execute.run_check` (``docs/cli.md``), but it is computed
from the stored records, so it describes exactly what the log holds, including samples
recorded by an earlier, interrupted invocation of the same command.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelcert.evidence.store import EvidenceStore
from modelcert.runner.engine import Limits, Runner, SampleRecord

ProgressFn = Callable[[int, int, int], None]


@dataclass
class _Eval:
    metadata: dict[str, Any]


@dataclass
class _LogView:
    """The two things ``checks.results.summarise_log`` reads from an Inspect log."""

    samples: list[Any]
    eval: _Eval = field(default_factory=lambda: _Eval({}))


def run_check_recorded(
    spec: Any,
    target: Any,
    *,
    store: EvidenceStore,
    limit: int | None = None,
    limits: Limits | None = None,
    round_size: int | None = None,
    fresh: bool = False,
    log_dir: str | None = None,
    on_progress: ProgressFn | None = None,
    task_args: dict[str, Any] | None = None,
    executor: Any = None,
) -> dict[str, Any]:
    """Run ``spec`` against ``target`` in rounds, recording every sample in ``store``.

    Args:
        spec: A :class:`modelcert.checks.registry.CheckSpec`.
        target: A :class:`modelcert.targets.Target`.
        store: The evidence store.
        limit: A seeded, stratified draw of ``limit`` samples (:mod:`modelcert.checks.sampling`);
            part of what makes a run "the same".
        limits: Retry and timeout bounds for every model call.
        round_size: Samples per round (default: all in one round).
        fresh: Start a new run even if an unfinished one with the same key exists.
        log_dir: Keep Inspect's own eval logs there.
        on_progress: Called with (done, total, errors) after every recorded sample.
        task_args: Arguments for the check's task factory.
        executor: Where rounds run (:func:`modelcert.executors.get_executor`).
    """
    from modelcert.checks.results import summarise_log
    from modelcert.checks.sampling import limit_plan, stratified_indices
    from modelcert.checks.settings import generation_used

    args = dict(task_args or {})
    counts = {"done": 0, "errors": 0, "total": 0}

    def progress(rec: SampleRecord) -> None:
        if rec.ok:
            counts["done"] += 1
        else:
            counts["errors"] += 1
        if on_progress is not None:
            on_progress(counts["done"] + counts["errors"], counts["total"], counts["errors"])

    runner = Runner(
        store,
        target,
        lambda: spec.task(**args),
        check_id=spec.id,
        check_version=spec.version,
        limits=limits,
        log_dir=log_dir,
        on_record=progress,
        plan={**limit_plan(limit), "task_args": args},
        executor=executor,
    )
    ids = runner.sample_ids
    if limit:  # a seeded draw stratified over languages, categories, transforms; not the first N
        ids = [ids[i] for i in stratified_indices(runner.sample_metadata, limit)]
    run_id = runner.start_run(resume=not fresh)
    wanted = {repr(i) for i in ids}
    already = sum(1 for sid, _ in runner.completed_ids() if repr(sid) in wanted)
    counts.update(done=already, total=len(ids))
    if on_progress is not None:
        on_progress(already, len(ids), 0)
    size = round_size or len(ids) or 1
    statuses = []
    try:
        for k in range(0, len(ids), size):
            runner.run_round(ids[k : k + size])
    except Exception as exc:
        # a run that dies is closed as failed, with its error, rather than left "open";
        # an interrupt (Ctrl-C, a kill) leaves it open so the same command resumes it
        with contextlib.suppress(Exception):
            runner.finish_run({"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:2000]})
        raise
    for rec in store.records(run_id, kinds=("round",)):
        statuses.append(rec.data["status"])
    end = runner.finish_run()
    samples = [s for s in runner.eval_samples() if repr(s.id) in wanted]
    summary = summarise_log(_LogView(samples, _Eval(runner.task_metadata)))
    failed = [s for s in statuses if s not in ("success", "skipped")]
    return {
        "run_id": run_id,
        "check": spec.id,
        "check_version": spec.version,
        "requirements": list(spec.requirements),
        "status": failed[-1] if failed else "success",
        "error": None,
        "target": target.summary(),
        "generation": generation_used(target.generation, runner.task_config, runner.task_metadata),
        **summary,
        "evidence": {
            "store": store.safe_url,
            "run_id": run_id,
            "records": end.seq + 1,
            "merkle_root": store.run_root(run_id),
            "head": end.hash,
            "resumed_samples": already,
        },
    }
