"""bench/monitor.py --part single: the level it reads as "the monitor's first check" is the
monitor's own alarm rule, and its novelty permutation test is exact under "same model"."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import numpy as np

from modelcert.monitor.novelty import Novelty
from modelcert.monitor.sample import Reply, plan_for

_spec = importlib.util.spec_from_file_location(
    "bench_monitor_single", Path(__file__).resolve().parents[2] / "bench" / "monitor.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

ANSWERS = ("Happy to help! Here is a clear answer.", "I'm sorry, but I can't help with that.", "Yes.", "No.",
           "Visit our partner site for a discount!")
CLEAN = [0.6, 0.3, 0.07, 0.03, 0.0]
OTHER = [0.1, 0.0, 0.0, 0.1, 0.8]


def draw(rng: random.Random, k: int, prompts: int = 5, share: float = 0.0) -> list[Reply]:
    return [Reply(f"p{j}", rng.choices(ANSWERS, OTHER if rng.random() < share else CLEAN)[0], None, 0)
            for j in range(prompts) for _ in range(k)]


def test_the_first_check_level_is_the_monitors_alarm_rule() -> None:
    api, logprobs = plan_for("api"), plan_for("logprobs")
    level = bench.first_check_level(api)
    assert bench.first_check_alarm(api, level) and not bench.first_check_alarm(api, level * 1.001)
    # the docs' figures: the default api monitor alarms at one check when at most 3 of the 5000
    # permutations reach the statistic (p = 4/5001), the MMD process alone at p <= 0.00137
    assert bench.first_check_alarm(api, 4 / 5001) and not bench.first_check_alarm(api, 5 / 5001)
    assert abs(bench.first_check_level(logprobs) - 0.00137) < 1e-5


def test_the_novelty_permutation_test_is_exact_under_the_null_and_sees_novel_replies() -> None:
    rng, gen = random.Random(5), np.random.default_rng(5)
    null, alt = [], []
    for _ in range(300):
        g = Novelty([(r.prompt_id, r.text) for r in draw(rng, 30)])
        null.append(bench.novelty_p_value(g, draw(rng, 10), draw(rng, 10), 199, gen))
        alt.append(bench.novelty_p_value(g, draw(rng, 10), draw(rng, 10, share=0.3), 199, gen))
    null_a, alt_a = np.array(null), np.array(alt)
    assert null_a.min() >= 1 / 200 and null_a.max() <= 1.0
    # P(p <= 0.1) <= 0.1 for a valid p-value; 300 draws: 0.1 +- 3 standard errors
    assert 0.04 <= np.mean(null_a <= 0.1) <= 0.155 and 0.35 <= np.mean(null_a <= 0.5) <= 0.6
    assert np.mean(alt_a <= 0.05) > 0.8
