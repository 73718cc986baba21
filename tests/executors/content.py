"""Helpers to explain why two runs' answers roots differ (the root itself is the product's:
:mod:`modelcert.evidence.answers`, recorded in every ``run_end``)."""

from __future__ import annotations

from typing import Any

from modelcert.evidence.answers import answer_content


def recorded_answers_root(store: Any, run_id: str) -> str:
    """The answers root the run's ``run_end`` recorded (``evidence verify`` recomputes it)."""
    (end,) = list(store.records(run_id, kinds=("run_end",)))
    return end.data["answers_root"]


def stable_rows(records: list[Any]) -> dict[str, Any]:
    """Per sample, what the answers root hashes (to show what differs when roots do)."""
    return {repr((r.data["sample_id"], r.data["epoch"])): answer_content(r.data) for r in records}


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths where two JSON-like values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str) for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {str(a)[:120]} != {str(b)[:120]}"]
