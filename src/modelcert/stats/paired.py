"""Paired counterfactual comparisons: exact McNemar and paired differences with CIs.

A counterfactual pair differs only in the protected attribute, so the within-pair
difference removes the scenario's own effect; both tests are two-sided.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import ttest_rel

from modelcert.errors import ConfigError
from modelcert.stats.clustered import clustered_mean


@dataclass(frozen=True)
class McNemarResult:
    only_first: int  # pairs where only the first variant got the positive decision
    only_second: int
    pvalue: float


@dataclass(frozen=True)
class PairedDifference:
    estimate: float  # mean of first - second
    lower: float
    upper: float
    pvalue: float  # two-sided, H0: mean difference 0
    n: int
    method: str


def _pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        raise ConfigError("paired samples must be 1-D and of equal length")
    if a.size < 2:
        raise ConfigError("paired comparisons need at least 2 pairs")
    return a, b


def mcnemar_exact(x, y) -> McNemarResult:
    """Exact McNemar test on paired binary decisions (1 = approved)."""
    a, b = _pair(x, y)
    if not (np.isin(a, (0, 1)).all() and np.isin(b, (0, 1)).all()):
        raise ConfigError("McNemar needs binary (0/1) decisions")
    n10 = int(((a == 1) & (b == 0)).sum())
    n01 = int(((a == 0) & (b == 1)).sum())
    table = [[int(((a == 1) & (b == 1)).sum()), n10], [n01, int(((a == 0) & (b == 0)).sum())]]
    from statsmodels.stats.contingency_tables import (
        mcnemar,  # lazy: statsmodels pulls in pandas (seconds at start-up)
    )

    return McNemarResult(n10, n01, float(mcnemar(table, exact=True).pvalue))


def paired_difference(x, y, *, alpha: float = 0.05, clusters=None) -> PairedDifference:
    """Mean within-pair difference x - y with a two-sided (1-alpha) CI.

    Args:
        clusters: optional scenario id per pair; when given the CI is cluster-robust,
            because repeated samples of one scenario are not independent pairs.
    """
    a, b = _pair(x, y)
    d = a - b
    if clusters is not None:
        est = clustered_mean(d, clusters, alpha=alpha)
        return PairedDifference(est.estimate, est.lower, est.upper, est.pvalue, int(d.size), "paired, cluster-robust")
    if np.all(d == d[0]):
        p = 1.0 if d[0] == 0 else 0.0
        return PairedDifference(float(d[0]), float(d[0]), float(d[0]), p, int(d.size), "paired t (degenerate)")
    res = ttest_rel(a, b)
    ci = res.confidence_interval(confidence_level=1 - alpha)
    return PairedDifference(float(d.mean()), float(ci.low), float(ci.high), float(res.pvalue), int(d.size), "paired t")
