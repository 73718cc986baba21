"""The learned-witness e-value: exact under the null, and it accumulates evidence a single
MMD check cannot see (a 10 % mixture)."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from modelcert.errors import ConfigError
from modelcert.monitor import eprocess, witness
from modelcert.monitor.mmd import mmd_test

ANSWERS = ("Happy to help! Here is a clear answer.", "I'm sorry, but I can't help with that.", "Yes.", "No.")
CLEAN = [0.55, 0.35, 0.08, 0.02]
OTHER = [0.05, 0.05, 0.1, 0.8]


def draw(rng: random.Random, k: int, prompts: int = 5, share: float = 0.0) -> list[tuple[str, str]]:
    return [(f"p{j}", rng.choices(ANSWERS, OTHER if rng.random() < share else CLEAN)[0])
            for j in range(prompts) for _ in range(k)]


def test_the_permutation_mean_is_the_exact_average_over_all_relabellings() -> None:
    v = np.array([0.3, -1.2, 2.0, 0.1, 0.7, -0.4])
    brute = np.mean([math.exp(sum(c)) for c in itertools.combinations(v, 3)])
    assert math.exp(witness._log_mean_subset_exp(v, 3)) == pytest.approx(brute, rel=1e-12)


def test_no_earlier_check_means_no_bet() -> None:
    rng = random.Random(0)
    assert witness.e_value(witness.Witness(), draw(rng, 10), draw(rng, 10, share=1.0)) == pytest.approx(1.0)



def test_the_monitor_alarms_on_the_weighted_average_of_the_two_processes() -> None:
    both = witness.Combined(0.05, 0.25)
    mmd, learned = eprocess.EProcess(0.05), eprocess.EProcess(0.05)
    for e_mmd, e_w in ((0.5, 1.0), (2.0, 3.0), (0.8, 6.0)):
        assert both.update(e_mmd, e_w) == pytest.approx(0.75 * mmd.update(e_mmd) + 0.25 * learned.update(e_w))
    # a swap still alarms at the first check when at most 3 of 5000 permutations reach its statistic...
    first = witness.Combined(0.05)
    first.update(eprocess.calibrate(4 / 5001, 0.2), 1.0)
    assert first.alarm and not witness.Combined(0.05).alarm
    # ...but not 4
    late = witness.Combined(0.05)
    late.update(eprocess.calibrate(5 / 5001, 0.2), 1.0)
    assert not late.alarm
    with pytest.raises(ConfigError):
        witness.Combined(0.05, 1.5)


def test_the_e_value_averages_to_one_over_every_relabelling() -> None:
    """Exactness: for any learned witness (here from a *changed* model) and any pooled replies,
    the mean over all within-prompt relabellings - what "same model" makes equally likely - is 1."""
    rng = random.Random(1)
    w = witness.Witness()
    w.add(draw(rng, 20, prompts=2), draw(rng, 20, prompts=2, share=0.5))
    pooled = {pid: [t for q, t in draw(rng, 8, prompts=2) if q == pid] for pid in ("p0", "p1")}
    es = []
    for a in itertools.combinations(range(8), 4):
        for b in itertools.combinations(range(8), 4):
            ref = [("p0", pooled["p0"][i]) for i in range(8) if i not in a] + \
                  [("p1", pooled["p1"][i]) for i in range(8) if i not in b]
            new = [("p0", pooled["p0"][i]) for i in a] + [("p1", pooled["p1"][i]) for i in b]
            es.append(witness.e_value(w, ref, new))
    assert len(set(np.round(es, 9))) > 10 and np.mean(es) == pytest.approx(1.0, rel=1e-9)


def test_a_ten_percent_mixture_builds_evidence_over_checks_that_one_mmd_check_misses() -> None:
    rng = random.Random(2)
    ref, new = draw(rng, 10, share=0.0), draw(rng, 10, share=0.1)
    assert mmd_test(ref, new, permutations=999, seed=0).p_value > 0.0014  # one check: no alarm
    ep, w = witness.Combined(0.05), witness.Witness()
    for t in range(1, 21):
        ref, new = draw(rng, 10, share=0.0), draw(rng, 10, share=0.1)
        p = mmd_test(ref, new, permutations=999, seed=t).p_value
        ep.update(eprocess.calibrate(p, 0.2), witness.e_value(w, ref, new))
        w.add(ref, new)
        if ep.alarm:
            break
    assert ep.alarm
