"""Sample sizes: counterfactual pairs for a bias gap, and fixed-n binomial designs.

The policy layer sizes runs with these; the sequential benchmark uses ``fixed_n_design``
as the fixed-n comparator at equal alpha/beta.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

from modelcert.errors import ConfigError
from modelcert.stats.verdict import Direction, check_direction, check_level, check_rate


def paired_sd(*, rho: float, sd: float | None = None, base_rate: float | None = None, delta: float = 0.0) -> float:
    """SD of a within-pair difference: sqrt(s1^2 + s2^2 - 2 rho s1 s2).

    Give ``sd`` for a continuous score (both arms share it, e.g. yes/no log-odds), or
    ``base_rate`` for binary decisions (arms p and p + delta).
    """
    if not -1.0 <= rho <= 1.0:
        raise ConfigError(f"rho must lie in [-1, 1], got {rho}")
    if (sd is None) == (base_rate is None):
        raise ConfigError("give exactly one of sd (continuous scores) or base_rate (binary decisions)")
    if sd is not None:
        if sd <= 0:
            raise ConfigError(f"sd must be positive, got {sd}")
        s1 = s2 = sd
    else:
        p2 = base_rate + delta
        if not (0 < base_rate < 1 and 0 < p2 < 1):
            raise ConfigError(f"base_rate and base_rate + delta must lie in (0, 1), got {base_rate}, {p2}")
        s1, s2 = math.sqrt(base_rate * (1 - base_rate)), math.sqrt(p2 * (1 - p2))
    return math.sqrt(max(s1 * s1 + s2 * s2 - 2 * rho * s1 * s2, 0.0))


def pairs_needed(
    delta: float,
    *,
    rho: float,
    sd: float | None = None,
    base_rate: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int:
    """Counterfactual pairs needed to detect a gap ``delta`` two-sided at level alpha.

    n ~ (z_{1-alpha/2} + z_{power})^2 * sd_d^2 / delta^2 with
    sd_d^2 = s1^2 + s2^2 - 2 rho s1 s2; solved exactly for the paired t-test by
    statsmodels (noncentral t), which adds a few pairs at small n.

    Args:
        delta: the smallest gap worth detecting (probability points, or log-odds).
        rho: within-pair correlation of the two arms' outcomes; pairing pays off
            through it (rho = 0.8 needs 2.5x fewer pairs than independent groups).
    """
    if delta == 0:
        raise ConfigError("delta must be non-zero")
    if not 0 < power < 1:
        raise ConfigError(f"power must lie in (0, 1), got {power}")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie in (0, 1), got {alpha}")
    sd_d = paired_sd(rho=rho, sd=sd, base_rate=base_rate, delta=delta)
    if sd_d == 0:
        return 2
    from statsmodels.stats.power import TTestPower  # lazy: statsmodels pulls in pandas (seconds at start-up)

    n = TTestPower().solve_power(effect_size=abs(delta) / sd_d, alpha=alpha, power=power, alternative="two-sided")
    return max(2, math.ceil(float(np.asarray(n).item())))


@dataclass(frozen=True)
class FixedDesign:
    """A fixed-n exact binomial design: PASS iff the bad count is <= ``critical``."""

    n: int
    critical: int
    size: float  # exact P(PASS | rate at the threshold)
    power: float  # exact P(PASS | rate at the design rate)


def fixed_n_design(
    threshold: float,
    design_rate: float,
    *,
    direction: Direction = "max",
    alpha: float = 0.05,
    beta: float = 0.10,
    max_n: int = 200_000,
) -> FixedDesign:
    """Smallest n whose exact one-sided test at level alpha has power 1-beta at ``design_rate``."""
    check_rate("threshold", threshold)
    check_rate("design_rate", design_rate)
    check_direction(direction)
    check_level("alpha", alpha)
    check_level("beta", beta)
    theta, good = (threshold, design_rate) if direction == "max" else (1 - threshold, 1 - design_rate)
    if good >= theta:
        raise ConfigError(f"design rate {design_rate:g} must be on the compliant side of threshold {threshold:g}")
    start = 1
    while start <= max_n:
        n = np.arange(start, min(start * 4, max_n) + 1)
        crit = binom.ppf(alpha, n, theta).astype(np.int64)
        crit = np.where(binom.cdf(crit, n, theta) <= alpha, crit, crit - 1)
        pw = np.where(crit >= 0, binom.cdf(crit, n, good), 0.0)
        hit = np.flatnonzero(pw >= 1 - beta)
        if hit.size:
            i = int(hit[0])
            return FixedDesign(int(n[i]), int(crit[i]), float(binom.cdf(crit[i], n[i], theta)), float(pw[i]))
        start = int(n[-1]) + 1
    raise ConfigError(f"no fixed design up to n={max_n} reaches power {1 - beta:g}")
