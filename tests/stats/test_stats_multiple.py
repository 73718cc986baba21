"""BH and e-BH: reference values and false-discovery control by simulation."""

import numpy as np
import pytest

from modelcert.errors import ConfigError
from modelcert.stats.multiple import benjamini_hochberg, e_bh


def test_bh_reference_example():
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    reject, adj = benjamini_hochberg(p, q=0.05)
    # step-up: p_(k) <= k q / m holds last at k = 2
    assert reject.tolist() == [True, True] + [False] * 8
    assert adj[0] == pytest.approx(0.01)
    assert np.all(np.diff(adj) >= -1e-12)


def test_e_bh_reference_example():
    e = [100.0, 50.0, 30.0, 1.0, 0.5]
    # K/(k q) with K=5, q=0.1: 50, 25, 16.7, 12.5, 10 -> e_(3)=30 >= 16.7 is the last
    assert e_bh(e, q=0.1).tolist() == [True, True, True, False, False]
    assert not e_bh([5.0, 5.0], q=0.05).any()
    assert e_bh([], q=0.05).size == 0


def test_both_control_fdr_by_simulation():
    rng = np.random.default_rng(2)
    m, m1, n, reps, q = 40, 8, 50, 400, 0.1
    fdp_bh, fdp_ebh, power_ebh = [], [], []
    for _ in range(reps):
        mu = np.r_[np.full(m1, 0.6), np.zeros(m - m1)]
        x = rng.normal(mu[:, None], 1.0, size=(m, n))
        s = x.sum(axis=1)
        from scipy.stats import norm

        p = norm.sf(s / np.sqrt(n))
        lam = 0.4  # e-value: likelihood ratio of N(0.4,1) vs N(0,1)
        e = np.exp(lam * s - n * lam**2 / 2)
        for reject, out in ((benjamini_hochberg(p, q)[0], fdp_bh), (e_bh(e, q), fdp_ebh)):
            out.append(reject[m1:].sum() / max(reject.sum(), 1))
        power_ebh.append(e_bh(e, q)[:m1].mean())
    assert np.mean(fdp_bh) <= q
    assert np.mean(fdp_ebh) <= q
    assert np.mean(power_ebh) > 0.5  # and it still finds the real effects


def test_bad_values_refused():
    with pytest.raises(ConfigError):
        benjamini_hochberg([0.1, 1.5])
    with pytest.raises(ConfigError):
        e_bh([-1.0])
