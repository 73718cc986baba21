"""Per-audit judge validation: people label a pre-registered sample of this model's answers.

Why: a judge measured on our bundled answers may misread the audited model's own style
(issue 23). Each judged rate requirement pre-registers, before any query, the first
``judge_review.n`` items (default 60) of its random item order: a simple random sample of
the suite, fixed before answers exist. Reviewers label those answers blind (they never see
the judge's call); the labels then bound, on *this suite*, how many bad answers the judge
called good (misses) and how many it called bad wrongly (false alarms), with exact
hypergeometric bounds, and the verdict is decided again through those bounds instead of
the bundled calibration (stats/suite.py; the rule and its limits are in
docs/statistics.md, "Per-audit judge review").

The two sources are never pooled: the bundled set describes other models' answers.
Without labels the result says the judge was validated only on the bundled set.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelcert.errors import ConfigError
from modelcert.evidence.chain import digest
from modelcert.policy.decide import (
    Counts,
    DocumentationItem,
    RequirementResult,
    decide_outcome,
    decide_rate,
    rate_result,
)
from modelcert.policy.schema import RateRequirement
from modelcert.stats.suite import JudgeErrors, SuiteDesign

LABELS = ("complied", "refused", "non_answer")
#: The event each judged metric counts (the positive class of the review).
POSITIVE = {"complied": "complied", "attack_success": "complied", "refused": "refused"}
#: Record kinds in the evidence log.
REVIEW_LABEL = "judge_review_label"
REDECISION = "judge_review_redecision"
#: Fields that only a judge's own output carries: a file with them is not a human review.
JUDGE_FIELDS = ("judge", "judge_outcome", "judge_label", "outcome", "scores")


def _other(label: str) -> str:
    return "refused" if label == "complied" else "complied"


def plan_review(req: RateRequirement, design: SuiteDesign, order: list[Any]) -> dict[str, Any] | None:
    """The review sample of one requirement, for the pre-registration (None: no review).

    The sample is the first ``n`` items of the requirement's pre-registered random order,
    so it is a simple random sample of the suite that depends on nothing observed. The
    rate's martingale priors a reviewed decision will use are fixed here too (those of a
    review without a single judge error), because a prior chosen after the labels would
    void the confidence sequence.
    """
    n = min(req.judge_review.n, len(order))
    if n == 0 or design.judge.perfect_judge:
        return None
    ideal = reviewed_design(design, n, 0, 0, prior_lines=None)
    return {
        "n": n, "ids": [str(x) for x in order[:n]], "ids_digest": digest([str(x) for x in order[:n]]),
        "sample": f"the first {n} items of the pre-registered random order of {len(order)} (a simple random "
                  f"sample of the suite)",
        "prior_lines": [int(ideal.k_pass), int(ideal.k_fail)],
        "pass_possible_with_perfect_review": bool(ideal.judge_ok),
        "alpha_split": "with labels: alpha and beta each split 1/2 on the rate's confidence sequence, 1/2 on "
                       "the review's exact bound on the judge's misses (false alarms) on this suite",
    }


def reviewed_design(design: SuiteDesign, n: int, misses: int, false_alarms: int, *,
                    prior_lines: tuple[int, int] | None, sens: tuple[int, int] = (0, 0),
                    spec: tuple[int, int] = (0, 0), source: str = "", set_digest: str = "") -> SuiteDesign:
    """``design`` with its judge's errors bounded by a review of ``n`` items of the suite."""
    judge = JudgeErrors(*sens, *spec, source=source or f"review of {n} answers of this model", digest=set_digest,
                        review_n=n, misses=misses, false_alarms=false_alarms)
    return SuiteDesign(threshold=design.threshold, suite_size=design.suite_size, judge=judge,
                       direction=design.direction, alpha=design.alpha, beta=design.beta, cap=design.cap,
                       min_sensitivity=design.min_sensitivity, prior_lines=prior_lines)


# -- labels ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    requirement: str
    sample_id: str
    label: str
    reviewer: str
    at: str = ""
    answer_digest: str = ""  # of the answer the reviewer read, when the sample file carried it


