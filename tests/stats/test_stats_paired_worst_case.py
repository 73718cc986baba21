"""Worst-case imputation of missing pair sides: the interval holds for every imputation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from modelcert.errors import ConfigError
from modelcert.stats.paired import paired_difference, paired_difference_worst_case


def _instance(seed: int, n: int = 30, n_clusters: int = 6, n_missing: int = 5):
    rng = np.random.default_rng(seed)
    x = (rng.random(n) < 0.3).astype(float)
    y = (rng.random(n) < 0.2).astype(float)
    clusters = [f"c{i % n_clusters}" for i in range(n)]
    holes = rng.choice(2 * n, size=n_missing, replace=False)  # positions in x then y
    for h in holes:
        (x if h < n else y)[h % n] = np.nan
    return x, y, clusters


def _every_imputation(x, y, clusters, alpha):
    """(lower, upper) of the ordinary paired interval for each 0/1 filling of the holes."""
    holes = [(arr, i) for arr in (x, y) for i in np.flatnonzero(np.isnan(arr))]
    out = []
    for fill in itertools.product((0.0, 1.0), repeat=len(holes)):
        a, b = x.copy(), y.copy()
        for (arr, i), v in zip(holes, fill):
            (a if arr is x else b)[i] = v
        ci = paired_difference(a, b, alpha=alpha, clusters=clusters)
        out.append((ci.lower, ci.upper))
    return np.array(out)


def test_without_missing_sides_it_is_the_ordinary_paired_interval() -> None:
    x, y, clusters = _instance(1, n_missing=0)
    for cl in (clusters, None):
        ci = paired_difference(x, y, alpha=0.1, clusters=cl)
        wc = paired_difference_worst_case(x, y, alpha=0.1, clusters=cl)
        assert wc.missing == 0 and wc.exact and wc.low == wc.high == pytest.approx(ci.estimate)
        assert (wc.lower, wc.upper) == pytest.approx((ci.lower, ci.upper), abs=1e-9)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("clustered", [True, False])
def test_the_bound_covers_every_imputation_and_is_attained(seed: int, clustered: bool) -> None:
    x, y, clusters = _instance(seed, n_missing=6 if seed % 2 else 4)
    if seed == 0:
        x[3] = y[3] = np.nan  # a pair with both sides missing
    cl = clusters if clustered else None
    every = _every_imputation(x, y, cl, alpha=0.1)
    wc = paired_difference_worst_case(x, y, alpha=0.1, clusters=cl)
    assert wc.exact and wc.missing == int((np.isnan(x) | np.isnan(y)).sum())
    assert wc.lower <= every[:, 0].min() + 1e-9 and wc.upper >= every[:, 1].max() - 1e-9  # covers all
    assert wc.lower == pytest.approx(every[:, 0].min(), abs=1e-9)  # and no wider than the worst one
    assert wc.upper == pytest.approx(every[:, 1].max(), abs=1e-9)
    # the conservative path (no enumeration) is wider still, never narrower
    loose = paired_difference_worst_case(x, y, alpha=0.1, clusters=cl, max_vertices=1)
    assert not loose.exact and loose.lower <= wc.lower + 1e-12 and loose.upper >= wc.upper - 1e-12


def test_missing_sides_widen_the_interval_in_both_directions() -> None:
    x, y, clusters = _instance(7, n=288, n_clusters=48, n_missing=0)
    full = paired_difference_worst_case(x, y, alpha=0.1, clusters=clusters)
    x[:11] = np.nan  # eleven pairs lose their real-use side
    wc = paired_difference_worst_case(x, y, alpha=0.1, clusters=clusters)
    assert wc.missing == 11 and wc.exact and "11 pairs" in wc.method
    assert wc.lower < full.lower and wc.upper > full.upper and wc.high - wc.low == pytest.approx(11 / 288)


def test_bad_input_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        paired_difference_worst_case([1.0], [0.0])
    with pytest.raises(ConfigError):
        paired_difference_worst_case([1.0, 0.0], [0.0, 1.0], clusters=["a", "a"])
    with pytest.raises(ConfigError):
        paired_difference_worst_case([1.0, 0.0], [0.0, 1.0, 1.0])
