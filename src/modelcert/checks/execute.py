"""Run one check against a target through Inspect and summarise what it measured.

This is the single place where modelcert calls ``inspect_ai.eval`` for a whole
check; it sets what Inspect leaves open (bounded retries, per-attempt timeouts,
deterministic generation) and turns binary scores into counts with exact
Clopper–Pearson intervals. The round-based engine with evidence builds on it.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from inspect_ai import eval as inspect_eval
from inspect_ai.hooks import Hooks, SampleEnd, hooks
from inspect_ai.log import EvalLog
from scipy.stats import binomtest

from modelcert.checks.registry import CheckSpec
from modelcert.targets import Target

ProgressFn = Callable[[int, int, int], None]

_listeners: dict[str, ProgressFn] = {}
_counts: dict[str, list[int]] = {}
_totals: dict[str, int] = {}


@hooks(name="modelcert_progress", description="modelcert live progress")
class _ProgressHooks(Hooks):
    """Forwards per-sample completion to the CLI progress bar."""

    def enabled(self) -> bool:
        return bool(_listeners)

    async def on_sample_end(self, data: SampleEnd) -> None:
        for key, fn in list(_listeners.items()):
            counts = _counts.setdefault(key, [0, 0])
            counts[0] += 1
            if data.sample.error is not None:
                counts[1] += 1
            fn(counts[0], _totals.get(key, counts[0]), counts[1])


def exact_ci(k: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    if n == 0:
        return None
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    return (float(ci.low), float(ci.high))


def _binary(value: Any) -> int | None:
    """Map an Inspect score value to 1/0 (C/I, True/False, 1/0); None if not binary."""
    if value in ("C", True, 1, 1.0):
        return 1
    if value in ("I", False, 0, 0.0):
        return 0
    return None


def summarise(log: EvalLog) -> dict[str, Any]:
    """Counts per scorer over completed samples; errored samples are counted, never dropped.

    Keys ``n``, ``errors`` and ``metrics[name].k/n/value/ci`` as always; the full per-check
    result (clustered SE, breakdowns, judge-corrected rate, examples) is built in
    :mod:`modelcert.checks.results`.
    """
    from modelcert.checks.results import summarise_log

    return summarise_log(log)


def run_check(
    spec: CheckSpec,
    target: Target,
    *,
    limit: int | None = None,
    max_retries: int = 3,
    timeout: int = 120,
    log_dir: str | None = None,
    on_progress: ProgressFn | None = None,
    task_args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``spec`` against ``target`` and return the JSON-able result (see docs/cli.md)."""
    from modelcert.checks.settings import generation_used

    task = spec.task(**(task_args or {}))
    if limit is not None and limit < len(task.dataset):  # stratified and seeded, not the first N
        from inspect_ai.dataset import MemoryDataset

        from modelcert.checks.sampling import stratified_indices

        samples = list(task.dataset)
        keep = stratified_indices([s.metadata for s in samples], limit)
        task.dataset = MemoryDataset([samples[i] for i in keep], name=task.dataset.name)
    total = len(task.dataset)
    key = f"{spec.id}:{id(task)}"
    if on_progress is not None:
        _listeners[key] = on_progress
        _totals[key] = total
        on_progress(0, total, 0)
    try:
        # Inspect prints its banner to stdout; keep stdout clean for --json.
        with tempfile.TemporaryDirectory(prefix="modelcert-inspect-") as tmp, contextlib.redirect_stdout(sys.stderr):
            logs = inspect_eval(
                task,
                model=target.inspect_model(max_retries=max_retries, attempt_timeout=timeout),
                display="none",
                log_dir=log_dir or tmp,
                log_format="json",
                fail_on_error=False,
                log_realtime=False,
                score_display=False,
            )
    finally:
        _listeners.pop(key, None)
        _counts.pop(key, None)
        _totals.pop(key, None)
    log = logs[0]
    summary = summarise(log)
    return {
        "run_id": log.eval.run_id,
        "check": spec.id,
        "check_version": spec.version,
        "requirements": list(spec.requirements),
        "status": log.status,
        "error": log.error.message if log.error else None,
        "target": target.summary(),
        "generation": generation_used(
            target.generation,
            task.config.model_dump(mode="json", exclude_none=True) if task.config is not None else None,
            dict(task.metadata or {}),
        ),
        **summary,
    }