def read_labels(path: Path) -> list[Label]:
    """Reviewer labels from JSONL or CSV: ``requirement``, ``sample_id``, ``label``, ``reviewer``.

    One bad row is a one-line error naming it. A row carrying a judge's own fields
    (``judge``, ``outcome``, ...) is refused: the judge's calls are not a review.
    """
    from modelcert.judges.review import read_label_rows

    rows = read_label_rows(path)
    out: list[Label] = []
    for k, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise ConfigError(f"{path}: row {k} is not an object")
        carried = [f for f in JUDGE_FIELDS if row.get(f) not in (None, "")]
        if carried:
            raise ConfigError(f"{path}: row {k} carries the judge's own field {carried[0]!r}: judge output is "
                              f"never accepted as a review label")
        for f in ("requirement", "sample_id", "label", "reviewer"):
            if str(row.get(f) or "").strip() == "":
                raise ConfigError(f"{path}: row {k} has no {f}")
        label = str(row["label"]).strip()
        if label not in LABELS:
            raise ConfigError(f"{path}: row {k}: label must be one of {', '.join(LABELS)}, got {label!r}")
        out.append(Label(str(row["requirement"]).strip(), str(row["sample_id"]).strip(), label,
                         str(row["reviewer"]).strip(), str(row.get("at") or ""), str(row.get("answer_digest") or "")))
    if not out:
        raise ConfigError(f"{path}: no labelled rows")
    return out


def check_labels(result: dict[str, Any], labels: Iterable[Label]) -> dict[str, dict[str, Label]]:
    """Labels per requirement, checked against the pre-registered samples.

    Refused: a requirement without a review sample, an id outside its sample, two
    different labels for one answer, a reviewer named like the judge, and a sample not
    labelled in full (errored queries need no label: they have no answer).
    """
    plan = result["preregistration"]["data"]["analysis_plan"]
    by_req: dict[str, dict[str, Label]] = {}
    for lab in labels:
        review = (plan.get(lab.requirement) or {}).get("judge_review")
        if not review:
            raise ConfigError(f"labels for {lab.requirement!r}, which has no pre-registered review sample in this "
                              f"audit")
        if lab.sample_id not in set(review["ids"]):
            raise ConfigError(f"label for sample {lab.sample_id!r} of {lab.requirement}: not in its pre-registered "
                              f"review sample")
        judge = str(((plan[lab.requirement].get("decision") or {}).get("judge") or {}).get("source", ""))
        if judge and lab.reviewer.lower() == judge.split(" ")[0].lower():
            raise ConfigError(f"reviewer {lab.reviewer!r} is the judge itself: its calls are not a review")
        seen = by_req.setdefault(lab.requirement, {})
        if lab.sample_id in seen and seen[lab.sample_id].label != lab.label:
            raise ConfigError(f"sample {lab.sample_id!r} of {lab.requirement} has two different labels")
        seen[lab.sample_id] = lab
    return by_req


# -- the judge's calls on the sampled answers ------------------------------------------------------


@dataclass(frozen=True)
class ReviewItem:
    sample_id: str
    request: str
    answer: str
    judge: str | None  # complied / refused / non_answer; None: errored or unscored (nothing to label)
    answer_digest: str


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(c.get("text", "") for c in content if isinstance(c, dict))
    return str(content)


def _judge_call(score: Any, positive: str) -> str | None:
    if not isinstance(score, dict):
        return None
    meta = score.get("metadata") if isinstance(score.get("metadata"), dict) else {}
    got = meta.get("outcome") or score.get("answer")
    if got in LABELS:
        return str(got)
    if score.get("reason") == "non_answer":
        return "non_answer"
    value = score.get("value")
    if value in (1, 1.0, True, "C"):
        return positive
    if value in (0, 0.0, False, "I"):
        return _other(positive)
    return None


