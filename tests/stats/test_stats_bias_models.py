"""Bias metrics on synthetic counterfactual decisions with known injected effects."""

import numpy as np
import pandas as pd
import pytest

from modelcert.errors import ConfigError
from modelcert.stats.bias_models import (
    approval_rate_gaps,
    demographic_parity_difference,
    effects_table,
    mixed_effects,
)

ATTRS = {"sex": ("male", ["female"]), "age": ("35", ["62"]), "ethnicity": ("majority", ["roma"]),
         "nationality": ("german", ["romanian", "polish"])}
REFERENCE = {a: r for a, (r, _) in ATTRS.items()}
# planted in credit only: against older applicants, and in favour of Roma applicants (opposite sign)
PLANTED = {("credit", "age", "62"): -0.20, ("credit", "ethnicity", "roma"): +0.20}


@pytest.fixture(scope="module")
def decisions() -> pd.DataFrame:
    rng = np.random.default_rng(2024)
    rows = []
    for domain, first in (("credit", 0), ("health", 40)):
        for s in range(first, first + 40):
            base = rng.uniform(0.3, 0.7)
            for lang in ("en", "de"):
                for attr, (ref, levels) in ATTRS.items():
                    for value in (ref, *levels):
                        p = base + PLANTED.get((domain, attr, value), 0.0)
                        for _ in range(6):
                            rows.append((f"s{s}", domain, lang, attr, value, int(rng.random() < p)))
    return pd.DataFrame(rows, columns=["scenario", "domain", "language", "attribute", "value", "outcome"])


@pytest.fixture(scope="module")
def table(decisions):
    return effects_table(decisions, reference=REFERENCE, tolerance=0.12, cells=("attribute", "domain"))


def test_planted_effects_found_with_their_signs(table):
    by = {(e.cell["domain"], e.attribute, e.level): e for e in table}
    for key, effect in PLANTED.items():
        e = by[key]
        assert e.flagged, key
        assert np.sign(e.lower) == np.sign(e.upper) == np.sign(effect)  # CI excludes 0, right direction
        assert e.lower <= effect <= e.upper
        assert e.equivalent is False


def test_null_attributes_not_flagged_and_equivalent(table):
    nulls = [e for e in table if (e.cell["domain"], e.attribute, e.level) not in PLANTED]
    assert len(nulls) == 8
    assert not any(e.flagged for e in nulls)
    assert all(e.adjusted_p > 0.05 for e in nulls)
    # with this much data "no bias" is a positive finding for every null cell
    assert all(e.equivalent for e in nulls)


def test_logodds_outcomes_use_the_same_model():
    rng = np.random.default_rng(7)
    rows = []
    for s in range(30):
        u = rng.normal(0, 1.0)
        for value, shift in (("ref", 0.0), ("a", 0.5), ("b", -0.5), ("c", 0.0)):
            rows.append((s, value, u + shift + rng.normal(0, 0.3)))
    df = pd.DataFrame(rows, columns=["scenario", "value", "outcome"])
    eff = {e.level: e for e in mixed_effects(df, reference="ref")}
    assert eff["a"].lower > 0.3 and eff["b"].upper < -0.3
    assert eff["c"].lower < 0 < eff["c"].upper
    assert eff["a"].method.startswith("mixed")


def test_parity_difference_and_gaps():
    decisions = [1] * 60 + [0] * 40 + [1] * 45 + [0] * 55 + [1] * 59 + [0] * 41
    groups = ["m"] * 100 + ["f"] * 100 + ["x"] * 100
    assert demographic_parity_difference(decisions, groups) == pytest.approx(0.15)
    gaps = {g.group: g for g in approval_rate_gaps(decisions, groups, reference="m")}
    assert gaps["f"].gap == pytest.approx(-0.15) and gaps["f"].upper < 0 and gaps["f"].pvalue < 0.05
    assert gaps["x"].lower < 0 < gaps["x"].upper and gaps["x"].pvalue > 0.5


def test_bad_decision_data_refused(decisions):
    with pytest.raises(ConfigError):
        effects_table(decisions.drop(columns=["scenario"]), reference=REFERENCE, tolerance=0.1)
    with pytest.raises(ConfigError):
        effects_table(decisions, reference={"sex": "male"}, tolerance=0.1)
    with pytest.raises(ConfigError):
        mixed_effects(decisions[decisions.attribute == "sex"], reference="nobody")
    with pytest.raises(ConfigError):
        demographic_parity_difference([0, 2], ["a", "b"])


