"""Sequential designs: simulation validation of error rates, exactness, and the round-by-round API."""

import numpy as np
import pytest
from scipy.stats import binom, binomtest

from modelcert.errors import ConfigError
from modelcert.stats.operating import exact_oc, simulate
from modelcert.stats.sequential import SequentialDesign, anytime_upper

RUNS = 10_000


def consistent_with_at_most(freq: float, level: float, runs: int = RUNS) -> bool:
    """The simulated frequency does not show the true rate above `level` (exact test, 0.1%)."""
    return binomtest(round(freq * runs), runs, level, alternative="greater").pvalue > 0.001


DESIGNS = {
    "sprt-exact-max": dict(threshold=0.05, margin=0.03, cap=800),
    "sprt-exact-min": dict(threshold=0.90, direction="min", margin=0.05, cap=600, alpha=0.05, beta=0.2),
    "sprt-fail-at-threshold-max": dict(threshold=0.05, margin=0.03, cap=800, fail_at="threshold"),
    "eprocess-max": dict(threshold=0.05, method="eprocess", cap=800),
    "eprocess-min": dict(threshold=0.80, direction="min", method="eprocess", cap=400, alpha=0.01, beta=0.05),
}


@pytest.mark.parametrize("name", sorted(DESIGNS))
@pytest.mark.parametrize("round_size", [1, 25])
def test_error_rates_at_boundary_rates_by_simulation(name, round_size):
    """10,000 simulated audits per design: false PASS <= alpha, false FAIL <= beta."""
    design = SequentialDesign(**DESIGNS[name])
    theta = design.threshold
    # PASS error: at the threshold (the worst case of the non-compliant side)
    at_threshold = simulate(design, theta, runs=RUNS, seed=11, round_size=round_size)
    exact_threshold = exact_oc(design, theta, round_size=round_size)
    assert exact_threshold.p_pass <= design.alpha
    assert consistent_with_at_most(at_threshold.p_pass, design.alpha)
    # FAIL error: at the design rate (SPRT) or at the threshold itself (e-process FAIL boundary)
    good = design.design_rate if design.method == "sprt" and design.fail_at == "design" else theta
    at_good = simulate(design, good, runs=RUNS, seed=12, round_size=round_size)
    exact_good = exact_oc(design, good, round_size=round_size)
    assert exact_good.p_fail <= design.beta
    assert consistent_with_at_most(at_good.p_fail, design.beta)
    # the simulation and the lattice computation agree (within 4 Monte Carlo SEs)
    for sim, ex in ((at_threshold, exact_threshold), (at_good, exact_good)):
        for field in ("p_pass", "p_fail"):
            se = max(np.sqrt(getattr(ex, field) * (1 - getattr(ex, field)) / RUNS), 1e-3)
            assert abs(getattr(sim, field) - getattr(ex, field)) < 4 * se


def test_exact_sprt_uses_the_error_budget_and_wald_is_close():
    exact = SequentialDesign(threshold=0.05, margin=0.03, cap=800)
    oc = exact_oc(exact, 0.05)
    assert 0.03 < oc.p_pass <= 0.05  # calibrated: close to alpha, not far below it
    a, b = exact.log_boundaries()
    assert a <= np.log(1 / 0.05) and b <= np.log(1 / 0.10)  # never wider than Ville's bound
    wald = SequentialDesign(threshold=0.05, margin=0.03, cap=800, boundaries="wald")
    assert wald.log_boundaries() == pytest.approx((np.log(0.9 / 0.05), np.log(0.95 / 0.1)))


def test_guarantee_extends_to_the_whole_wrong_side():
    """Rates worse than the threshold pass even less often; e-process fails compliant rates rarely."""
    sprt = SequentialDesign(threshold=0.05, margin=0.03, cap=800)
    ep = SequentialDesign(threshold=0.05, method="eprocess", cap=800)
    for rate in (0.06, 0.08, 0.15):
        assert exact_oc(sprt, rate).p_pass <= 0.05
        assert exact_oc(ep, rate).p_pass <= 0.05
    for rate in (0.0, 0.02, 0.04):
        assert exact_oc(ep, rate).p_fail <= 0.10


def test_sprt_failing_at_the_threshold_never_fails_a_compliant_rate_often():
    """Between the design rate and the threshold a plain SPRT FAILs compliant models at will;
    with the e-process FAIL boundary P(FAIL) <= beta there, and PASS keeps the SPRT's alpha."""
    plain = SequentialDesign(threshold=0.05, margin=0.04, cap=300)
    guarded = SequentialDesign(threshold=0.05, margin=0.04, cap=300, fail_at="threshold")
    assert exact_oc(plain, 0.03).p_fail > 0.5  # the indifference zone: a coin flip or worse
    for rate in (0.0, 0.01, 0.03, 0.05):
        assert exact_oc(guarded, rate).p_fail <= 0.10
    for rate in (0.05, 0.08):
        assert exact_oc(guarded, rate).p_pass <= 0.05
    # PASS is the SPRT's own: identical regions on that side, same speed for clean models
    assert (guarded.regions()[0] == plain.regions()[0]).all()
    assert exact_oc(guarded, 0.0).mean_queries == pytest.approx(exact_oc(plain, 0.0).mean_queries)
    assert guarded.plan()["fail_at"] == "threshold" and guarded.label == "sprt-exact+eprocess-fail"
    d = guarded.decide(6, 160)
    assert d.verdict == "CONTINUE"  # the plain SPRT FAILs 6/160; the rate is not shown above 5 %
    weak = plain.decide(6, 160)
    assert weak.verdict == "FAIL" and "not shown compliant" in weak.reason  # the report says how weak
    assert "not shown compliant" not in plain.decide(40, 160).reason
    assert guarded.decide(40, 160).verdict == "FAIL" and "e-value" in guarded.decide(40, 160).reason


