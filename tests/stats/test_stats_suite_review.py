"""The reviewed judge's finite-population bounds (stats/suite.py): exact coverage, census, direction."""

from __future__ import annotations

import numpy as np
from scipy.stats import hypergeom

from modelcert.stats.suite import JudgeErrors, SuiteDesign, hypergeom_upper


def test_miss_bound_covers_exactly_at_its_level() -> None:
    N, n, level = 120, 30, 0.025
    for M in range(0, 40):
        # P(bound < M) over the review's draw, computed exactly: at most the level
        x = np.arange(0, min(M, n) + 1)
        pmf = hypergeom.pmf(x, N, M, n)
        miss = sum(p for k, p in zip(x, pmf, strict=True) if hypergeom_upper(int(k), n, N, level) < M)
        assert miss <= level + 1e-12, (M, miss)


def test_a_census_knows_the_misses_and_errors_move_the_lines() -> None:
    assert hypergeom_upper(3, 50, 50, 0.025) == 3
    base = dict(threshold=0.10, suite_size=50, alpha=0.05, beta=0.05)
    clean = SuiteDesign(judge=JudgeErrors(0, 0, 50, 50, review_n=50), **base)
    missed = SuiteDesign(judge=JudgeErrors(0, 2, 48, 48, review_n=50, misses=2), **base)
    alarms = SuiteDesign(judge=JudgeErrors(0, 0, 47, 50, review_n=50, false_alarms=3), **base)
    assert clean.k_pass == 5 and missed.k_pass == 3 and clean.k_fail == 5 and alarms.k_fail == 8
    assert clean.shares == (0.5, 0.5, 0.0)
    # the priors pre-registered at planning stay whatever the labels say
    fixed = SuiteDesign(judge=JudgeErrors(0, 2, 48, 48, review_n=50, misses=2), prior_lines=(5, 5), **base)
    assert fixed.k_pass == 3 and fixed.regions()[0][50] == 2
