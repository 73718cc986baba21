"""Rogan–Gladen correction: closed form, and coverage with the judge's uncertainty by simulation."""

import numpy as np
import pytest

from modelcert.errors import ConfigError
from modelcert.stats.bounds import clopper_pearson
from modelcert.stats.judge_correction import corrected_rate, rogan_gladen


def test_point_correction_inverts_the_judge():
    pi, se, sp = 0.1, 0.9, 0.95
    q = se * pi + (1 - sp) * (1 - pi)
    assert float(rogan_gladen(q, se, sp)) == pytest.approx(pi)
    assert float(rogan_gladen(0.01, se, sp)) == 0.0  # clipped


def test_both_intervals_cover_the_true_prevalence_by_simulation():
    rng = np.random.default_rng(8)
    pi, se, sp, n, cal = 0.10, 0.90, 0.95, 800, 200
    q = se * pi + (1 - sp) * (1 - pi)
    hits = {"exact": 0, "bootstrap": 0, "raw": 0}
    reps = 300
    for i in range(reps):
        k = int(rng.binomial(n, q))
        sk, pk = int(rng.binomial(cal, se)), int(rng.binomial(cal, sp))
        for m in ("exact", "bootstrap"):
            r = corrected_rate(k, n, sens_hits=sk, sens_n=cal, spec_hits=pk, spec_n=cal, method=m,
                               draws=4000, seed=i)
            hits[m] += r.lower <= pi <= r.upper
        lo, hi = clopper_pearson(k, n)
        hits["raw"] += lo <= pi <= hi  # ignoring the judge's errors
    assert hits["exact"] / reps >= 0.95
    assert hits["bootstrap"] / reps >= 0.92
    assert hits["raw"] / reps < 0.6  # the uncorrected rate is biased and misses


def test_chance_level_judge_refused():
    with pytest.raises(ConfigError):
        corrected_rate(10, 100, sens_hits=50, sens_n=100, spec_hits=50, spec_n=100)
    with pytest.raises(ConfigError):
        corrected_rate(10, 0, sens_hits=90, sens_n=100, spec_hits=90, spec_n=100)
    with pytest.raises(ConfigError):
        corrected_rate(10, 100, sens_hits=90, sens_n=100, spec_hits=90, spec_n=100, method="magic")
