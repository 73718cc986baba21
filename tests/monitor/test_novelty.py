"""The one-class novelty e-value: learned from the learning sample only, exact under the
null at every check, linear in a routed share, and a third process in the average."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from modelcert.errors import ConfigError
from modelcert.monitor import eprocess, novelty, witness
from modelcert.monitor.sample import plan_for

ANSWERS = ("Happy to help! Here is a clear answer.", "I'm sorry, but I can't help with that.", "Yes.", "No.",
           "Visit our partner site for a discount!")
CLEAN = [0.6, 0.3, 0.07, 0.03, 0.0]
OTHER = [0.1, 0.0, 0.0, 0.1, 0.8]


def draw(rng: random.Random, k: int, prompts: int = 5, share: float = 0.0) -> list[tuple[str, str]]:
    return [(f"p{j}", rng.choices(ANSWERS, OTHER if rng.random() < share else CLEAN)[0])
            for j in range(prompts) for _ in range(k)]


def test_the_score_is_the_surprisal_under_the_learning_sample_only() -> None:
    g = novelty.Novelty([("p0", "Yes.")] * 9 + [("p0", "No.")])
    assert g.score("p0", "Yes.") < g.score("p0", "No.") < g.score("p0", "never seen")
    assert g.score("p1", "anything") == 0.0  # no learning data for the prompt: no bet


def test_the_e_value_averages_to_one_over_every_relabelling() -> None:
    rng = random.Random(3)
    g = novelty.Novelty(draw(rng, 30, prompts=2))
    pooled = {pid: [t for q, t in draw(rng, 8, prompts=2, share=0.5) if q == pid] for pid in ("p0", "p1")}
    es = []
    for a in itertools.combinations(range(8), 4):
        for b in itertools.combinations(range(8), 4):
            ref = [("p0", pooled["p0"][i]) for i in range(8) if i not in a] + \
                  [("p1", pooled["p1"][i]) for i in range(8) if i not in b]
            new = [("p0", pooled["p0"][i]) for i in a] + [("p1", pooled["p1"][i]) for i in b]
            es.append(witness.e_value(g, ref, new, lambdas=novelty.LAMBDAS))
    assert len(set(np.round(es, 9))) > 10 and np.mean(es) == pytest.approx(1.0, rel=1e-9)


def test_routed_replies_the_clean_model_never_gives_raise_the_first_check() -> None:
    rng = random.Random(4)
    g = novelty.Novelty(draw(rng, 100, prompts=25))
    routed = [witness.e_value(g, draw(rng, 10, 25), draw(rng, 10, 25, share=0.1), lambdas=novelty.LAMBDAS)
              for _ in range(20)]
    same = [witness.e_value(g, draw(rng, 10, 25), draw(rng, 10, 25), lambdas=novelty.LAMBDAS) for _ in range(20)]
    assert np.median(routed) > 3 and np.median(same) < 1.5


def test_the_plan_and_the_three_process_average() -> None:
    plan = plan_for("api", novelty=True)
    assert plan.novelty and plan.novelty_weight == 0.25 and plan.learn_per_prompt == 100
    assert plan_for("api").novelty is False  # opt-in: the default plan is unchanged
    with pytest.raises(ConfigError):
        plan_for("logprobs", novelty=True)
    with pytest.raises(ConfigError):
        plan_for("api", novelty=True, witness_weight=0.5, novelty_weight=0.5)
    three = witness.Combined(0.05, 0.25, 0.25)
    parts = [eprocess.EProcess(0.05) for _ in range(3)]
    for e in ((0.5, 1.0, 2.0), (2.0, 3.0, 0.5), (0.8, 6.0, 9.0)):
        want = sum(w * p.update(x) for w, p, x in zip((0.5, 0.25, 0.25), parts, e, strict=True))
        assert three.update(*e) == pytest.approx(want)
    assert witness.Combined(0.05, 0.25).update(2.0, 3.0, 100.0) == pytest.approx(
        witness.Combined(0.05, 0.25).update(2.0, 3.0))  # no novelty weight: its e-values are ignored
