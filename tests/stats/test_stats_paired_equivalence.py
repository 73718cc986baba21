"""Paired tests, clustered SEs and TOST on data with known effects."""

import numpy as np
import pytest

from modelcert.errors import ConfigError
from modelcert.stats.clustered import clustered_mean
from modelcert.stats.equivalence import tost_paired, tost_proportions
from modelcert.stats.paired import mcnemar_exact, paired_difference


def test_mcnemar_exact_counts_discordant_pairs():
    x = np.array([1] * 30 + [0] * 10 + [1] * 5 + [0] * 55)
    y = np.array([1] * 30 + [1] * 10 + [0] * 5 + [0] * 55)
    r = mcnemar_exact(x, y)
    assert (r.only_first, r.only_second) == (5, 10)
    from scipy.stats import binomtest

    assert r.pvalue == pytest.approx(binomtest(5, 15, 0.5).pvalue)
    with pytest.raises(ConfigError):
        mcnemar_exact([0, 2], [1, 0])


def test_paired_difference_detects_both_directions():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, 400)
    for shift in (0.3, -0.3):
        d = paired_difference(base + shift + rng.normal(0, 0.5, 400), base)
        assert d.lower <= d.estimate <= d.upper
        assert np.sign(d.lower) == np.sign(d.upper) == np.sign(shift) and d.pvalue < 1e-6


def test_clustered_se_grows_with_within_cluster_correlation():
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(40), 20)
    iid = (rng.random(800) < 0.3).astype(float)
    corr = (rng.random(800) < np.clip(0.3 + rng.normal(0, 0.25, 40)[g], 0, 1)).astype(float)
    a, b = clustered_mean(iid, g), clustered_mean(corr, g)
    assert a.design_effect < 1.5 < b.design_effect
    assert b.effective_n < 800 / 1.5 and b.lower < b.estimate < b.upper
    with pytest.raises(ConfigError):
        clustered_mean([1.0, 0.0], [1, 1])


def test_clustered_ci_covers_by_simulation():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(30), 10)
    cover = []
    for _ in range(300):
        y = 0.5 + rng.normal(0, 0.3, 30)[g] + rng.normal(0, 0.5, 300)
        e = clustered_mean(y, g)
        cover.append(e.lower <= 0.5 <= e.upper)
    assert np.mean(cover) >= 0.92


def test_tost_passes_a_null_effect_and_fails_a_real_one():
    rng = np.random.default_rng(4)
    base = rng.normal(0, 1, 600)
    null = tost_paired(base + rng.normal(0, 0.3, 600), base, tolerance=0.1)
    real = tost_paired(base + 0.2 + rng.normal(0, 0.3, 600), base, tolerance=0.1)
    assert null.equivalent and null.pvalue < 0.05 and -0.1 < null.lower < null.upper < 0.1
    assert not real.equivalent and real.pvalue > 0.05
    # too little data is not equivalence either, even with no effect
    few = tost_paired(base[:8] + rng.normal(0, 0.3, 8), base[:8], tolerance=0.1)
    assert not few.equivalent


def test_tost_with_scenario_clusters():
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(40), 15)
    x = (rng.random(600) < 0.5).astype(float)
    y = (rng.random(600) < 0.5).astype(float)
    assert tost_paired(x, y, tolerance=0.1, clusters=g).equivalent
    assert not tost_paired(x, y, tolerance=0.01, clusters=g).equivalent


def test_tost_for_two_proportions():
    assert tost_proportions(500, 1000, 510, 1000, tolerance=0.06).equivalent
    assert not tost_proportions(500, 1000, 620, 1000, tolerance=0.06).equivalent
    with pytest.raises(ConfigError):
        tost_proportions(5, 10, 5, 10, tolerance=0.0)
