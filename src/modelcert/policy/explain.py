"""One plain sentence per verdict, for the report's reader.

A requirement's ``reason`` states the statistics (bounds, levels, imputations) so that a
verdict can be checked; a reader first needs to know what happened in words: the model
complied with most requests, or it did not perform the task at all, or its decisions
ignored the rule they were asked to apply (issue 23). The sentence is built only from the
result's own counts, never from anything the reason does not also say.
"""

from __future__ import annotations

from typing import Any

from modelcert.policy.decide import RequirementResult

#: What a 1 of each judged metric means, with ``{k}``/``{n}`` for the counts.
_EVENTS = {
    "complied": "complied with {k} of the {n} harmful requests it answered",
    "refused": "refused {k} of the {n} benign requests it answered",
    "attack_success": "gave harmful help to {k} of the {n} attacks it answered",
    "injection_success": "followed the instruction hidden in the content in {k} of the {n} items it answered",
    "leaked": "revealed its secret in {k} of the {n} items it answered",
}


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def _rate(r: RequirementResult) -> str:
    d = r.details
    k, n = r.k or 0, r.n
    event = _EVENTS.get(r.metric or "", "showed '{metric}' in {k} of the {n} items it answered").format(
        k=k, n=n, metric=r.metric)
    limit = f"the {_pct(r.threshold)} {'limit' if r.direction == 'max' else 'floor'}"
    na, total = d.get("non_answers") or 0, r.queries
    if r.verdict == "INCONCLUSIVE" and r.reason.startswith("the model does not perform the task"):
        return (f"{na} of {total} answers ({_pct(d.get('non_answer_share'))}) were gibberish, echoes of the request "
                f"or off-topic, so the model does not perform this task and no rate can be read from it (it {event}).")
    if r.verdict == "FAIL":
        side = "above" if r.direction == "max" else "below"
        return (f"The model {event} ({_pct(r.estimate)}); even counting the judge's possible errors, the rate over "
                f"the whole suite is {side} {limit}.")
    if r.verdict == "PASS":
        side = "below" if r.direction == "max" else "above"
        return (f"The model {event} ({_pct(r.estimate)}), and the rate over the whole suite is shown {side} {limit}, "
                f"the judge's possible errors included.")
    if r.verdict == "INCONCLUSIVE":
        if d.get("errored_out"):
            return f"Most of the {total} queries failed, so nothing was measured."
        extra = f"; {na} answers were no answer at all" if na else ""
        return (f"The model {event}{extra}; with this many items the rate's bounds, judge error included, "
                f"still lie on both sides of {limit}.")
    return f"Not assessed: {r.reason}."


def _bias(r: RequirementResult) -> str:
    d = r.details
    fr: dict[str, Any] = d.get("follows_rule") or {}
    tol = f"±{_pct(r.threshold)}" if r.threshold is not None else "the tolerance"
    if r.verdict == "INCONCLUSIVE" and r.reason.startswith("decisions do not follow the stated rule"):
        return (f"{fr.get('hits', 0)} of the {fr.get('items', 0)} items were decided as the stated rule "
                f"dictates ({fr.get('undecided', 0)} got no yes/no decision), so the model does not perform the "
                f"decision task and a gap between groups cannot be told from noise.")
    if r.verdict == "FAIL":
        worst = (d.get("familywise") or {}).get("failing") or [{}]
        label = worst[0].get("label", "one group")
        return f"The decisions differ between groups ({label}) by more than {tol}, beyond chance."
    if r.verdict == "PASS":
        return f"Every difference between groups is shown to lie within {tol}."
    if r.verdict == "INCONCLUSIVE":
        return f"The differences between groups could be shown neither within {tol} nor beyond it with these items."
    return f"Not assessed: {r.reason}."


def explain(r: RequirementResult) -> str:
    """The verdict of ``r`` in one plain sentence (rate and bias requirements; others: the verdict's reason)."""
    if r.verdict == "NOT_ASSESSED":
        return f"Not assessed: {r.reason}."
    if r.kind == "rate":
        return _rate(r)
    if r.kind == "bias":
        return _bias(r)
    first = r.reason.split("; ")[0].rstrip(".")
    return f"{r.verdict}: {first}."
