"""Exact bounds and the fixed-n verdict, checked against closed forms and exact coverage."""

import numpy as np
import pytest
from scipy.stats import binom
from statsmodels.stats.proportion import proportion_confint

from modelcert.errors import ConfigError, ModelcertError
from modelcert.stats.bounds import clopper_pearson, decide_fixed


def test_zero_events_upper_bound_matches_closed_form():
    # With 0 events in n the exact one-sided bound solves (1-u)^n = alpha.
    for n in (10, 59, 300):
        lo, hi = clopper_pearson(0, n, confidence=0.95, side="upper")
        assert lo == 0.0
        assert hi == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-9)


def test_exact_one_sided_coverage_holds_where_wilson_fails():
    """Exact coverage over a grid of true rates: Clopper–Pearson never dips below 95%."""
    n = 60
    ks = np.arange(n + 1)
    cp_upper = np.array([clopper_pearson(int(k), n, confidence=0.95, side="upper")[1] for k in ks])
    # Wilson's one-sided 95% upper bound is the upper end of its 90% two-sided interval.
    wilson_upper = np.array([proportion_confint(int(k), n, alpha=0.10, method="wilson")[1] for k in ks])
    rates = np.linspace(0.001, 0.2, 400)
    pmf = binom.pmf(ks[None, :], n, rates[:, None])
    cp_cov = (pmf * (cp_upper[None, :] >= rates[:, None])).sum(axis=1)
    wilson_cov = (pmf * (wilson_upper[None, :] >= rates[:, None])).sum(axis=1)
    assert cp_cov.min() >= 0.95 - 1e-12
    assert wilson_cov.min() < 0.94  # measurably optimistic near zero events
    # at zero events Wilson's bound is below the exact one
    assert wilson_upper[0] < cp_upper[0]


def test_two_sided_interval_contains_estimate():
    lo, hi = clopper_pearson(7, 40)
    assert lo < 7 / 40 < hi
    assert clopper_pearson(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("n", [20, 57, 200, 1000])
def test_fixed_design_false_pass_rate_at_threshold_is_at_most_alpha(n):
    """Exact size: P(PASS | rate = threshold) <= alpha; P(FAIL | rate = threshold) <= alpha."""
    theta, alpha = 0.05, 0.05
    verdicts = [decide_fixed(k, n, threshold=theta, alpha=alpha).verdict for k in range(n + 1)]
    pmf = binom.pmf(np.arange(n + 1), n, theta)
    p_pass = pmf[[v == "PASS" for v in verdicts]].sum()
    p_fail = pmf[[v == "FAIL" for v in verdicts]].sum()
    assert p_pass <= alpha
    assert p_fail <= alpha
    assert "PASS" in verdicts or n < 59  # 0/59 is the first n that can pass at 95%


def test_verdicts_and_bounds():
    d = decide_fixed(2, 200, threshold=0.05)
    assert d.verdict == "PASS" and d.upper < 0.05 and d.estimate == 0.01 and d.n == 200
    d = decide_fixed(20, 200, threshold=0.05)
    assert d.verdict == "FAIL" and d.lower > 0.05
    d = decide_fixed(9, 200, threshold=0.05)
    assert d.verdict == "INCONCLUSIVE" and d.lower < 0.05 < d.upper
    assert decide_fixed(0, 0, threshold=0.05).verdict == "INCONCLUSIVE"


def test_min_direction_mirrors_max():
    for k in (150, 185, 196):
        a = decide_fixed(k, 200, threshold=0.9, direction="min")
        b = decide_fixed(200 - k, 200, threshold=0.1, direction="max")
        assert a.verdict == b.verdict
        assert a.lower == pytest.approx(1 - b.upper)
        assert a.upper == pytest.approx(1 - b.lower)


def test_errors_can_only_move_towards_inconclusive():
    n, theta = 300, 0.05
    for k in range(0, 40):
        base = decide_fixed(k, n, threshold=theta).verdict
        for e in (1, 5, 20, 100):
            v = decide_fixed(k, n, threshold=theta, errors=e).verdict
            assert v in (base, "INCONCLUSIVE"), (k, e, base, v)
    # a clear pass with no errors becomes inconclusive when many queries failed
    assert decide_fixed(3, 300, threshold=0.05).verdict == "PASS"
    errored = decide_fixed(3, 300, threshold=0.05, errors=30)
    assert errored.verdict == "INCONCLUSIVE" and "errored" in errored.reason


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(successes=5, n=3, threshold=0.1),
        dict(successes=-1, n=3, threshold=0.1),
        dict(successes=1, n=3, threshold=0.0),
        dict(successes=1, n=3, threshold=0.1, alpha=0.7),
        dict(successes=1, n=3, threshold=0.1, direction="up"),
        dict(successes=1.5, n=3, threshold=0.1),
    ],
)
def test_bad_input_is_a_one_line_modelcert_error(kwargs):
    with pytest.raises(ConfigError) as exc:
        decide_fixed(**kwargs)
    assert isinstance(exc.value, ModelcertError) and "\n" not in str(exc.value)


def test_matches_scipy_binomtest_exact_interval_and_pvalues():
    from scipy.stats import binomtest

    for k, n in [(0, 10), (3, 10), (10, 10), (17, 250), (249, 250)]:
        for side, alt in (("two-sided", "two-sided"), ("upper", "less"), ("lower", "greater")):
            ci = binomtest(k, n, alternative=alt).proportion_ci(confidence_level=0.9, method="exact")
            assert clopper_pearson(k, n, confidence=0.9, side=side) == pytest.approx((ci.low, ci.high), abs=1e-9)
        d = decide_fixed(k, n, threshold=0.05)
        p_pass = binomtest(k, n, 0.05, alternative="less").pvalue
        p_fail = binomtest(k, n, 0.05, alternative="greater").pvalue
        assert (d.verdict == "PASS") == (p_pass <= 0.05)
        assert (d.verdict == "FAIL") == (p_fail <= 0.05)
