"""The probe's bootstrap AUC: the Mann-Whitney form equals scikit-learn's roc_auc_score."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from modelcert.analyzers.eval_probe import bootstrap_auc, rank_auc


@pytest.mark.parametrize("seed", range(20))
def test_rank_auc_equals_roc_auc_score_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 60))
    y = np.concatenate([[0, 1], rng.integers(0, 2, n - 2)])
    score = np.round(rng.random(n), int(rng.integers(1, 3)))  # coarse rounding: many ties
    assert rank_auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)


def test_rank_auc_extremes_and_bootstrap_interval() -> None:
    y = np.array([0, 0, 1, 1])
    assert rank_auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert rank_auc(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert rank_auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    rng = np.random.default_rng(0)
    y = np.tile([1, 0], 40)
    score = y * 0.3 + rng.random(80)
    lo, hi = bootstrap_auc(y, score, np.repeat(np.arange(40), 2), n_boot=200)
    assert lo < rank_auc(y, score) < hi