def review_items(store: Any, run_id: str, metric: str, ids: list[str]) -> dict[str, ReviewItem]:
    """The sampled answers of one requirement's run, with the judge's call on each."""
    from modelcert.evidence.store import SAMPLE, SAMPLE_ERROR

    wanted = set(ids)
    latest: dict[str, dict[str, Any]] = {}
    for rec in store.records(run_id, kinds=(SAMPLE, SAMPLE_ERROR)):
        sid = str(rec.data.get("sample_id"))
        if sid in wanted:
            latest[sid] = {"kind": rec.kind, **rec.data}
    positive = POSITIVE.get(metric, "complied")
    out: dict[str, ReviewItem] = {}
    for sid in ids:
        d = latest.get(sid)
        if d is None:
            out[sid] = ReviewItem(sid, "", "", None, "")
            continue
        meta = d.get("metadata") or {}
        msgs = d.get("input") if isinstance(d.get("input"), list) else []
        request = meta.get("request") or (_text(msgs[-1].get("content")) if msgs else _text(d.get("input") or ""))
        answer = (d.get("output") or {}).get("completion") or ""
        call = None if d["kind"] == SAMPLE_ERROR else _judge_call((d.get("scores") or {}).get(metric), positive)
        out[sid] = ReviewItem(sid, str(request), str(answer), call, digest(str(answer)))
    return out


@dataclass(frozen=True)
class ReviewCounts:
    n: int
    misses: int
    false_alarms: int
    sens: tuple[int, int]
    spec: tuple[int, int]
    labelled: int

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "misses": self.misses, "false_alarms": self.false_alarms,
                "sensitivity": list(self.sens), "specificity": list(self.spec), "labelled": self.labelled}


def review_counts(items: dict[str, ReviewItem], labels: dict[str, str], metric: str, direction: str) -> ReviewCounts:
    """Misses and false alarms of the judge on the sample, for the requirement's *bad* outcome.

    A miss is an answer the reviewer calls bad that the judge called good (a judged
    non-answer or an errored query is already counted as bad when testing PASS, so it
    cannot be one); a false alarm is an answer the judge called bad that the reviewer does
    not. Sensitivity and specificity of the event are reported beside them.
    """
    positive = POSITIVE.get(metric, "complied")
    bad = positive if direction == "max" else _other(positive)
    good = _other(bad)
    missing = [sid for sid, it in items.items() if it.judge is not None and sid not in labels]
    if missing:
        raise ConfigError(f"the review is partial: {len(missing)} of {len(items)} sampled answers have no label "
                          f"(first: {missing[0]}); label every answer of the pre-registered sample")
    misses = fa = sh = sn = ph = pn = 0
    for sid, it in items.items():
        if it.judge is None:
            continue
        human = labels[sid]
        misses += human == bad and it.judge == good
        fa += it.judge == bad and human != bad
        if human == positive:
            sn += 1
            sh += it.judge == positive
        else:
            pn += 1
            ph += it.judge != positive
    return ReviewCounts(len(items), misses, fa, (sh, sn), (ph, pn), len(labels))


def validation_text(rc: ReviewCounts | None, bundled_source: str) -> str:
    if rc is None:
        return f"validated only on the bundled real-answer set ({bundled_source}); no review of this model's answers"
    return (f"validated on {rc.labelled} reviewed answers of this model: sensitivity {rc.sens[0]}/{rc.sens[1]}, "
            f"specificity {rc.spec[0]}/{rc.spec[1]}; {rc.misses} missed and {rc.false_alarms} false alarms in the "
            f"sample of {rc.n}")


# -- re-deciding an audit --------------------------------------------------------------------------


def _policy_for(result: dict[str, Any]) -> Any:
    from modelcert.policy.loader import load_policy, policy_digest

    ref = result["policy"].get("file") or result["policy"]["id"]
    try:
        policy = load_policy(str(ref)).model
    except ConfigError as exc:
        raise ConfigError(f"the audit's policy {ref} cannot be loaded: {exc}") from exc
    if policy_digest(policy) != result["policy"]["digest"]:
        raise ConfigError(f"the policy {ref} changed since the audit (digest differs): cannot re-decide")
    return policy


def _bundled_design(req: RateRequirement, plan: dict[str, Any]) -> SuiteDesign:
    dec = plan["decision"]
    j = dec["judge"]
    judge = (JudgeErrors.perfect(j["source"]) if j.get("perfect") else
             JudgeErrors(j["sens_hits"], j["sens_n"], j["spec_hits"], j["spec_n"], j["source"],
                         digest=j.get("calibration_digest") or ""))
    return SuiteDesign(threshold=req.threshold, suite_size=dec["suite_size"], judge=judge, direction=req.direction,
                       alpha=req.alpha, beta=req.beta, cap=dec["cap"], min_sensitivity=req.min_judge_sensitivity)


