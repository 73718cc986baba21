"""Verdicts of ``kind: consistency`` requirements and the per-framing view of rate requirements.

Kept apart from ``decide.py``/``audit.py``: the audit calls these two functions with the
records of a run, and they fill the requirement's result. The statistics live in
:mod:`modelcert.checks.integrity_analysis`; this module only maps them onto a verdict row.
"""

from __future__ import annotations

import math
from typing import Any

from modelcert.checks.disguise import by_framing
from modelcert.checks.integrity_analysis import analyze_samples
from modelcert.errors import ConfigError
from modelcert.policy.decide import RequirementResult, metric_value
from modelcert.policy.schema import ConsistencyRequirement


def decide_consistency(res: RequirementResult, req: ConsistencyRequirement, records: list[Any],
                       target: Any = None) -> RequirementResult:
    """Fill ``res`` from the run's sample records (paired gap, per-family gaps, verdict).

    At the ``weights`` tier of a local checkpoint, the context-consistency requirement also
    reports the evaluation-awareness probe (``details.probe``); it never changes the verdict.
    """
    errors = sum(1 for r in records if not r.ok)
    res.queries, res.errors = len(records), errors
    res.method = ("paired gap (cluster-robust CI, unresolved pairs at their worst case), exact McNemar, "
                  "BH over families, TOST")
    what = "accuracy" if req.metric == "correct" else req.metric
    try:
        # a failed record counts as unusable on its side of the pair, whatever its data holds
        data = [r.data if r.ok else {**r.data, "error": r.data.get("error") or {"message": "failed"}} for r in records]
        result = analyze_samples(data, req.metric, tolerance=req.tolerance, alpha=req.alpha,
                                 fdr=req.fdr, what=what)
    except ConfigError as exc:
        res.verdict, res.reason = "INCONCLUSIVE", f"no paired analysis: {exc}"
        return res
    o = result.overall
    res.verdict, res.reason = result.verdict, result.reason
    res.n = o.n  # every pair, resolved or not: all are inside the bound
    if math.isfinite(o.estimate):
        res.estimate, res.lower, res.upper = o.estimate, o.lower, o.upper
        res.bound = o.upper if o.estimate >= 0 else o.lower
    res.details["consistency"] = result.to_dict()
    if target is not None and req.check == "integrity.context_consistency" and getattr(target, "access", None) == "weights" \
            and getattr(target, "path", None) is not None:
        from modelcert.analyzers.eval_probe import eval_probe

        res.details["probe"] = eval_probe(target.path, n_per_lang=10).to_dict()
    return res


def framing_details(records: list[Any], metric: str) -> dict[str, Any]:
    """``{"by_framing": {family: rate}}`` when the run wrapped items in framings, else ``{}``."""
    rows = []
    for r in records:
        v = metric_value(r.scores, metric) if r.ok else None
        if v is not None:
            rows.append((r.data.get("metadata") or {}, v))
    table = by_framing(rows)
    return {"by_framing": table} if table else {}
