"""Paired counterfactual comparisons: exact McNemar and paired differences with CIs.

A counterfactual pair differs only in the protected attribute, so the within-pair
difference removes the scenario's own effect; both tests are two-sided.

A pair with one side missing (an error, a non-answer) is never dropped:
:func:`paired_difference_worst_case` keeps it in the interval by imputing its missing side
in the worst way for each bound, so the interval holds whatever the missing answers would
have been.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t
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


@dataclass(frozen=True)
class WorstCaseDifference:
    """A paired interval that holds for every imputation of the missing sides."""

    estimate: float  # mean of x - y over the complete pairs (nan if fewer than one)
    low: float  # the smallest and largest mean over all pairs, over every imputation
    high: float
    lower: float  # min over imputations of the (1 - alpha) lower bound
    upper: float  # max over imputations of the upper bound
    n: int  # all pairs, complete or not
    missing: int  # pairs with a missing side
    exact: bool  # True: the bounds are attained by an imputation; False: a conservative bound
    method: str


def _cr1(sums: np.ndarray, sizes: np.ndarray, n: int, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and half-width of the CR1 interval from per-cluster sums (rows = imputations).

    The intercept-only OLS with cluster covariance (statsmodels' ``cov_type="cluster"``, as
    :func:`modelcert.stats.clustered.clustered_mean`): var = G/(G-1) * sum_g u_g^2 / n^2 with
    u_g = S_g - n_g * mean. With one pair per cluster it is the paired t interval."""
    g = sums.shape[-1]
    mean = sums.sum(axis=-1) / n
    resid = sums - np.multiply.outer(mean, sizes)
    se = np.sqrt(g / (g - 1) * (resid**2).sum(axis=-1)) / n
    return mean, t * se


def paired_difference_worst_case(x, y, *, alpha: float = 0.05, clusters=None, bounds: tuple[float, float] = (0.0, 1.0),
                                 max_vertices: int = 1 << 14) -> WorstCaseDifference:
    """Interval for the mean of x - y over *all* pairs, NaN marking a missing side.

    Each missing value may be anything in ``bounds`` (0/1 for a binary score). The lower
    bound is the smallest (1 - alpha) cluster-robust lower bound over every imputation, the
    upper bound the largest upper bound, so equivalence or a difference shown with it holds
    whatever the missing answers were. With nothing missing it is the cluster-robust interval
    of :func:`paired_difference` (the paired t interval without ``clusters``).

    Why exact and cheap: the bounds depend on an imputation only through each cluster's sum;
    the lower bound is concave and the upper bound convex in those sums, so their extremes
    lie at a vertex of the box of possible sums (every missing value of a cluster at one end
    of its range), and every vertex is a real imputation. Up to ``max_vertices`` vertices
    (2 ** clusters with a missing value) are enumerated: the bounds are attained. Beyond that
    a conservative bound is used (the triangle inequality around the box's centre).

    Args:
        clusters: Scenario id per pair (cluster-robust, t with G - 1 df); None: one per pair.
        bounds: Range of a missing value.
        max_vertices: Largest enumeration before the conservative bound.
    """
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        raise ConfigError("paired samples must be 1-D and of equal length")
    if a.size < 2:
        raise ConfigError("paired comparisons need at least 2 pairs")
    lo_v, hi_v = float(bounds[0]), float(bounds[1])
    if not lo_v <= hi_v:
        raise ConfigError(f"bounds must be (low, high) with low <= high, got {bounds}")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie in (0, 1), got {alpha}")
    codes = np.arange(a.size) if clusters is None else np.unique(np.asarray(clusters), return_inverse=True)[1]
    if codes.size != a.size:
        raise ConfigError("clusters must give one id per pair")
    n_clusters = int(codes.max()) + 1
    if n_clusters < 2:
        raise ConfigError(f"a clustered interval needs at least 2 clusters, got {n_clusters}")
    # each pair's difference lies in [d_lo, d_hi]; a complete pair has d_lo == d_hi
    d_lo = np.where(np.isnan(a), lo_v, a) - np.where(np.isnan(b), hi_v, b)
    d_hi = np.where(np.isnan(a), hi_v, a) - np.where(np.isnan(b), lo_v, b)
    complete = ~(np.isnan(a) | np.isnan(b))
    n = int(a.size)
    sizes = np.bincount(codes, minlength=n_clusters).astype(float)
    s_lo = np.bincount(codes, weights=d_lo, minlength=n_clusters)
    s_hi = np.bincount(codes, weights=d_hi, minlength=n_clusters)
    free = np.flatnonzero(s_hi > s_lo)
    t = float(student_t.ppf(1 - alpha / 2, n_clusters - 1))
    estimate = float((a - b)[complete].mean()) if complete.any() else float("nan")
    low, high = float(s_lo.sum() / n), float(s_hi.sum() / n)
    what = "paired, cluster-robust" if clusters is not None else "paired t"
    if free.size == 0 or (1 << int(free.size)) <= max_vertices:
        corners = np.array(list(itertools.product((0.0, 1.0), repeat=int(free.size))))
        sums = np.repeat(s_lo[None, :], len(corners), axis=0)
        sums[:, free] += corners * (s_hi - s_lo)[free]
        mean, half = _cr1(sums, sizes, n, t)
        lower, upper = float((mean - half).min()), float((mean + half).max())
        exact = True
        method = what if free.size == 0 else f"{what}; worst case over {len(corners)} imputations of {int((~complete).sum())} pairs"
    else:  # conservative: ||u(s)|| <= ||u(centre)|| + ||P|| * ||half-range|| (u = P s, P centres by size)
        centre = (s_lo + s_hi) / 2
        proj = np.eye(n_clusters) - np.outer(sizes, np.ones(n_clusters)) / n
        resid = proj @ centre
        spread = np.linalg.norm(proj, 2) * np.linalg.norm((s_hi - s_lo) / 2)
        se_max = np.sqrt(n_clusters / (n_clusters - 1)) * (np.linalg.norm(resid) + spread) / n
        lower, upper = low - t * se_max, high + t * se_max
        exact = False
        method = f"{what}; conservative worst-case bound over {int((~complete).sum())} pairs with a missing side"
    return WorstCaseDifference(estimate, low, high, lower, upper, n, int((~complete).sum()), exact, method)