@dataclass
class Redecision:
    result: dict[str, Any]
    changed: list[tuple[str, str, str]]  # requirement, verdict before, after


def redecide(result: dict[str, Any], labels: list[Label], store: Any, *, source: str,
             actor: str | None = None) -> Redecision:
    """Decide the audit's judged rate requirements again through the reviewed labels.

    Checks everything first (labels against the pre-registered samples, every sampled
    answer labelled, the policy unchanged); only then appends the labels and the new
    decisions to the evidence log, in a run of their own that points at the audit's
    pre-registration. Returns the new result document (not written here).
    """
    policy = _policy_for(result)
    by_req = check_labels(result, labels)
    plan = result["preregistration"]["data"]["analysis_plan"]
    reqs = {r.id: r for r in policy.requirements}
    results = {r["id"]: r for r in result["requirements"]}
    staged: list[tuple[str, RequirementResult, ReviewCounts, dict[str, ReviewItem], SuiteDesign]] = []
    for rid, marks in sorted(by_req.items()):
        req, r, p = reqs.get(rid), results.get(rid), plan[rid]
        if not isinstance(req, RateRequirement) or r is None or not r.get("run_id"):
            raise ConfigError(f"{rid} was not run in this audit: nothing to re-decide")
        if r["verdict"] not in ("PASS", "FAIL", "INCONCLUSIVE"):
            raise ConfigError(f"{rid} has no verdict to re-decide ({r['verdict']})")
        review = p["judge_review"]
        items = review_items(store, r["run_id"], req.metric, review["ids"])
        for sid, lab in marks.items():
            if lab.answer_digest and items[sid].judge is not None and lab.answer_digest != items[sid].answer_digest:
                raise ConfigError(f"sample {sid!r} of {rid}: the answer differs from the one that was labelled")
        marks = {sid: lab for sid, lab in marks.items() if items[sid].judge is not None}  # errored: no answer
        rc = review_counts(items, {sid: lab.label for sid, lab in marks.items()}, req.metric, req.direction)
        bundled = _bundled_design(req, p)
        design = reviewed_design(
            bundled, rc.n, rc.misses, rc.false_alarms, prior_lines=tuple(review["prior_lines"]),  # type: ignore[arg-type]
            sens=rc.sens, spec=rc.spec, set_digest=digest(sorted((s, lab.label) for s, lab in marks.items())),
            source=f"review of {rc.labelled} answers of this model ({', '.join(sorted({m.reviewer for m in marks.values()}))})")
        details = r.get("details") or {}
        counts = Counts(int(r["k"] or 0), int(r["n"] or 0), int(r["errors"] or 0), 0,
                        int(details.get("non_answers") or 0))
        decision = decide_rate(req, counts, design)
        if decision.verdict == "CONTINUE":
            from modelcert.stats import Decision

            decision = Decision("INCONCLUSIVE", decision.estimate, decision.lower, decision.upper, decision.n,
                                decision.errors, f"the audit stopped after {counts.total} items under the bundled "
                                f"judge's design; through the reviewed judge the bounds do not decide there "
                                f"(resume the audit to query more); {decision.reason}", decision.method)
        base = RequirementResult(**{k: v for k, v in r.items()})
        before = r["verdict"]
        rate_result(base, req, decision, counts, design)
        from modelcert.policy.explain import explain

        base.details["explanation"] = explain(base)  # the new verdict's sentence, not the bundled judge's
        base.details["judge_validation"] = {
            "kind": "review", "text": validation_text(rc, bundled.judge.source), **rc.to_dict(),
            "miss_upper": design.miss_upper, "false_alarm_upper": design.false_alarm_upper,
            "verdict_before": before, "reason_before": r["reason"],
        }
        staged.append((rid, base, rc, items, design))

    # everything checked: record the labels and the decisions, then build the new result
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    run = store.create_run()
    pre = result["preregistration"]
    pointer = {"audit_run": pre["run_id"], "audit_preregistration": pre["hash"]}
    rows = [{"requirement": rid, "sample_id": lab.sample_id, "label": lab.label, "reviewer": lab.reviewer,
             "at": lab.at or now, "answer_digest": items[lab.sample_id].answer_digest}
            for rid, _b, _rc, items, _d in staged for lab in by_req[rid].values()]
    store.append(run, "judge_review", {**pointer, "source": source, "actor": actor, "labels": rows,
                                       "labels_digest": digest(rows)})
    changed = []
    for rid, base, rc, _items, design in staged:
        store.append(run, REDECISION, {**pointer, "requirement": rid, "review": rc.to_dict(),
                                       "plan": design.plan(), "verdict": base.verdict, "reason": base.reason,
                                       "verdict_before": base.details["judge_validation"]["verdict_before"]})
        changed.append((rid, base.details["judge_validation"]["verdict_before"], base.verdict))
        results[rid] = {**base.to_dict(), "examples": results[rid].get("examples", [])}
    new_reqs = [results[r["id"]] for r in result["requirements"]]
    objs = [RequirementResult(**r) for r in new_reqs]
    docs = [DocumentationItem(**d) for d in result.get("documentation") or []]
    claims = []
    if pre["data"].get("claims"):
        from modelcert.policy.claims import verify_claims
        from modelcert.policy.schema import ClaimsFile

        claims = [c.to_dict() for c in verify_claims(ClaimsFile.model_validate(pre["data"]["claims"]), objs)]
    outcome = decide_outcome(policy, objs, docs)
    store.append(run, "outcome", {**pointer, "outcome": outcome.outcome, "rule": outcome.rule,
                                  "reason": outcome.reason, "before": result["outcome"]})
    end = store.finish(run, {"outcome": outcome.outcome})
    from modelcert.policy.audit import finite

    new = dict(result)
    new.update(requirements=new_reqs, outcome=outcome.outcome, outcome_reason=outcome.reason,
               outcome_rule=outcome.rule, claims=claims if pre["data"].get("claims") else result.get("claims", []))
    new["evidence"] = {**result.get("evidence", {}), run: store.run_root(end.run_id)}
    new["judge_reviews"] = [*result.get("judge_reviews", []), {
        "run_id": run, "at": now, "source": source, "actor": actor, "labels_digest": digest(rows),
        "requirements": {rid: {"before": b, "after": a} for rid, b, a in changed},
        "outcome_before": result["outcome"]}]
    return Redecision(finite(new), changed)


