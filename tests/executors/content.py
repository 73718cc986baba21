"""What two runs of the same deterministic audit must share, whatever executor ran them.

The evidence Merkle root of a run cannot repeat across runs: every record carries its
write time and run id, and samples carry their timings. :func:`content_root` is the
Merkle root over what a greedy model's run must reproduce: per sample id (sorted), its
input, output, scores, target, metadata and error.
"""

from __future__ import annotations

from typing import Any

from modelcert.evidence.chain import digest, merkle_root

FIELDS = ("sample_id", "epoch", "input", "output", "scores", "target", "metadata", "error")


def content_root(records: list[Any]) -> str:
    rows = sorted((repr((r.data["sample_id"], r.data["epoch"])), digest({k: r.data.get(k) for k in FIELDS}))
                  for r in records)
    return merkle_root([bytes.fromhex(h) for _, h in rows])
