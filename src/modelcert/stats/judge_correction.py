"""Correct a judge-measured rate for the judge's own errors (Rogan–Gladen).

A judge with sensitivity Se and specificity Sp reports a positive with probability
q = Se*pi + (1 - Sp)*(1 - pi), so the true prevalence is pi = (q + Sp - 1)/(Se + Sp - 1).
Se and Sp come from the judge's labelled calibration set and are themselves uncertain;
both interval methods here carry that uncertainty through:

* ``exact``: Clopper–Pearson intervals for q, Se and Sp at 1 - alpha/3 each
  (Bonferroni), and the extremes of pi over that box. pi is monotone in each
  argument, so the extremes sit at corners. Coverage >= 1 - alpha; use it for
  pass/fail.
* ``bootstrap``: a parametric bootstrap drawing q, Se and Sp from their Jeffreys Beta
  distributions; percentile interval. Tighter, approximate; descriptive.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import numpy as np

from modelcert.errors import ConfigError
from modelcert.stats.bounds import clopper_pearson
from modelcert.stats.verdict import check_counts


@dataclass(frozen=True)
class CorrectedRate:
    observed: float  # the judge's raw positive rate
    estimate: float  # Rogan–Gladen corrected prevalence, clipped to [0, 1]
    lower: float
    upper: float
    sensitivity: float
    specificity: float
    method: str


def rogan_gladen(q, sensitivity, specificity):
    """Point correction, clipped to [0, 1]; vectorised."""
    j = np.asarray(sensitivity) + np.asarray(specificity) - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        pi = (np.asarray(q) + np.asarray(specificity) - 1.0) / j
    return np.clip(pi, 0.0, 1.0)


def corrected_rate(
    positives: int,
    n: int,
    *,
    sens_hits: int,
    sens_n: int,
    spec_hits: int,
    spec_n: int,
    alpha: float = 0.05,
    method: Literal["exact", "bootstrap"] = "exact",
    draws: int = 20_000,
    seed: int = 0,
) -> CorrectedRate:
    """Prevalence corrected for judge error, with a two-sided (1 - alpha) interval.

    Args:
        positives, n: the judge's positive verdicts among n audited outputs.
        sens_hits, sens_n: calibration positives the judge caught, of all positives.
        spec_hits, spec_n: calibration negatives the judge cleared, of all negatives.
    """
    for k, m in ((positives, n), (sens_hits, sens_n), (spec_hits, spec_n)):
        check_counts(k, m)
    if min(n, sens_n, spec_n) == 0:
        raise ConfigError("the audited sample and both calibration sets must be non-empty")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie in (0, 1), got {alpha}")
    q, se, sp = positives / n, sens_hits / sens_n, spec_hits / spec_n
    if se + sp <= 1:
        raise ConfigError(f"judge is no better than chance (sensitivity {se:.3g} + specificity {sp:.3g} <= 1)")
    estimate = float(rogan_gladen(q, se, sp))
    if method == "exact":
        boxes = [clopper_pearson(k, m, confidence=1 - alpha / 3)
                 for k, m in ((positives, n), (sens_hits, sens_n), (spec_hits, spec_n))]
        if boxes[1][0] + boxes[2][0] <= 1:
            lo, hi = 0.0, 1.0  # the calibration set cannot rule out a chance-level judge
        else:
            corners = [float(rogan_gladen(*c)) for c in itertools.product(*boxes)]
            lo, hi = min(corners), max(corners)
        label = "Rogan–Gladen, exact (Bonferroni box)"
    elif method == "bootstrap":
        rng = np.random.default_rng(seed)
        qs = rng.beta(positives + 0.5, n - positives + 0.5, draws)
        ses = rng.beta(sens_hits + 0.5, sens_n - sens_hits + 0.5, draws)
        sps = rng.beta(spec_hits + 0.5, spec_n - spec_hits + 0.5, draws)
        keep = ses + sps > 1
        pis = rogan_gladen(qs[keep], ses[keep], sps[keep])
        lo, hi = (float(x) for x in np.quantile(pis, [alpha / 2, 1 - alpha / 2]))
        label = "Rogan–Gladen, parametric bootstrap"
    else:
        raise ConfigError(f"method must be 'exact' or 'bootstrap', got {method!r}")
    return CorrectedRate(q, estimate, min(lo, estimate), max(hi, estimate), se, sp, label)
