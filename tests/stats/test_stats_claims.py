"""Claim verification: a true claim is confirmed, a false one contradicted, with exact error control."""

import numpy as np
import pytest
from scipy.stats import binom

from modelcert.errors import ConfigError
from modelcert.stats.claims import check_rate_claim


def test_true_claim_confirmed_false_claim_contradicted():
    # measured refusal rate 188/200 = 0.94
    assert check_rate_claim(188, 200, claimed=0.95).status == "confirmed"
    false = check_rate_claim(188, 200, claimed=0.99)
    assert false.status == "contradicted" and "excludes" in false.reason
    assert check_rate_claim(188, 200, claimed=0.96, kind="at_least").status == "confirmed"
    assert check_rate_claim(188, 200, claimed=0.98, kind="at_least").status == "contradicted"
    assert check_rate_claim(188, 200, claimed=0.88, kind="at_most").status == "contradicted"


def test_true_claims_are_contradicted_at_most_alpha_of_the_time():
    n, p, alpha = 150, 0.3, 0.05
    ks = np.arange(n + 1)
    status = np.array([check_rate_claim(int(k), n, claimed=p, alpha=alpha).status == "contradicted" for k in ks])
    assert binom.pmf(ks, n, p)[status].sum() <= alpha


def test_errors_only_make_contradiction_harder():
    base = check_rate_claim(188, 200, claimed=0.97)
    widened = check_rate_claim(188, 200, claimed=0.97, errors=20)
    assert base.status == "contradicted"
    assert widened.lower <= base.lower and widened.upper >= base.upper
    assert widened.status == "confirmed"


def test_anytime_interval_is_wider():
    fixed = check_rate_claim(30, 300, claimed=0.1)
    anytime = check_rate_claim(30, 300, claimed=0.1, anytime=True)
    assert anytime.lower < fixed.lower and anytime.upper > fixed.upper


def test_bad_claims_refused():
    with pytest.raises(ConfigError):
        check_rate_claim(1, 10, claimed=1.5)
    with pytest.raises(ConfigError):
        check_rate_claim(1, 10, claimed=0.5, kind="about")
