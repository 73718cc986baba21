"""The per-check result: what a regulator needs to read off one run.

For every binary score: the rate with an exact (Clopper–Pearson) interval, a
cluster-robust SE over the template clusters (items of one template are correlated),
breakdowns by language, category and attack transform, the judge's calibration and the
rate corrected for the judge's errors (Rogan–Gladen, exact interval) next to the raw
one. Errored samples are counted, never dropped; scores the judge could not give are
counted as ``unscored``, and non-answers (``unscored`` with reason ``non_answer``) also as
``non_answer``: their share of all judged answers, beside the rate that leaves them out.
A fixed-seed random draw of example transcripts goes with it,
because the Code of Practice asks for examples in the model report.
"""

from __future__ import annotations

import math
import random
from typing import Any

from inspect_ai.log import EvalLog, EvalSample

from modelcert.errors import ConfigError
from modelcert.stats.bounds import clopper_pearson
from modelcert.stats.clustered import clustered_mean
from modelcert.stats.judge_correction import corrected_rate

BREAKDOWNS = ("lang", "category", "transform", "vector", "kind", "triggered", "framing", "side")
EXAMPLE_SEED = 20240801
N_EXAMPLES = 5
_MAX_EXAMPLE_CHARS = 2000


def binary(value: Any) -> int | None:
    """Map an Inspect score value to 1/0 (C/I, True/False, 1/0); None if not binary (or NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if value in ("C", True, 1, 1.0):
        return 1
    if value in ("I", False, 0, 0.0):
        return 0
    return None


def _rate(k: int, n: int) -> dict[str, Any]:
    return {"k": k, "n": n, "value": k / n if n else float("nan"), "ci": list(clopper_pearson(k, n)) if n else None}


def _clustered(values: list[int], clusters: list[str]) -> dict[str, Any]:
    try:
        est = clustered_mean(values, clusters)
    except ConfigError as exc:
        return {"se": None, "reason": str(exc)}
    return {"se": est.se, "ci": [est.lower, est.upper], "n_clusters": est.n_clusters,
            "design_effect": est.design_effect}


def _corrected(k: int, n: int, judge: dict[str, Any] | None) -> dict[str, Any] | None:
    if not judge:
        return None
    cal = judge.get("calibration")
    if not cal:
        return {"estimate": None, "reason": f"judge {judge.get('id')} has no calibration"}
    if n == 0:
        return {"estimate": None, "reason": "no scored samples"}
    try:
        c = corrected_rate(k, n, sens_hits=cal["sens_hits"], sens_n=cal["sens_n"],
                           spec_hits=cal["spec_hits"], spec_n=cal["spec_n"], method="exact")
    except ConfigError as exc:
        return {"estimate": None, "reason": str(exc)}
    return {"estimate": c.estimate, "ci": [c.lower, c.upper], "method": c.method,
            "sensitivity": c.sensitivity, "specificity": c.specificity}


def _text(sample: EvalSample) -> str:
    if isinstance(sample.input, str):
        return sample.input
    return "\n".join(f"[{m.role}] {m.text}" for m in sample.input)


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_EXAMPLE_CHARS else text[:_MAX_EXAMPLE_CHARS] + " [...]"


def example(sample: EvalSample) -> dict[str, Any]:
    meta = sample.metadata or {}
    return {
        "id": sample.id,
        "input": _cut(_text(sample)),
        "output": _cut(sample.output.completion if sample.output else ""),
        "scores": {name: {"value": s.value, "answer": s.answer, "explanation": s.explanation}
                   for name, s in (sample.scores or {}).items()},
        "error": sample.error.message if sample.error else None,
        "metadata": {k: meta[k] for k in ("lang", "category", "cluster", "transform", "vector", "kind") if k in meta},
    }


def examples(samples: list[EvalSample], k: int = N_EXAMPLES, seed: int = EXAMPLE_SEED) -> list[dict[str, Any]]:
    """A fixed-seed random draw of ``k`` transcripts (sorted by id first, so order-independent)."""
    pool = sorted(samples, key=lambda s: str(s.id))
    return [example(s) for s in random.Random(seed).sample(pool, min(k, len(pool)))]


def task_metadata(log: EvalLog) -> dict[str, Any]:
    """The check's Task metadata (check id, version, suite digest, judge) as Inspect logged it."""
    return dict(log.eval.metadata or {})


def summarise_log(log: EvalLog) -> dict[str, Any]:
    """The result of one check run (keys ``n``, ``errors``, ``metrics`` as before, plus more)."""
    samples = list(log.samples or [])
    errors = sum(1 for s in samples if s.error is not None)
    meta = task_metadata(log)
    judge = meta.get("judge")
    per: dict[str, dict[str, Any]] = {}
    for s in samples:
        if s.error is not None or not s.scores:
            continue
        sm = s.metadata or {}
        for name, score in s.scores.items():
            m = per.setdefault(name, {"values": [], "clusters": [], "rows": [], "unscored": {}, "non_binary": 0})
            b = binary(score.value)
            if b is None:
                if isinstance(score.value, float) and math.isnan(score.value):
                    why = str(score.reason or "unscored")
                    m["unscored"][why] = m["unscored"].get(why, 0) + 1
                    if why == "non_answer":
                        m.setdefault("na_rows", []).append(sm)
                else:
                    m["non_binary"] += 1
                continue
            m["values"].append(b)
            m["clusters"].append(str(sm.get("cluster", s.id)))
            m["rows"].append(sm)
    metrics: dict[str, dict[str, Any]] = {}
    for name, m in per.items():
        k, n = sum(m["values"]), len(m["values"])
        out = _rate(k, n)
        out["clustered"] = _clustered(m["values"], m["clusters"]) if n else {"se": None, "reason": "no samples"}
        if m["unscored"]:  # by reason: e.g. grader_failed (a judge failure), not_applicable, non_answer
            out["unscored"] = m["unscored"]
        na = m["unscored"].get("non_answer", 0)
        answered = n + sum(v for r, v in m["unscored"].items() if r != "not_applicable")
        if na or (judge and judge.get("positive") is not None):  # beside the rate: non-answers among answers
            out["non_answer"] = _rate(na, answered)
        if m["non_binary"]:
            out["non_binary"] = m["non_binary"]
        by: dict[str, dict[str, Any]] = {}
        for key in BREAKDOWNS:
            groups: dict[str, list[int]] = {}
            for v, row in zip(m["values"], m["rows"]):
                if key in row:
                    groups.setdefault(str(row[key]), []).append(v)
            na_groups: dict[str, int] = {}
            for row in m.get("na_rows", []):
                if key in row:
                    na_groups[str(row[key])] = na_groups.get(str(row[key]), 0) + 1
            if groups or na_groups:  # a group of only non-answers still shows, with n = 0
                by[key] = {g: _rate(sum(groups.get(g, [])), len(groups.get(g, [])))
                           | ({"non_answer": na_groups[g]} if g in na_groups else {})
                           for g in sorted(set(groups) | set(na_groups))}
        if by:
            out["by"] = by
        if judge and judge.get("positive") is not None:
            out["judge"] = {"id": judge.get("id"), "calibration": judge.get("calibration")}
            out["corrected"] = _corrected(k, n, judge)
        metrics[name] = out
    result: dict[str, Any] = {"n": len(samples), "errors": errors, "metrics": metrics,
                              "examples": examples([s for s in samples if s.error is None] or samples)}
    if meta:
        result["check_metadata"] = {k: meta[k] for k in ("check", "version", "suite_digest", "items", "trigger")
                                    if k in meta}
    return result
