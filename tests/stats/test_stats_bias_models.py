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
