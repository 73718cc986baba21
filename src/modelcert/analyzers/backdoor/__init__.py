"""Behavioural backdoor scans, one method per access tier.

* :func:`scan_api`: group-tested candidate search on text answers (``api``);
* :func:`scan_logprobs`: trigger and target inversion from first-token logprobs (``logprobs``);
* :func:`scan_weights`: refusal-direction probe search, plus a weight diff against a
  declared base (``weights``).

Each returns a :class:`BackdoorReport` (score, recovered triggers, queries spent, and the
measured detection power of its tier). Use :func:`scan` to pick by tier.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelcert.analyzers.backdoor.api import scan_api
from modelcert.analyzers.backdoor.logprobs import scan_logprobs
from modelcert.analyzers.backdoor.model import CheckpointScanModel, InspectScanModel, ScanModel
from modelcert.analyzers.backdoor.probes import Candidate
from modelcert.analyzers.backdoor.report import (
    ABSENCE,
    BackdoorReport,
    measured_power,
    power_statement,
    undecided,
    verdict,
)
from modelcert.analyzers.backdoor.weights import scan_weights
from modelcert.errors import ConfigError
from modelcert.targets import Tier


def scan(model: ScanModel, tier: Tier | None = None, *, base: str | Path | None = None, **kwargs: Any) -> BackdoorReport:
    """Run the scan of ``tier`` (default: the model's own tier) on ``model``."""
    tier = tier or model.tier
    model.require(tier, f"the {tier}-tier backdoor scan")
    if base is not None and tier == "api":
        raise ConfigError("a declared base checkpoint is used only by the logprobs- and weights-tier scans")
    if tier == "api":
        return scan_api(model, **kwargs)
    if tier == "logprobs":
        report = scan_logprobs(model, base=base, **kwargs)
    else:
        report = scan_weights(model, base=base, **kwargs)  # type: ignore[arg-type]
    report.with_base = base is not None
    return report


def scan_checkpoint(path: str | Path, tier: Tier = "weights", *, base: str | Path | None = None,
                    threads: int | None = None, executor: Any = None, replicas: int | None = None,
                    **kwargs: Any) -> BackdoorReport:
    """Scan a local checkpoint at ``tier``, on the process's shared copy of it.

    Args:
        threads: Torch threads (default: :func:`modelcert.providers.cores.default_threads`,
            1 on small machines; one thread measured ~50x faster than two for these tiny
            models on a shared 2-core CPU).
        executor: Where the search's batches run (:func:`modelcert.executors.get_executor`;
            default ``$MODELCERT_EXECUTOR``): a distributed executor spreads them over
            ``replicas`` copies of the checkpoint (default: one per cluster CPU).
    """
    from modelcert.executors import get_executor
    from modelcert.providers.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path, access=tier, threads=threads)
    ex = get_executor(executor)
    pool = ex.pool(f"scan:{ckpt.path.resolve().name}", replicas) if ex.distributed else None
    model = CheckpointScanModel(ckpt, replicas=pool)
    return scan(model, tier, base=base, **kwargs)


__all__ = ["ABSENCE", "BackdoorReport", "Candidate", "CheckpointScanModel", "InspectScanModel", "ScanModel",
           "measured_power", "power_statement", "scan", "scan_api", "scan_checkpoint", "scan_logprobs",
           "scan_weights", "undecided", "verdict"]
