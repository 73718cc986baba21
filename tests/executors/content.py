"""What two runs of the same deterministic audit must share, whatever executor ran them.

The evidence Merkle root of a run cannot repeat across runs: every record carries its
write time and run id, and samples carry their timings. :func:`content_root` is the
Merkle root over what a greedy model's run must reproduce: per sample id (sorted), its
input, output, scores, target, metadata and error, less the wall times some of them
report (a backdoor scan's ``seconds``), which no two runs share.
"""

from __future__ import annotations

from typing import Any

from modelcert.evidence.chain import digest, merkle_root

FIELDS = ("sample_id", "epoch", "input", "output", "scores", "target", "metadata", "error")
TIMES = {"seconds", "timing", "working_time", "total_time", "started_at", "completed_at"}


def _stable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in obj.items() if k not in TIMES}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


def content_root(records: list[Any]) -> str:
    rows = sorted((repr((r.data["sample_id"], r.data["epoch"])),
                   digest(_stable({k: r.data.get(k) for k in FIELDS}))) for r in records)
    return merkle_root([bytes.fromhex(h) for _, h in rows])


def stable_rows(records: list[Any]) -> dict[str, Any]:
    """Per sample, what :func:`content_root` hashes (to show what differs when roots do)."""
    return {repr((r.data["sample_id"], r.data["epoch"])): _stable({k: r.data.get(k) for k in FIELDS})
            for r in records}


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Paths where two JSON-like values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str) for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {str(a)[:120]} != {str(b)[:120]}"]
