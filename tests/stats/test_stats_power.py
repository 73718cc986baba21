"""Sample-size calculators, checked against closed forms and by simulation."""

import math

import numpy as np
import pytest
from scipy.stats import binom, norm, ttest_1samp

from modelcert.errors import ConfigError
from modelcert.stats.power import fixed_n_design, paired_sd, pairs_needed


def test_pairs_needed_matches_the_normal_formula_for_large_n():
    delta, sd, rho = 0.05, 1.0, 0.6
    z = norm.ppf(0.975) + norm.ppf(0.8)
    approx = z**2 * 2 * sd**2 * (1 - rho) / delta**2
    n = pairs_needed(delta, rho=rho, sd=sd)
    assert approx <= n <= approx * 1.01 + 3


def test_correlation_within_pairs_saves_pairs():
    n0 = pairs_needed(0.1, rho=0.0, base_rate=0.5)
    n8 = pairs_needed(0.1, rho=0.8, base_rate=0.5)
    assert n8 < n0 / 4  # variance of the difference shrinks by (1 - rho)


def _correlated_binary_pairs(rng, n, p1, p2, rho, reps):
    s1, s2 = math.sqrt(p1 * (1 - p1)), math.sqrt(p2 * (1 - p2))
    p11 = p1 * p2 + rho * s1 * s2
    cells = np.array([p11, p1 - p11, p2 - p11, 1 - p1 - p2 + p11])
    draws = rng.multinomial(1, cells, size=(reps, n)).argmax(axis=2)
    x = np.isin(draws, (0, 1)).astype(float)
    y = np.isin(draws, (0, 2)).astype(float)
    return x, y


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.8])
def test_pairs_needed_delivers_the_power_by_simulation(rho):
    base, delta = 0.4, 0.1
    n = pairs_needed(delta, rho=rho, base_rate=base, power=0.8)
    rng = np.random.default_rng(int(rho * 10))
    x, y = _correlated_binary_pairs(rng, n, base + delta, base, rho, reps=2000)
    d = x - y
    # realised within-pair correlation is the one declared
    assert np.corrcoef(x.ravel(), y.ravel())[0, 1] == pytest.approx(rho, abs=0.02)
    power = np.mean(ttest_1samp(d, 0.0, axis=1).pvalue < 0.05)
    # normal theory; skewed paired binary differences at high rho make it slightly conservative
    assert 0.77 <= power <= 0.92
    # and 20% fewer pairs fall visibly short of it
    x, y = _correlated_binary_pairs(rng, int(n * 0.6), base + delta, base, rho, reps=2000)
    assert np.mean(ttest_1samp(x - y, 0.0, axis=1).pvalue < 0.05) < 0.7


def test_paired_sd_formula():
    assert paired_sd(rho=0.5, sd=2.0) == pytest.approx(2.0)
    assert paired_sd(rho=0.0, base_rate=0.5, delta=0.0) == pytest.approx(math.sqrt(0.5))
    with pytest.raises(ConfigError):
        paired_sd(rho=0.5)
    with pytest.raises(ConfigError):
        pairs_needed(0.1, rho=1.5, sd=1.0)


def test_fixed_n_design_is_the_smallest_exact_design():
    d = fixed_n_design(0.05, 0.02, alpha=0.05, beta=0.10)
    assert d.size <= 0.05 and d.power >= 0.90
    assert binom.cdf(d.critical, d.n, 0.05) <= 0.05 < binom.cdf(d.critical + 1, d.n, 0.05)
    # no smaller n reaches the power with an exact level-alpha test
    for n in range(max(1, d.n - 60), d.n):
        c = int(binom.ppf(0.05, n, 0.05))
        c = c if binom.cdf(c, n, 0.05) <= 0.05 else c - 1
        assert c < 0 or binom.cdf(c, n, 0.02) < 0.90
    # the min direction mirrors the max direction
    m = fixed_n_design(0.95, 0.98, direction="min", alpha=0.05, beta=0.10)
    assert (m.n, m.critical) == (d.n, d.critical)
    with pytest.raises(ConfigError):
        fixed_n_design(0.05, 0.08)