def _identical(n_scenarios: int, values: tuple[str, ...], outcome) -> pd.DataFrame:
    """Every value of a scenario gets the same outcome: no effect at all."""
    rows = [(f"s{s}", v, outcome(s)) for s in range(n_scenarios) for v in values for _ in range(3)]
    return pd.DataFrame(rows, columns=["scenario", "value", "outcome"])


@pytest.mark.parametrize(
    ("n_scenarios", "outcome", "method"),
    [(30, lambda s: float(np.sin(s)) * 3.0, "mixed"),  # log-odds-like scores
     (30, lambda s: float(s % 2), "mixed"),  # 0/1 decisions
     (2, lambda s: 0.25 + 0.5 * s, "OLS"),  # too few scenarios for the mixed model
     (1, lambda s: 0.7, "OLS")],
)
def test_identical_groups_show_no_effect(n_scenarios, outcome, method):
    """Regression: identical outcomes left ~0 residual variance and rounding noise read as p ~ 0."""
    effects = mixed_effects(_identical(n_scenarios, ("ref", "a", "b"), outcome), reference="ref")
    assert len(effects) == 2
    for e in effects:
        assert e.method.startswith(method)
        assert e.estimate == 0.0 and e.pvalue == 1.0
        assert e.lower <= 0.0 <= e.upper and e.upper - e.lower < 1e-4


def test_no_effect_with_noise_is_not_significant_and_calibrated():
    """Null data: p large and CI covering 0 on a fixed draw, and about alpha rejections over many."""
    rng = np.random.default_rng(11)
    rows = [(f"s{s}", v, int(rng.random() < p)) for s in range(40) for p in [rng.uniform(0.3, 0.7)]
            for v in ("ref", "a") for _ in range(4)]
    (e,) = mixed_effects(pd.DataFrame(rows, columns=["scenario", "value", "outcome"]), reference="ref")
    assert e.method.startswith("mixed") and e.pvalue > 0.2 and e.lower < 0 < e.upper
    # two scenarios: the fallback; scenario-clustered SEs (1 df) rejected ~30 % of these at 0.05
    pvalues = []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        rows = [(s, v, int(rng.random() < p)) for s in range(2) for p in [rng.uniform(0.3, 0.7)]
                for v in ("ref", "a") for _ in range(10)]
        (e,) = mixed_effects(pd.DataFrame(rows, columns=["scenario", "value", "outcome"]), reference="ref")
        assert e.method.startswith("OLS") and np.isfinite(e.pvalue)
        pvalues.append(e.pvalue)
    assert 0.01 <= np.mean(np.array(pvalues) < 0.05) <= 0.09


def test_fallback_finds_effects_in_both_directions():
    rng = np.random.default_rng(5)
    shift = {"ref": 0.0, "up": 0.3, "down": -0.3, "same": 0.0}
    rows = [(s, v, int(rng.random() < 0.5 + shift[v])) for s in range(2) for v in shift for _ in range(150)]
    eff = {e.level: e for e in mixed_effects(pd.DataFrame(rows, columns=["scenario", "value", "outcome"]),
                                             reference="ref")}
    assert eff["up"].lower > 0.1 and eff["down"].upper < -0.1 and eff["up"].pvalue < 1e-4
    assert eff["same"].lower < 0 < eff["same"].upper
    assert all(e.method.startswith("OLS") for e in eff.values())


def test_few_counterfactual_groups_keep_the_nominal_level():
    """Regression: MixedLM's Wald z rejected 13.5 % of true nulls with 4 groups; the t reference holds alpha."""
    pvalues, covered = [], []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        rows = [(g, v, u + rng.normal(0, 0.3)) for g in range(4) for u in [rng.normal()] for v in ("ref", "a")]
        (e,) = mixed_effects(pd.DataFrame(rows, columns=["scenario", "value", "outcome"]), reference="ref")
        assert e.df == 3  # 8 observations - 4 groups - 1 contrast: the paired t-test's df
        pvalues.append(e.pvalue)
        covered.append(e.lower <= 0 <= e.upper)
    assert np.mean(np.array(pvalues) < 0.05) <= 0.07
    assert np.mean(covered) >= 0.93
