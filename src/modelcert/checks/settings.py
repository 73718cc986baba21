"""What a check's measurement really used: its generation settings and its judge.

A target carries default generation settings (greedy, 64 new tokens, seed 0), but each
check sets its own on top (the judged checks 128 or 160 new tokens; the bias check
passes per-call settings, 1 token for top log-probabilities, 8 sampled tokens at
``api``). Recording the target's defaults as "the" settings misstated every run; these
helpers give the settings in force and the judge's identity and error rates, for the
evidence, ``--json`` and the report.
"""

from __future__ import annotations

from typing import Any

#: Inspect config keys that govern the connection, not what the model generates.
_NOT_GENERATION = frozenset({"max_retries", "timeout", "attempt_timeout", "max_connections"})


def generation_used(
    target_generation: dict[str, Any], task_config: dict[str, Any] | None, task_metadata: dict[str, Any] | None
) -> dict[str, Any]:
    """The settings a check's queries ran with.

    Args:
        target_generation: The target's defaults (``Target.generation``).
        task_config: The check's own ``GenerateConfig`` (dumped, ``None``s dropped); it wins
            over the target's defaults, as in Inspect.
        task_metadata: The check's metadata; a ``generation`` entry there describes settings
            its solver passes per call, which win over both (recorded under ``per_call``).
    """
    used = {**target_generation, **{k: v for k, v in (task_config or {}).items() if k not in _NOT_GENERATION}}
    per_call = (task_metadata or {}).get("generation")
    return {**used, "per_call": per_call} if per_call else used


def judge_summary(task_metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    """The judge a check's scores came from: id, version, calibration and error rates.

    ``None`` for checks without a judge (bias decisions are parsed, backdoor scans are
    confirmed by re-querying). Reads the record the check wrote
    (:func:`modelcert.judges.calibration.judge_record`) and keeps what a reader needs.
    """
    judge = (task_metadata or {}).get("judge")
    if not isinstance(judge, dict):
        return None
    ident = str(judge.get("id") or "unknown")
    name, sep, version = ident.rpartition("-v")  # "rules-v4"; a model judge ("model:...") has no version
    if not (sep and name and version.isdigit()):
        name, version = ident, ""
    cal = judge.get("calibration")
    out: dict[str, Any] = {
        "id": ident,
        "name": name,
        "version": version or None,
        "positive": judge.get("positive"),
        "context": judge.get("context"),
        "calibration": None,
    }
    if isinstance(cal, dict):
        out["calibration"] = {
            "set_digest": cal.get("set_digest"),
            "subset": cal.get("subset"),
            "heldout": cal.get("heldout"),  # False: measured on the rows the judge was developed on
            "note": cal.get("note"),
            "context": cal.get("context"),
            "sensitivity": cal.get("sensitivity"),
            "sensitivity_ci": cal.get("sensitivity_ci"),
            "sens_n": cal.get("sens_n"),
            "specificity": cal.get("specificity"),
            "specificity_ci": cal.get("specificity_ci"),
            "spec_n": cal.get("spec_n"),
        }
    return out


def measurement(target: Any, runner: Any) -> dict[str, Any]:
    """``generation`` and ``judge`` of one requirement's runner, for its pre-registered plan."""
    return {
        "generation": generation_used(target.generation, runner.task_config, runner.task_metadata),
        "judge": judge_summary(runner.task_metadata),
    }
