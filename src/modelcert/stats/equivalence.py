"""Equivalence (TOST): "no bias" as a positive finding within a declared tolerance.

Failing to reject a difference is not evidence of fairness. Two one-sided tests reject
both |difference| >= tolerance sides; equivalently the (1 - 2 alpha) CI lies inside
(-tolerance, +tolerance).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelcert.errors import ConfigError
from modelcert.stats.paired import paired_difference


@dataclass(frozen=True)
class Equivalence:
    equivalent: bool
    estimate: float
    lower: float  # (1 - 2 alpha) CI
    upper: float
    pvalue: float  # the larger of the two one-sided p-values (nan for the CI-inclusion form)
    tolerance: float
    method: str


def _check(tolerance: float, alpha: float) -> None:
    if tolerance <= 0:
        raise ConfigError(f"tolerance must be positive, got {tolerance}")
    if not 0 < alpha < 0.5:
        raise ConfigError(f"alpha must lie in (0, 0.5), got {alpha}")


def tost_paired(x, y, *, tolerance: float, alpha: float = 0.05, clusters=None) -> Equivalence:
    """TOST on paired differences x - y (statsmodels ``ttost_paired``).

    With ``clusters`` (scenario ids) it uses the cluster-robust (1 - 2 alpha) CI instead.
    """
    _check(tolerance, alpha)
    ci = paired_difference(x, y, alpha=2 * alpha, clusters=clusters)
    inside = -tolerance < ci.lower and ci.upper < tolerance
    if clusters is not None:
        return Equivalence(inside, ci.estimate, ci.lower, ci.upper, float("nan"), tolerance, "TOST, cluster-robust CI")
    d = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    if np.all(d == d[0]):
        return Equivalence(inside, ci.estimate, ci.lower, ci.upper, 0.0 if inside else 1.0, tolerance, "TOST paired")
    from statsmodels.stats.weightstats import (
        ttost_paired,  # lazy: statsmodels pulls in pandas (seconds at start-up)
    )

    p, _, _ = ttost_paired(np.asarray(x, dtype=float), np.asarray(y, dtype=float), -tolerance, tolerance)
    return Equivalence(bool(p <= alpha), ci.estimate, ci.lower, ci.upper, float(p), tolerance, "TOST paired t")


def tost_proportions(
    count1: int, n1: int, count2: int, n2: int, *, tolerance: float, alpha: float = 0.05
) -> Equivalence:
    """TOST for a difference of two independent proportions (statsmodels, Agresti–Caffo)."""
    _check(tolerance, alpha)
    if min(n1, n2) <= 0 or not (0 <= count1 <= n1 and 0 <= count2 <= n2):
        raise ConfigError("counts must satisfy 0 <= count <= n with n > 0")
    from statsmodels.stats.proportion import confint_proportions_2indep, tost_proportions_2indep

    res = tost_proportions_2indep(count1, n1, count2, n2, -tolerance, tolerance, method="agresti-caffo")
    lo, hi = confint_proportions_2indep(count1, n1, count2, n2, method="agresti-caffo", alpha=2 * alpha)
    est = count1 / n1 - count2 / n2
    return Equivalence(bool(res.pvalue <= alpha), est, float(lo), float(hi), float(res.pvalue), tolerance,
                       "TOST two proportions")
