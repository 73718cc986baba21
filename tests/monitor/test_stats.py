"""The monitor's statistics without a model: MMD permutation test, logprob test, e-process."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from modelcert.errors import ConfigError
from modelcert.monitor import eprocess
from modelcert.monitor.logprob_test import logprob_test, noise_floor, position_distance
from modelcert.monitor.mmd import encode, hamming_gram, mmd_test

ANSWERS = ("Happy to help! Here is a clear answer.", "I'm sorry, but I can't help with that.", "Yes.")


def sample(rng: random.Random, probs: dict[str, list[float]], k: int) -> list[tuple[str, str]]:
    return [(pid, rng.choices(ANSWERS, w)[0]) for pid, w in probs.items() for _ in range(k)]


def test_hamming_kernel_compares_characters_position_by_position() -> None:
    codes = encode(["abcd", "abxd", "ab"], 4)
    g = hamming_gram(codes, codes)
    assert g[0, 0] == 1 and g[0, 1] == 0.75 and g[0, 2] == 0.5 and g[2, 2] == 1


def test_mmd_p_values_are_valid_under_the_null_and_small_under_a_change() -> None:
    rng = random.Random(0)
    probs = {f"p{i}": [0.6, 0.3, 0.1] for i in range(6)}
    ps = [mmd_test(sample(rng, probs, 5), sample(rng, probs, 5), permutations=199, seed=i).p_value
          for i in range(300)]
    # valid: P(p <= a) <= a (checked with slack for 300 draws)
    assert sum(p <= 0.05 for p in ps) / len(ps) <= 0.05 + 0.03
    assert sum(p <= 0.2 for p in ps) / len(ps) <= 0.2 + 0.06
    changed = {pid: [0.1, 0.3, 0.6] for pid in probs}
    res = mmd_test(sample(rng, probs, 10), sample(rng, changed, 10), permutations=999, seed=1)
    assert res.p_value == pytest.approx(1 / 1000) and res.n_reference == res.n_new == 60 and res.prompts == 6


def test_mmd_only_compares_shared_prompts_and_handles_unequal_sizes() -> None:
    a = [("p1", "x"), ("p1", "y"), ("p2", "x")]
    b = [("p1", "x"), ("p3", "z")]
    res = mmd_test(a, b, permutations=50)
    assert res.prompts == 1 and res.n_reference == 2 and res.n_new == 1 and 0 < res.p_value <= 1
    with pytest.raises(ConfigError, match="share no prompt"):
        mmd_test([("p1", "x")], [("p2", "x")])


def pos(token: str, lp: float, **top: float) -> dict:
    return {"token": token, "logprob": lp, "top": {token: lp, **top}}


def test_position_distance_bounds_tokens_missing_from_the_other_top_k() -> None:
    a = pos("Hi", -0.1, Yo=-3.0)
    assert position_distance(a, pos("Hi", -0.1, Yo=-3.0)) == 0
    assert position_distance(a, pos("Hi", -0.3, Yo=-2.0)) == pytest.approx(1.0)
    # a rare sampled token outside the reference's top-k is not a disagreement
    assert position_distance(a, {"token": "zz", "logprob": -9.0, "top": {"Hi": -0.1, "Yo": -3.0}}) == 0
    # but a token the other side ranks far above its top-k floor is
    assert position_distance(a, pos("Hi", -2.0, Ok=-0.2)) == pytest.approx(2.8)


def test_a_sampled_token_below_the_top_k_does_not_lower_the_floor() -> None:
    """Both sides sampled a rare token outside their (equal) top-k at the same position: the
    same distribution, so no disagreement. The floor is the lowest top-k value; taking the
    sampled token's value as the floor made the other side's rare token a 2.3-nat mismatch
    (the excess null mismatches the logprobs bench measured)."""
    top = {" a": -0.447, "'m": -1.876, " is": -2.482, "Happy": -3.851, ".": -4.105}
    ref = {"token": "No", "logprob": -4.902, "top": top}
    new = {"token": " Here", "logprob": -7.203, "top": top}
    assert position_distance(ref, new) == 0 and position_distance(new, ref) == 0
    # with no top-k reported, the only bound on an unreported token is 0
    assert position_distance({"token": "x", "logprob": -1.0, "top": {}}, {"token": "y", "logprob": -2.0}) == 0


def test_logprob_test_counts_mismatches_against_a_binomial_null() -> None:
    ref = [("p1", [pos("Hi", -0.1, Yo=-3.0), pos("!", -0.01)]), ("p2", [pos("No", -0.5, Si=-1.0)])]
    same = [("p1", [pos("Hi", -0.1 + 1e-6, Yo=-3.0)]), ("p2", [pos("Si", -1.0, No=-0.5)])]
    r = logprob_test(ref, same, tolerance=0.02, null_rate=0.001)
    assert r.mismatches == 0 and r.p_value == 1.0
    other = [("p1", [pos("Hi", -0.9, Yo=-0.6)]), ("p2", [pos("No", -0.5, Si=-1.0)]), ("p3", [pos("x", -1.0)])]
    r = logprob_test(ref, other, tolerance=0.02, null_rate=0.001)
    assert r.mismatches == 2 and r.unmatched == 1
    assert r.p_value == pytest.approx(1 - 0.999**3 - 3 * 0.001 * 0.999**2)
    # an empty reply (end of text at once) returns nothing to compare: counted, not tested
    r = logprob_test(ref, [*other, ("p1", [])], tolerance=0.02, null_rate=0.001)
    assert r.empty == 1 and r.queries == 3 and r.mismatches == 2
    assert noise_floor(ref, same) == pytest.approx(1e-6)


def test_calibrated_e_values_have_mean_at_most_one() -> None:
    from scipy.integrate import quad

    # E[kappa p^(kappa-1)] = 1 for uniform p (an integrable singularity at 0)
    for kappa in (0.1, 0.2, 0.5):
        mean, _ = quad(lambda p, k=kappa: eprocess.calibrate(p, k) if p > 0 else 0.0, 0, 1, limit=200)
        assert mean == pytest.approx(1, abs=1e-3)
    with pytest.raises(ConfigError):
        eprocess.calibrate(0.0)


def test_e_process_false_alarms_stay_below_alpha_over_many_looks() -> None:
    rng = np.random.default_rng(0)
    periods, alarms = 2000, 0
    for _ in range(periods):
        ep = eprocess.EProcess(0.05)
        for p in rng.uniform(size=50):
            ep.update(eprocess.calibrate(float(p)))
            if ep.alarm:
                alarms += 1
                break
    assert alarms / periods <= 0.05
    assert sum(eprocess.start_weight(s) for s in range(1, 10_000)) == pytest.approx(1, abs=1e-3)


def test_one_decisive_check_alarms_and_a_late_change_is_still_caught() -> None:
    assert eprocess.run([0.0005]).alarm  # one check: 0.5 * 0.2 * 0.0005**-0.8 + 0.5 >= 20
    assert not eprocess.run([0.01]).alarm
    late = eprocess.run([0.7] * 10 + [0.0005] * 3)
    assert not any(v >= 20 for v in late.values[:10]) and late.alarm
    # a plain product would have buried it under the evidence for the null
    product = math.prod(eprocess.calibrate(p) for p in [0.7] * 10 + [0.0005] * 3)
    assert late.value > product