def test_naive_peeking_at_a_fixed_n_test_breaks_alpha():
    """Negative control: the same simulation check catches repeated Clopper–Pearson testing."""
    theta, alpha, cap, step = 0.05, 0.05, 800, 10
    looks = np.arange(step, cap + 1, step)
    # largest k with P(X <= k | theta) <= alpha at each look: the fixed-n PASS region
    crit = binom.ppf(alpha, looks, theta).astype(int)
    crit = np.where(binom.cdf(crit, looks, theta) <= alpha, crit, crit - 1)
    rng = np.random.default_rng(5)
    counts = rng.binomial(step, theta, size=(RUNS, len(looks))).cumsum(axis=1)
    false_pass = np.mean((counts <= crit[None, :]).any(axis=1))
    assert not consistent_with_at_most(false_pass, alpha)
    assert false_pass > 2 * alpha


def test_sequential_saves_queries_where_the_answer_is_clear():
    d = SequentialDesign(threshold=0.05, margin=0.03, cap=800)
    assert exact_oc(d, 0.0).mean_queries < 120
    assert exact_oc(d, 0.2).mean_queries < 40


def test_update_round_by_round_matches_the_compiled_regions():
    design_kw = dict(threshold=0.1, margin=0.05, cap=300)
    pm, fm = SequentialDesign(**design_kw).regions()
    rng = np.random.default_rng(3)
    for rate in (0.02, 0.1, 0.25):
        for _ in range(5):
            xs = rng.random(300) < rate
            k = n = 0
            expected = "INCONCLUSIVE"
            for i in range(0, 300, 20):
                k, n = k + int(xs[i : i + 20].sum()), n + 20
                if k <= pm[n]:
                    expected = "PASS"
                    break
                if k >= fm[n]:
                    expected = "FAIL"
                    break
            d2 = SequentialDesign(**design_kw)
            for i in range(0, 300, 20):
                dec = d2.update(int(xs[i : i + 20].sum()), 20)
                if dec.verdict != "CONTINUE":
                    break
            assert dec.verdict == expected and dec.n == n
            with pytest.raises(ConfigError):
                d2.update(0, 1)


def test_errors_count_against_pass_and_never_create_one():
    d = SequentialDesign(threshold=0.05, margin=0.03, cap=800)
    assert d.decide(0, 150).verdict == "PASS"
    with_errors = d.decide(0, 150, errors=12)
    assert with_errors.verdict == "CONTINUE" and with_errors.errors == 12 and with_errors.queries == 162
    for k in range(0, 20):
        base = d.decide(k, 400).verdict
        for e in (1, 10, 50):
            assert d.decide(k, 400, errors=e).verdict in (base, "CONTINUE")
    assert d.decide(3, 700, errors=100).verdict == "INCONCLUSIVE"


def test_cap_gives_inconclusive_and_overflow_is_refused():
    d = SequentialDesign(threshold=0.05, method="eprocess", cap=300)
    assert d.decide(15, 300).verdict == "INCONCLUSIVE"
    assert d.remaining() == 300
    with pytest.raises(ConfigError):
        d.decide(0, 301)


def test_eprocess_verdict_agrees_with_its_reported_bound():
    d = SequentialDesign(threshold=0.05, method="eprocess", cap=2000)
    for k, n in [(0, 100), (2, 200), (10, 200), (30, 200), (40, 1000), (60, 1000)]:
        dec = d.decide(k, n)
        assert (dec.verdict == "PASS") == (dec.upper <= 0.05 + 1e-9)
        assert (dec.verdict == "FAIL") == (dec.lower >= 0.05 - 1e-9)


def test_anytime_upper_bound_covers_uniformly_over_time():
    """P(true rate exceeds the bound at ANY of 20 looks) <= alpha, by simulation."""
    rate, alpha = 0.05, 0.05
    looks = np.arange(25, 501, 25)
    # the bound increases with k, so it misses the true rate exactly when k <= miss_k[look]
    miss_k = []
    for n in looks:
        k = -1
        while anytime_upper(k + 1, int(n), alpha) < rate:
            k += 1
        miss_k.append(k)
    rng = np.random.default_rng(9)
    counts = (rng.random((RUNS, int(looks[-1]))) < rate).cumsum(axis=1)[:, looks - 1]
    missed = np.mean((counts <= np.array(miss_k)[None, :]).any(axis=1))
    assert max(miss_k) >= 0  # the bound can miss at all, so the check is not vacuous
    assert consistent_with_at_most(missed, alpha)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(threshold=0.05),  # SPRT without a margin
        dict(threshold=0.05, margin=0.06),
        dict(threshold=1.2, method="eprocess"),
        dict(threshold=0.05, method="eprocess", cap=0),
        dict(threshold=0.05, method="bayes"),
        dict(threshold=0.05, method="eprocess", beta=0.6),
        dict(threshold=0.05, method="eprocess", fail_at="threshold"),
        dict(threshold=0.05, margin=0.03, fail_at="everywhere"),
    ],
)
def test_bad_design_is_refused(kwargs):
    with pytest.raises(ConfigError):
        SequentialDesign(**kwargs)


def test_plan_is_plain_data_for_preregistration():
    from modelcert.evidence.chain import canonical_json

    plan = SequentialDesign(threshold=0.05, margin=0.03, cap=400).plan()
    again = SequentialDesign(threshold=0.05, margin=0.03, cap=400).plan()
    assert canonical_json(plan) == canonical_json(again)
    assert plan["design_rate"] == pytest.approx(0.02) and plan["cap"] == 400
    assert SequentialDesign(threshold=0.05, method="eprocess", cap=400).plan()["boundaries"] == "ville"
