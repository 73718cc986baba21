"""The per-check result, computed from Inspect's own log objects with known counts."""

from __future__ import annotations

import math

from inspect_ai.log import EvalConfig, EvalDataset, EvalError, EvalLog, EvalSample, EvalSpec
from inspect_ai.model import ModelOutput
from inspect_ai.scorer import Score

from modelcert.checks.results import N_EXAMPLES, summarise_log
from modelcert.judges.calibration import judge_record
from modelcert.stats.judge_correction import corrected_rate


def _sample(i: int, value: float | None, *, cluster: str, lang: str, error: bool = False) -> EvalSample:
    scores = None
    if value is not None:
        scores = {"complied": Score(value=value) if not math.isnan(value) else Score.unscored(reason="grader_failed")}
    return EvalSample(
        id=f"s{i:03d}", epoch=1, input=f"prompt {i}", target="refuse",
        output=ModelOutput.from_content("local/x", f"answer {i}"), scores=scores,
        metadata={"cluster": cluster, "lang": lang, "category": "cyber" if i % 2 else "fraud"},
        error=EvalError(message="timeout", traceback="", traceback_ansi="") if error else None,
    )


def _log(samples: list[EvalSample], metadata: dict | None = None) -> EvalLog:
    spec = EvalSpec(created="2026-01-01T00:00:00+00:00", task="t", dataset=EvalDataset(), model="local/x",
                    config=EvalConfig(), metadata=metadata)
    return EvalLog(eval=spec, samples=samples)


def _population() -> list[EvalSample]:
    # 4 clusters of 10: cluster c0 all complied, the others 2/10 each -> 16/40
    out = []
    for c in range(4):
        for j in range(10):
            i = 10 * c + j
            out.append(_sample(i, 1.0 if (c == 0 or j < 2) else 0.0, cluster=f"c{c}", lang="en" if c < 2 else "de"))
    out.append(_sample(90, None, cluster="c0", lang="en", error=True))  # errored: counted, never scored
    out.append(_sample(91, float("nan"), cluster="c1", lang="en"))  # judge could not decide
    return out


def test_rate_exact_ci_clustered_se_breakdown_and_errors() -> None:
    judge = judge_record(None, positive="complied", context="harmful")
    r = summarise_log(_log(_population(), {"check": "safety.harmful", "version": "1", "suite_digest": "d",
                                           "judge": judge}))
    m = r["metrics"]["complied"]
    assert (r["n"], r["errors"]) == (42, 1)
    assert (m["k"], m["n"], m["value"]) == (16, 40, 0.4)
    assert m["ci"][0] < 0.4 < m["ci"][1]
    assert m["unscored"] == {"grader_failed": 1}
    naive = math.sqrt(0.4 * 0.6 / 39)
    assert m["clustered"]["n_clusters"] == 4 and m["clustered"]["se"] > naive  # correlated clusters widen it
    assert m["by"]["lang"]["en"]["k"] == 12 and m["by"]["lang"]["de"]["k"] == 4
    assert r["check_metadata"]["check"] == "safety.harmful"


def test_judge_corrected_rate_sits_next_to_the_raw_one() -> None:
    judge = {"id": "model:x", "positive": "complied",
             "calibration": {"sens_hits": 45, "sens_n": 50, "spec_hits": 40, "spec_n": 50}}
    m = summarise_log(_log(_population(), {"judge": judge}))["metrics"]["complied"]
    want = corrected_rate(16, 40, sens_hits=45, sens_n=50, spec_hits=40, spec_n=50)
    assert m["corrected"]["estimate"] == want.estimate != m["value"]
    assert m["corrected"]["ci"] == [want.lower, want.upper]
    uncal = summarise_log(_log(_population(), {"judge": {"id": "model:x", "positive": "complied",
                                                         "calibration": None}}))
    assert uncal["metrics"]["complied"]["corrected"]["estimate"] is None


def test_examples_are_a_fixed_seed_draw_independent_of_order() -> None:
    pop = _population()
    a = summarise_log(_log(pop))["examples"]
    b = summarise_log(_log(list(reversed(pop))))["examples"]
    assert len(a) == N_EXAMPLES >= 5 and a == b
    assert all(e["error"] is None and e["output"].startswith("answer") for e in a)
    assert len({e["id"] for e in a}) == N_EXAMPLES


def test_one_cluster_gives_no_clustered_se_but_says_why() -> None:
    samples = [_sample(i, float(i % 2), cluster="only", lang="en") for i in range(6)]
    m = summarise_log(_log(samples))["metrics"]["complied"]
    assert m["clustered"]["se"] is None and "2 clusters" in m["clustered"]["reason"]
    assert "corrected" not in m  # no judge recorded -> no correction claimed
