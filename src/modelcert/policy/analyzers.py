"""The non-query analyses a policy can name, each mapped to a verdict.

An analyzer looks at the model's files or parameters, so it needs the ``weights``
tier. Unknown or not-yet-installed analyzers give NOT_ASSESSED with the reason; they
never pass by default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelcert.errors import ConfigError
from modelcert.targets import Target, Tier


@dataclass(frozen=True)
class AnalyzerOutcome:
    verdict: str  # PASS | FAIL | INCONCLUSIVE | NOT_ASSESSED
    reason: str
    n: int
    details: dict[str, Any]


def _artifact_gate(target: Target, options: dict[str, Any]) -> AnalyzerOutcome:
    from modelcert.analyzers.artifact import scan_path

    if target.path is None:
        return AnalyzerOutcome("NOT_ASSESSED", "no model files to scan: the target is an API endpoint", 0, {})
    report = scan_path(target.path)
    data = report.to_dict()
    if report.blocking:
        worst = report.sorted_findings()[0]
        return AnalyzerOutcome("FAIL", f"{report.summary()}; worst: {worst.file}: {worst.message} [{worst.rule}]",
                               len(report.files), data)
    return AnalyzerOutcome("PASS", report.summary(), len(report.files), data)


_BACKDOOR_OPTIONS = {"base", "dictionary", "candidates", "invert_vocab", "invert_target", "theta0", "floor", "q", "cap", "min_power"}


def _backdoor_scan(target: Target, options: dict[str, Any]) -> AnalyzerOutcome:
    """The weights-tier backdoor scan, the same code as the ``security.backdoor.weights`` check.

    Options mirror the check's task arguments (``candidates`` as a list or comma-separated
    text, ``base`` as a folder or ``zoo:<name>``), plus ``min_power``: the measured TPR at
    5% FPR a PASS needs (default: none, as a ``kind: scan`` requirement at ``weights``).
    """
    from modelcert.analyzers.backdoor import scan_checkpoint, verdict
    from modelcert.targets import resolve_local_path

    if target.path is None:
        return AnalyzerOutcome("NOT_ASSESSED", "no checkpoint to scan: the target is an API endpoint", 0, {})
    unknown = sorted(set(options) - _BACKDOOR_OPTIONS)
    if unknown:
        raise ConfigError(f"unknown option(s) for backdoor.scan: {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(_BACKDOOR_OPTIONS))}")
    opts = dict(options)
    min_power = opts.pop("min_power", None)
    extra = opts.pop("candidates", None)
    if isinstance(extra, str):
        extra = [c.strip() for c in extra.split(",") if c.strip()]
    if opts.get("base") is not None:
        opts["base"] = resolve_local_path(str(opts["base"]))
    report = scan_checkpoint(target.path, "weights", extra=extra, **opts)
    result, reason = verdict(report, min_power=min_power)
    return AnalyzerOutcome(result, reason, report.queries["total"], report.to_dict())


@dataclass(frozen=True)
class AnalyzerSpec:
    id: str
    tier: Tier
    description: str
    run: Callable[[Target, dict[str, Any]], AnalyzerOutcome] | None  # None: not installed


ANALYZERS: dict[str, AnalyzerSpec] = {
    "artifact.gate": AnalyzerSpec(
        "artifact.gate", "weights", "Model-file gate: no file can execute code on load", _artifact_gate
    ),
    "backdoor.scan": AnalyzerSpec(
        "backdoor.scan", "weights", "Weights-tier backdoor scan: refusal probe, trigger search, base diff",
        _backdoor_scan,
    ),
}


def get_analyzer(analyzer_id: str) -> AnalyzerSpec | None:
    return ANALYZERS.get(analyzer_id)