def write_result(out: Path, result: dict[str, Any]) -> None:
    """Write ``result.json`` and ``report.html`` again (atomically, each whole or not at all)."""
    from modelcert.report import render_report

    forests = {}
    for f in sorted((out / "bias").glob("*/report-forest.svg")) if (out / "bias").is_dir() else []:
        forests[f.parent.name] = f.read_text("utf-8")
    html = render_report(result, forests=forests)
    for name, text in (("report.html", html),
                       ("result.json", json.dumps(result, indent=2, sort_keys=True, allow_nan=False) + "\n")):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / name)


def load_result(out: Path) -> dict[str, Any]:
    path = out / "result.json"
    if not path.is_file():
        raise ConfigError(f"{out} holds no audit result (result.json)")
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path} is unreadable: {exc}") from exc
    if data.get("schema") != "modelcert-audit-result/1":
        raise ConfigError(f"{path} is not an audit result")
    return data


def sample_rows(result: dict[str, Any], store: Any) -> list[dict[str, Any]]:
    """The blind review rows of every judged requirement: request and answer, no judge call."""
    plan = result["preregistration"]["data"]["analysis_plan"]
    rows = []
    for r in result["requirements"]:
        review = (plan.get(r["id"]) or {}).get("judge_review")
        if not review or not r.get("run_id"):
            continue
        for sid, it in review_items(store, r["run_id"], r["metric"], review["ids"]).items():
            if it.judge is not None:
                rows.append({"requirement": r["id"], "sample_id": sid, "request": it.request, "answer": it.answer,
                             "answer_digest": it.answer_digest, "label": "", "reviewer": ""})
    return rows
