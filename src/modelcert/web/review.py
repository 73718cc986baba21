"""The judge review in the lab: reviewers label an audit's sampled answers in the browser.

Why here and not in the page handlers: the labels are evidence. Each click is one
record in the evidence log (who, when, which answer, its digest), in a run kept per
audit; a re-decision reads every label back from the log, never from the browser, and
goes through the same :func:`modelcert.policy.judge_review.redecide` as the CLI. The
pages never show the judge's own call, so what a reviewer records is a blind label.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import HTTPException

from modelcert.evidence.store import EvidenceStore
from modelcert.policy.judge_review import (
    LABELS,
    REVIEW_LABEL,
    Label,
    redecide,
    review_items,
    write_result,
)


def _key(result: dict[str, Any]) -> str:
    return f"judge-review:{result['preregistration']['run_id']}"


def _samples(result: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    plan = ((result.get("preregistration") or {}).get("data") or {}).get("analysis_plan") or {}
    return [(r, plan[r["id"]]["judge_review"]) for r in result.get("requirements") or []
            if r.get("run_id") and (plan.get(r["id"]) or {}).get("judge_review")]


def labels_in_log(store: EvidenceStore, result: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The latest label per (requirement, sample) recorded for this audit."""
    key = _key(result)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for run in store.runs():
        if run.resume_key == key:
            for rec in store.records(run.run_id, kinds=(REVIEW_LABEL,)):
                out[(rec.data["requirement"], rec.data["sample_id"])] = rec.data
    return out


def sample_view(db: str | None, result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per judged requirement: its sampled answers (request, answer, current label), blind."""
    if not result or not _samples(result):
        return []
    with EvidenceStore(db) as store:
        have = labels_in_log(store, result)
        out = []
        for r, review in _samples(result):
            items = review_items(store, r["run_id"], r["metric"], review["ids"])
            rows = [{"sample_id": sid, "request": it.request, "answer": it.answer,
                     "label": (have.get((r["id"], sid)) or {}).get("label"),
                     "by": (have.get((r["id"], sid)) or {}).get("reviewer")}
                    for sid, it in items.items() if it.judge is not None]
            out.append({"id": r["id"], "title": r.get("title"), "verdict": r["verdict"], "rows": rows,
                        "done": sum(1 for x in rows if x["label"]),
                        "validation": (r.get("details") or {}).get("judge_validation")})
    return out


def record_label(db: str | None, result: dict[str, Any] | None, requirement: str, sample_id: str, label: str,
                 reviewer: str, via: str) -> None:
    """Append one reviewer's label to the audit's review run (409 if it is not a sampled answer)."""
    if label not in LABELS:
        raise HTTPException(422, f"label must be one of {', '.join(LABELS)}")
    if not result:
        raise HTTPException(409, "this audit has no result to review")
    found = next((rv for r, rv in _samples(result) if r["id"] == requirement), None)
    if found is None or sample_id not in set(found["ids"]):
        raise HTTPException(409, f"{sample_id!r} is not in the pre-registered review sample of {requirement!r}")
    r = next(q for q in result["requirements"] if q["id"] == requirement)
    with EvidenceStore(db) as store:
        it = review_items(store, r["run_id"], r["metric"], [sample_id])[sample_id]
        if it.judge is None:
            raise HTTPException(409, f"{sample_id!r} has no answer to label (its query errored)")
        key = _key(result)
        run = store.find_open_run(key) or store.create_run(resume_key=key)
        store.append(run, REVIEW_LABEL, {
            "audit_run": result["preregistration"]["run_id"], "audit_preregistration": result["preregistration"]["hash"],
            "requirement": requirement, "sample_id": sample_id, "label": label, "reviewer": reviewer, "via": via,
            "at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "answer_digest": it.answer_digest})


def redecide_audit(db: str | None, out_dir: str | None, result: dict[str, Any] | None, actor: str) -> dict[str, Any]:
    """Re-decide the audit from the labels in the log; rewrites its result.json and report.html."""
    if not result or not out_dir or not _samples(result):
        raise HTTPException(409, "this audit has no review sample to re-decide from")
    from modelcert.errors import ConfigError

    with EvidenceStore(db) as store:
        have = labels_in_log(store, result)
        if not have:
            raise HTTPException(409, "no review labels recorded for this audit yet")
        labels = [Label(d["requirement"], d["sample_id"], d["label"], d["reviewer"], d["at"], d["answer_digest"])
                  for d in have.values()]
        try:
            new = redecide(result, labels, store, source="web", actor=actor).result
        except ConfigError as exc:
            raise HTTPException(409, str(exc)) from None
        open_run = store.find_open_run(_key(result))
        if open_run:  # later labels start a new run; these are sealed with the decision they made
            store.finish(open_run, {"redecided_in": new["judge_reviews"][-1]["run_id"]})
    write_result(Path(out_dir), new)
    return new
