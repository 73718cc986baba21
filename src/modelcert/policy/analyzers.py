"""The non-query analyses a policy can name, each mapped to a verdict.

An analyzer looks at the model's files or parameters, so it needs the ``weights``
tier. Unknown or not-yet-installed analyzers give NOT_ASSESSED with the reason; they
never pass by default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
}


def get_analyzer(analyzer_id: str) -> AnalyzerSpec | None:
    return ANALYZERS.get(analyzer_id)
