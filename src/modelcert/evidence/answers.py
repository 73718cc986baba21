"""The answers root: what two runs of the same deterministic check must share.

A run's Merkle root (``run_end.merkle_root``, the value certificates anchor) can never
repeat across runs: every record hashes its run id and write time, and samples carry
their timings. Yet a regulator re-running an audit, or an operator moving it from one
executor to another (in-process, Ray), needs to show that the *answers* were the same.
The answers root is that value: an RFC 6962 root over one leaf per sample, sorted by
(sample id, epoch), each leaf the canonical digest of the sample's input, output, scores,
target, metadata and error, with the wall-clock fields removed. ``run_end`` records it
and ``evidence verify`` recomputes it, so it is as tamper-evident as the chain itself.

A greedy local model gives the same answers root on every executor; a sampled model or a
remote endpoint need not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelcert.evidence.chain import digest, merkle_root

#: Sample fields the root covers.
FIELDS = ("sample_id", "epoch", "input", "output", "scores", "target", "metadata", "error")
#: Keys dropped at any depth: wall-clock values no two runs share.
TIMES = frozenset({"seconds", "timing", "working_time", "total_time", "started_at", "completed_at"})


def _without_times(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _without_times(v) for k, v in obj.items() if k not in TIMES}
    if isinstance(obj, list):
        return [_without_times(v) for v in obj]
    return obj


def answer_content(sample: Mapping[str, Any]) -> dict[str, Any]:
    """What the answers root hashes for one sample record's data."""
    return _without_times({k: sample.get(k) for k in FIELDS})


def answers_root(samples: Iterable[Mapping[str, Any]]) -> str:
    """RFC 6962 root over the samples' content digests, in (sample id, epoch) order."""
    leaves = sorted((repr((s["sample_id"], s["epoch"])), digest(answer_content(s))) for s in samples)
    return merkle_root([bytes.fromhex(h) for _, h in leaves])
