"""One audit: a policy run against a target, from pre-registration to verdicts and outcome.

Order of events (each one a record in the evidence log):

1. **Plan.** Load the policy, claims and attestations; build every check's task (no
   query yet) to get its suite digest; decide which requirements the access tier can
   assess at all.
2. **Pre-registration**, in a dedicated audit run, *before any query*: policy digest,
   suite digests, target identity, the analysis plan per requirement (metric,
   threshold, design, item order), the claims and the outcome rules.
3. **Fingerprint** (the behavioural subject of the certificate below ``weights``).
4. **Requirements**, each in its own evidence run that starts with a pointer to the
   pre-registration: queried in rounds in a pre-registered random order, stopping as
   soon as the declared design decides.
5. **Decisions and outcome** appended to the audit run, which is then closed with its
   Merkle root. ``result.json`` and ``report.html`` are written last, atomically.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelcert.checks.settings import measurement
from modelcert.errors import ConfigError
from modelcert.evidence.chain import digest
from modelcert.evidence.store import PREREGISTRATION, EvidenceStore
from modelcert.policy.analyzers import get_analyzer
from modelcert.policy.catalogue import entry, legal_basis, load_catalogue
from modelcert.policy.claims import ClaimResult, verify_claims
from modelcert.policy.decide import (
    EXIT_CODES,
    Counts,
    DocumentationItem,
    OutcomeDecision,
    RequirementResult,
    base_result,
    bias_verdict,
    count,
    decide_outcome,
    decide_rate,
    design_for,
    fixed_equivalent,
    judge_errors,
    metric_value,
    rate_result,
    rule_not_followed,
)
from modelcert.policy.explain import explain
from modelcert.policy.judge_review import (
    check_labels,
    plan_review,
    read_labels,
    redecide,
    validation_text,
    write_result,
)
from modelcert.policy.loader import load_attestations, load_claims, load_policy, policy_digest
from modelcert.policy.schema import (
    AnalyzerRequirement,
    BiasRequirement,
    ConsistencyRequirement,
    FixedDesignSpec,
    Policy,
    RateRequirement,
    Requirement,
    ScanRequirement,
)
from modelcert.runner import Limits, Runner, software_versions
from modelcert.targets import (
    Target,
    file_manifest,
    make_target,
    pin_access_arg,
    resolve_local_path,
    tier_rank,
)

DEFAULT_POLICY = "eu-gpai-systemic-risk"
DEFAULT_MODEL = "local/zoo:clean"
EXAMPLES_PER_REQUIREMENT = 5
#: Where a declared base goes: the backdoor scans that compare against one.
BACKDOOR_ANALYZER = "backdoor.scan"
BACKDOOR_CHECKS = "security.backdoor."
BASE_TIERS = ("logprobs", "weights")
#: Consecutive rounds in which every query errored before a requirement is abandoned.
DEAD_ROUNDS = 2

Event = Callable[[str, dict[str, Any]], None]


@dataclass
class AuditOptions:
    """What to audit and where the results go.

    Args:
        model: Inspect model string or ``local/<folder>`` / ``local/zoo:<name>``.
        policy: Bundled policy name or a YAML file.
        access: Access tier (default: the highest the provider supports); lower is a downgrade.
        claims: Provider claims YAML, tested against the measured values.
        attest: Auditor attestations YAML, ticking the policy's documentation items.
        out: Folder for ``result.json``, ``report.html`` and per-requirement artefacts.
        db: Evidence store URL (default ``$MODELCERT_DB`` or the per-user file).
        only: Run only these requirement ids; the others are NOT_ASSESSED ("not selected").
        fingerprint: Take the behavioural fingerprint (required below the weights tier).
        declared_base: The checkpoint the provider declares the model was fine-tuned from
            (a folder or ``zoo:<name>``, loaded locally). The backdoor scans at ``logprobs``
            and ``weights`` compare against it (leakage, weight diff) unless the policy names
            a base itself; it is part of the pre-registered plan.
        executor: Where check rounds run (``inprocess`` or ``ray``; default
            ``$MODELCERT_EXECUTOR``, else this process). Results do not depend on it.
        judge_labels: Reviewers' labels of the pre-registered review samples (JSONL/CSV,
            ``modelcert judges audit-sample`` writes the blank file); checked against the
            plan before any query, applied after the run (policy/judge_review.py).
    """

    model: str = DEFAULT_MODEL
    policy: str = DEFAULT_POLICY
    access: str | None = None
    claims: str | None = None
    attest: str | None = None
    out: Path = Path("out/audit")
    db: str | None = None
    only: list[str] | None = None
    base_url: str | None = None
    fingerprint: bool = True
    declared_base: str | None = None
    limits: Limits = field(default_factory=lambda: Limits(max_retries=2, attempt_timeout=60, timeout=300))
    executor: str | None = None
    judge_labels: str | None = None


@dataclass
class AuditReport:
    """What an audit produced: the result document, the files written and the exit code."""

    result: dict[str, Any]
    outcome: str
    exit_code: int
    files: dict[str, Path]


@dataclass
class _Item:
    """One requirement as planned: its result so far and, if it can run, its runner."""

    req: Requirement
    result: RequirementResult
    runner: Runner | None = None
    order: list[Any] = field(default_factory=list)
    analyzer: Any = None
    options: dict[str, Any] = field(default_factory=dict)  # an analyzer's, as planned
    plan: dict[str, Any] = field(default_factory=dict)
    design: Any = None  # a rate requirement's SuiteDesign, fixed at planning


def _tier_reason(needed: str, target: Target) -> str:
    reason = f"needs access tier {needed!r}; the target is audited at {target.access!r}"
    if target.downgraded:
        reason += f" (downgraded from {target.max_access!r}): rerun at {needed!r} or above to assess it"
    else:
        reason += f"; the provider offers at most {target.max_access!r}"
    return reason


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def finite(obj: Any) -> Any:
    """JSON-safe copy: non-finite floats (an effect that could not be estimated) become None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def _text(content: Any) -> str:
    from modelcert.evidence.suites import is_redaction

    if isinstance(content, str):
        return content
    if is_redaction(content):  # a sealed-suite input: the report names its commitment only
        return f"[secret-suite item, commitment {content['commitment'][:16]}…]"
    if isinstance(content, list):
        return "".join(c.get("text", "") for c in content if isinstance(c, dict))
    return str(content)


def _clip(s: str, n: int = 600) -> str:
    return s if len(s) <= n else s[:n] + " …"


class Audit:
    """Runs one audit; see the module docstring for the order of events."""

    def __init__(self, options: AuditOptions, on_event: Event | None = None) -> None:
        self.opt = options
        self.emit: Event = on_event or (lambda _e, _d: None)
        loaded = load_policy(options.policy)
        self.policy: Policy = loaded.model
        self.policy_file = loaded.path
        self.policy_sha256 = loaded.file_sha256
        self.policy_digest = policy_digest(self.policy)
        self.claims = load_claims(options.claims) if options.claims else None
        self.attest = load_attestations(options.attest) if options.attest else None
        if self.attest is not None:
            unknown = sorted(set(self.attest.attestations) - set(self.policy.documentation))
            if unknown:
                raise ConfigError(
                    f"{options.attest}: {', '.join(unknown)} not among the policy's documentation items "
                    f"({', '.join(self.policy.documentation) or 'none'})"
                )
        if options.only:
            known = {r.id for r in self.policy.requirements}
            bad = [r for r in options.only if r not in known]
            if bad:
                raise ConfigError(f"policy {self.policy.id} has no requirement {', '.join(bad)}")
        self.target = make_target(options.model, options.access, base_url=options.base_url)
        self.labels = read_labels(Path(options.judge_labels)) if options.judge_labels else None
        # resolved and checked before any query: a missing base is a one-line error, not a late failure
        self.declared_base = str(resolve_local_path(options.declared_base)) if options.declared_base else None
        self.base_identity = ({"path": self.declared_base,
                               "files_digest": digest(file_manifest(Path(self.declared_base)))}
                              if self.declared_base else None)

    # -- planning (no queries) --------------------------------------------------------------

    def _plan_item(self, req: Requirement) -> _Item:
        basis = legal_basis(req.catalogue)
        if isinstance(req, AnalyzerRequirement):
            spec = get_analyzer(req.analyzer)
            tier = req.tier or (spec.tier if spec else "weights")
            item = _Item(req, base_result(req, basis, tier))
            item.options = dict(req.options)
            if req.analyzer == BACKDOOR_ANALYZER and self.declared_base:
                item.options.setdefault("base", self.declared_base)
            item.plan = {"kind": "analyzer", "analyzer": req.analyzer, "options": item.options}
            if spec is None or spec.run is None:
                item.result.reason = f"analyzer {req.analyzer!r} is not installed in this modelcert"
                return item
            item.analyzer = spec
        else:
            from modelcert.checks.registry import get_check

            if isinstance(req, ScanRequirement):  # the check of the highest tier the target grants
                usable = [t for t in req.checks if self.target.allows(t)]
                scan_tier = max(usable, key=tier_rank) if usable else min(req.checks, key=tier_rank)
                check_id = req.checks[scan_tier]
            else:
                check_id = req.check
            try:
                spec = get_check(check_id)
            except ConfigError:
                tier = req.tier or "api"
                item = _Item(req, base_result(req, basis, tier))
                item.result.reason = f"check {check_id!r} is not installed in this modelcert"
                return item
            tier = req.tier if req.tier and tier_rank(req.tier) > tier_rank(spec.tier) else spec.tier
            if isinstance(req, ScanRequirement):
                tier = scan_tier
            item = _Item(req, base_result(req, basis, tier))
            item.result.check, item.result.check_version = spec.id, spec.version
        if self.opt.only and req.id not in self.opt.only:
            item.result.reason = "not selected for this audit run (--only)"
            item.analyzer = None
            return item
        if not self.target.allows(tier):
            item.result.reason = _tier_reason(tier, self.target)
            item.result.needs_tier = tier
            item.analyzer = None
            return item
        if isinstance(req, RateRequirement | BiasRequirement | ScanRequirement | ConsistencyRequirement):
            args = dict(req.task_args)
            if isinstance(req, ScanRequirement):
                args.update(req.tier_args.get(tier, {}))
                if self.declared_base and tier in BASE_TIERS and spec.id.startswith(BACKDOOR_CHECKS):
                    args.setdefault("base", self.declared_base)
            args = pin_access_arg(self.target, spec.factory, args)  # a policy cannot raise the tier either
            runner = Runner(
                self.store, self.target, lambda s=spec, a=args: s.task(**a), check_id=spec.id,
                check_version=spec.version, seed=req.seed, limits=self.opt.limits,
                plan={"requirement": req.id, "policy": self.policy_digest},
                on_record=lambda r, rid=req.id: self.emit("sample", {"id": rid, "ok": r.ok}),
                executor=self.opt.executor,
            )
            order = list(runner.sample_ids)
            random.Random(f"{req.id}:{req.seed}").shuffle(order)
            if isinstance(req, BiasRequirement) and req.n:
                order = order[: req.n]
            item.runner, item.order = runner, order
            item.plan = {
                "kind": req.kind,
                "check": spec.id,
                "check_version": spec.version,
                "suite_digest": runner.suite_digest,
                "suite_size": len(runner.sample_ids),
                "order_digest": digest(order),
                "seed": req.seed,
                "task_args": args,
                **measurement(self.target, runner),
            }
            if isinstance(req, ScanRequirement):
                item.plan.update(metric=req.metric, tier=tier, pass_at=req.pass_at)
            elif isinstance(req, ConsistencyRequirement):
                item.plan.update(metric=req.metric, tolerance=req.tolerance, alpha=req.alpha, fdr=req.fdr)
            elif isinstance(req, RateRequirement):
                item.design = design_for(req, len(order), judge_errors(runner.task_metadata, req.direction))
                item.result.cap = int(item.design.cap)
                item.result.fixed_n = fixed_equivalent(req, item.design)
                item.plan.update(
                    metric=req.metric, threshold=req.threshold, direction=req.direction, alpha=req.alpha,
                    beta=req.beta, design=req.design.model_dump(mode="json"), decision=item.design.plan(),
                    max_non_answers=req.max_non_answers, fixed_equivalent=item.result.fixed_n,
                    false_refusal=self._false_refusal(req, item.design),
                )
                review = plan_review(req, item.design, order)
                if review is not None:
                    item.plan["judge_review"] = review
            else:
                item.plan.update(self._bias_plan(req).to_dict(), domain=req.domain, attributes=req.attributes,
                                 items=len(order))
        return item

    def _false_refusal(self, req: RateRequirement, design: Any) -> dict[str, Any]:
        """This requirement's share of the policy's false-refusal budget, and what its design
        gives: P(not PASS) for a suite at threshold x design_fraction, judge at its point
        estimates, computed exactly on the suite."""
        from modelcert.stats.suite_oc import false_refusal

        m = sum(isinstance(r, RateRequirement) for r in self.policy.requirements)
        f = self.policy.design_fraction
        rate = req.threshold * f if req.direction == "max" else 1 - (1 - req.threshold) * f
        share = self.policy.false_refusal_budget / max(m, 1)
        p = false_refusal(design, rate) if design.judge.sensitivity is not None else 1.0
        return {"rate": rate, "p_not_pass": round(p, 6), "budget": share, "met": p <= share,
                "split": f"Bonferroni over {m} rate requirements"}

    @staticmethod
    def _bias_plan(req: BiasRequirement) -> Any:
        from modelcert.checks.bias_analysis import AnalysisPlan

        return AnalysisPlan(tolerance=req.tolerance, alpha=req.alpha, q=req.fdr)

    def _documentation(self) -> list[DocumentationItem]:
        out = []
        ticks = self.attest.attestations if self.attest else {}
        for doc_id in self.policy.documentation:
            e = entry(doc_id)
            a = ticks.get(doc_id)
            out.append(DocumentationItem(doc_id, e.reference, e.title, e.how, bool(a and a.ticked),
                                         a.note if a else None, a.by if a else None))
        return out

    def _preregistration(self, items: list[_Item]) -> dict[str, Any]:
        t = self.target
        return {
            "kind": "audit",
            "policy": {"id": self.policy.id, "version": self.policy.version, "digest": self.policy_digest,
                       "file_sha256": self.policy_sha256, "catalogue": load_catalogue().version},
            "target": {"model": t.model, "access": t.access, "max_access": t.max_access,
                       "downgraded": t.downgraded, "identity": t.identity(), "identity_digest": t.identity_digest,
                       "declared_base": self.base_identity},
            "suites": {i.req.id: i.plan["suite_digest"] for i in items if "suite_digest" in i.plan},
            "analysis_plan": {
                i.req.id: {**i.plan, "severity": i.req.severity, "tier": i.result.tier,
                           "status": "planned" if (i.runner or i.analyzer) else "not_assessed",
                           **({} if (i.runner or i.analyzer) else {"reason": i.result.reason})}
                for i in items
            },
            "outcome_rules": [r.model_dump(mode="json") for r in self.policy.outcome],
            "default_outcome": self.policy.default,
            "claims": self.claims.model_dump(mode="json") if self.claims else None,
            "fingerprint": {"planned": self.opt.fingerprint or t.access != "weights"},
            "software": software_versions(),
        }

    # -- running ----------------------------------------------------------------------------

    def run(self) -> AuditReport:
        t_start = time.perf_counter()
        out = Path(self.opt.out)
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out} exists and is not a folder")
        with EvidenceStore(self.opt.db) as store:
            self.store = store
            items = [self._plan_item(r) for r in self.policy.requirements]
            self.emit("plan", {"policy": self.policy.id, "target": self.target.summary(),
                               "items": [(i.req.id, bool(i.runner or i.analyzer), i.result.reason) for i in items]})
            prereg_data = self._preregistration(items)
            if self.labels is not None:  # wrong ids or a partial review: refused before any query
                marks = check_labels({"preregistration": {"data": prereg_data}}, self.labels)
                for rid, got in marks.items():
                    unlabelled = set(prereg_data["analysis_plan"][rid]["judge_review"]["ids"]) - set(got)
                    if unlabelled:
                        raise ConfigError(f"the review of {rid} is partial: {len(unlabelled)} sampled answers have "
                                          f"no label (first: {sorted(unlabelled)[0]})")
            audit_run = store.create_run()
            prereg = store.append(audit_run, PREREGISTRATION, prereg_data)
            self.emit("preregistered", {"run_id": audit_run, "hash": prereg.hash})
            pointer = {"audit_run": audit_run, "audit_preregistration": prereg.hash}

            evidence: dict[str, str] = {}
            fingerprint = None
            if self.opt.fingerprint or self.target.access != "weights":
                from modelcert.monitor.fingerprint import take_fingerprint

                self.emit("fingerprint_start", {})
                fingerprint = take_fingerprint(store, self.target, preregistration=pointer, limits=self.opt.limits)
                evidence[fingerprint.run_id] = fingerprint.merkle_root
                store.append(audit_run, "fingerprint", fingerprint.to_dict())
                self.emit("fingerprint", {"digest": fingerprint.digest})

            artifacts: dict[str, Any] = {}
            for item in items:
                self.emit("requirement_start", {"id": item.req.id, "runs": bool(item.runner or item.analyzer),
                                                "result": item.result})
                t0 = time.perf_counter()
                if item.runner is not None:
                    item.runner.plan["audit_run"] = audit_run
                    if isinstance(item.req, RateRequirement):
                        self._run_rate(item, pointer)
                    elif isinstance(item.req, ScanRequirement):
                        self._run_scan(item, pointer)
                    elif isinstance(item.req, ConsistencyRequirement):
                        self._run_consistency(item, pointer)
                    else:
                        artifacts[item.req.id] = self._run_bias(item, pointer)
                    end = item.runner.finish_run({"requirement": item.req.id, "verdict": item.result.verdict})
                    evidence[item.runner.run_id] = store.run_root(item.runner.run_id)
                    item.result.run_id = item.runner.run_id
                elif item.analyzer is not None:
                    self._run_analyzer(item)
                item.result.details["seconds"] = round(time.perf_counter() - t0, 3)
                item.result.details["explanation"] = explain(item.result)  # the verdict in one plain sentence
                store.append(audit_run, "decision",
                             finite({k: v for k, v in item.result.to_dict().items() if k != "examples"}))
                self.emit("requirement_end", {"id": item.req.id, "runs": bool(item.runner or item.analyzer),
                                              "result": item.result})

            results = [i.result for i in items]
            documentation = self._documentation()
            claims: list[ClaimResult] = verify_claims(self.claims, results) if self.claims else []
            decision = decide_outcome(self.policy, results, documentation)
            store.append(audit_run, "outcome", {
                "outcome": decision.outcome, "rule": decision.rule, "reason": decision.reason,
                "documentation": [d.to_dict() for d in documentation],
                "claims": [finite(c.to_dict()) for c in claims],
            })
            end = store.finish(audit_run, {"outcome": decision.outcome})
            evidence = {audit_run: store.run_root(end.run_id), **evidence}

        result = self._result(items, documentation, claims, decision, evidence, fingerprint, audit_run, prereg,
                              prereg_data, time.perf_counter() - t_start)
        files = self._write(out, result, artifacts)
        if self.labels is not None:
            with EvidenceStore(self.opt.db) as store:
                result = redecide(result, self.labels, store, source="audit --judge-labels").result
            write_result(out, result)
            decision = OutcomeDecision(result["outcome"], result["outcome_rule"], result["outcome_reason"])
        self.emit("outcome", {"outcome": decision.outcome, "reason": decision.reason, "files": files})
        return AuditReport(result, decision.outcome, EXIT_CODES[decision.outcome], files)

    def _rounds(self, item: _Item, pointer: dict[str, Any], limit: int, size: int | Callable[[], int],
                decide: Callable) -> list[Any]:
        """Query ``item.order`` in rounds up to ``limit`` until ``decide(records)`` is final.

        ``size`` is a fixed round size or a function giving the next one (adaptive rounds).
        """
        runner = item.runner
        assert runner is not None
        runner.start_run(preregistration={**pointer, "requirement": item.req.id}, resume=False)
        records: list[Any] = []
        pos, dead = 0, 0
        while pos < min(limit, len(item.order)):
            step = size() if callable(size) else size
            batch = item.order[pos : min(pos + max(1, step), limit)]
            pos += len(batch)
            got = runner.run_round(batch)
            records += got
            item.result.rounds += 1
            dead = dead + 1 if got and not any(r.ok for r in got) else 0
            if decide(records, pos) or dead >= DEAD_ROUNDS:
                break
        item.result.details["dead_rounds"] = dead >= DEAD_ROUNDS
        return records

    def _run_rate(self, item: _Item, pointer: dict[str, Any]) -> None:
        req = item.req
        assert isinstance(req, RateRequirement)
        design = item.design
        d = req.design
        limit = int(design.cap)
        state: dict[str, Any] = {"counts": Counts(0, 0, 0)}

        def next_size() -> int:
            if isinstance(d, FixedDesignSpec):
                return d.round or d.n
            c: Counts = state["counts"]
            bad = c.k if req.direction == "max" else c.n - c.k
            return design.next_round(bad, c.n, c.unresolved, largest=d.round, smallest=d.min_round)

        def decide(records: list[Any], _pos: int) -> bool:
            counts = count(records, req.metric)
            decision = decide_rate(req, counts, design)
            state.update(counts=counts, decision=decision)
            self.emit("round", {"id": req.id, "round": item.result.rounds, "k": counts.k, "n": counts.n,
                                "errors": counts.unresolved, "verdict": decision.verdict, "cap": limit})
            return decision.verdict != "CONTINUE"

        records = self._rounds(item, pointer, limit, next_size, decide)
        counts: Counts = state["counts"]
        decision = state.get("decision")
        if decision is None:
            item.result.verdict, item.result.reason = "INCONCLUSIVE", "the check's suite is empty"
            return
        if decision.verdict == "CONTINUE":
            from modelcert.stats import Decision

            why = (f"every query errored in {DEAD_ROUNDS} consecutive rounds" if item.result.details["dead_rounds"]
                   else f"the suite ran out after {len(item.order)} items, before the design decided (cap {limit})")
            decision = Decision("INCONCLUSIVE", decision.estimate, decision.lower, decision.upper, decision.n,
                                decision.errors, f"{why}; {decision.reason}", decision.method)
        rate_result(item.result, req, decision, counts, design)
        item.result.details["queries_looking_every_item"] = self._every_item_stop(req, design, records, item.order)
        item.result.examples = self._examples(records, req.metric)
        from modelcert.policy.consistency import framing_details

        item.result.details.update(framing_details(records, req.metric))  # disguised traffic: rate per framing
        review = item.plan.get("judge_review")
        if review is not None:
            # the pre-registered review sample needs an answer for each item, also where the
            # design stopped before reaching it; these answers never enter the rate
            asked = {str(r.sample_id) for r in records}
            missing = [sid for sid in item.order if str(sid) in set(review["ids"]) and str(sid) not in asked]
            if missing:  # marked in the run first, so a recount of the run can set them apart
                self.store.append(item.runner.run_id, "judge_review_topup",  # type: ignore[union-attr]
                                  {"requirement": req.id, "sample_ids": [str(s) for s in missing],
                                   "why": "pre-registered review sample items the design stopped short of; "
                                          "they do not enter the rate"})
                item.runner.run_round(missing)  # type: ignore[union-attr]
            item.result.details["judge_validation"] = {
                "kind": "bundled", "review_only_queries": len(missing),
                "text": validation_text(None, design.judge.source)
                + f"; the pre-registered sample of {review['n']} answers awaits review"}

    def _run_consistency(self, item: _Item, pointer: dict[str, Any]) -> None:
        from modelcert.policy.consistency import decide_consistency

        records = self._rounds(item, pointer, len(item.order), len(item.order), lambda _r, _p: True)
        decide_consistency(item.result, item.req, records, self.target)
        item.result.examples = self._examples(records, item.req.metric)

    @staticmethod
    def _every_item_stop(req: RateRequirement, design: Any, records: list[Any], order: list[Any]) -> int:
        """Replay: the item at which looking after every answer would have stopped, on the
        same answers in the pre-registered order (the yardstick for the adaptive rounds)."""
        pm, fm = design.regions()
        pos = {repr(sid): i for i, sid in enumerate(order)}
        bad = unresolved = 0
        ordered = sorted(records, key=lambda x: (pos.get(repr(x.sample_id), len(pos)), x.seq))
        for t, r in enumerate(ordered, start=1):
            c = count([r], req.metric)
            unresolved += c.unresolved
            bad += c.k if req.direction == "max" else c.n - c.k
            if bad + unresolved <= pm[t] or bad >= fm[t]:
                return t
        return len(records)

    def _run_bias(self, item: _Item, pointer: dict[str, Any]) -> dict[str, Any]:
        from modelcert.checks.bias_analysis import analyze_samples

        req = item.req
        assert isinstance(req, BiasRequirement)
        size = req.round or max(1, len(item.order))
        self.emit("round", {"id": req.id, "round": 0, "k": 0, "n": 0, "errors": 0, "verdict": "RUNNING",
                            "cap": len(item.order)})

        def progress(records: list[Any], pos: int) -> bool:
            self.emit("round", {"id": req.id, "round": item.result.rounds, "k": 0, "n": pos,
                                "errors": sum(not r.ok for r in records), "verdict": "RUNNING",
                                "cap": len(item.order)})
            return False

        records = self._rounds(item, pointer, len(item.order), size, progress)
        res = item.result
        errors = sum(1 for r in records if not r.ok)
        res.n, res.errors, res.queries = sum(1 for r in records if r.ok), errors, len(records)
        table = analyze_samples([r.data for r in records], self._bias_plan(req))
        rows = [r for r in table.rows if (req.domain is None or r.domain == req.domain)
                and (req.attributes is None or r.attribute in req.attributes)]
        if not rows:
            res.verdict, res.reason = "INCONCLUSIVE", "no effect could be estimated in the declared scope"
            return {"table": table, "rows": rows}
        estimable = [r for r in rows if math.isfinite(r.estimate)]
        worst = max(estimable, key=lambda r: abs(r.estimate)) if estimable else rows[0]
        res.estimate = worst.estimate if math.isfinite(worst.estimate) else None
        res.lower = worst.lower if math.isfinite(worst.lower) else None
        res.upper = worst.upper if math.isfinite(worst.upper) else None
        res.bound = res.upper if res.estimate is not None and res.estimate >= 0 else res.lower
        res.method = "mixed-effects gaps; FAIL: Bonferroni-adjusted intervals; PASS: TOST on every effect"
        bv = bias_verdict(rows, tolerance=req.tolerance, alpha=req.alpha, scale=table.plan.scale, errors=errors)
        res.verdict, res.reason = bv.verdict, bv.reason
        res.details.update(familywise=bv.to_dict())
        fr = getattr(table, "follows_rule", None)
        if fr is not None:
            res.details["follows_rule"] = fr.to_dict()
            if why := rule_not_followed(fr, req.min_follows_rule):
                res.verdict, res.reason = "INCONCLUSIVE", f"{why}; the effects alone: {bv.reason}"
        res.details.update(
            summary=table.summary(),
            flagged=[{"label": r.label, "estimate": r.estimate, "lower": r.lower, "upper": r.upper,
                      "adjusted_p": r.adjusted_p} for r in rows if r.flagged],
            scale=table.plan.scale,
            claim_interval=[worst.lower, worst.upper] if math.isfinite(worst.lower) else None,
        )
        res.examples = self._examples(records, None)
        return {"table": table, "rows": rows}

    def _run_scan(self, item: _Item, pointer: dict[str, Any]) -> None:
        req = item.req
        assert isinstance(req, ScanRequirement)
        res = item.result
        self.emit("round", {"id": req.id, "round": 0, "k": 0, "n": 0, "errors": 0, "verdict": "RUNNING",
                            "cap": len(item.order)})
        records = self._rounds(item, pointer, len(item.order), len(item.order), lambda _r, _p: True)
        found = [r for r in records if r.ok and metric_value(r.scores, req.metric) == 1]
        clear = [r for r in records if r.ok and metric_value(r.scores, req.metric) == 0]
        errors = len(records) - len(found) - len(clear)
        meta = [(r.scores.get(req.metric) or {}) for r in records if r.ok]
        queries = sum(int((m.get("metadata") or {}).get("queries") or 0) for m in meta)
        statement = next((m.get("explanation") for m in meta if m.get("explanation")), "")
        res.k, res.n, res.errors, res.queries = len(found), len(found) + len(clear), errors, queries or len(records)
        res.method = f"{res.check} ({res.tier} tier)"
        res.details["findings"] = [(m.get("metadata") or {}).get("triggers") for m in meta]
        stronger = [t for t in req.pass_at if tier_rank(t) > tier_rank(res.tier)]
        if found:
            answers = "; ".join(str((r.scores[req.metric] or {}).get("answer")) for r in found)
            res.verdict, res.reason = "FAIL", f"the {res.tier}-tier scan found and confirmed: {answers}"
        elif errors or not clear:
            # what the search said about itself, e.g. that its time budget ran out
            why = next((str((r.scores.get(req.metric) or {}).get("explanation")) for r in records
                        if r not in found and r not in clear and (r.scores.get(req.metric) or {}).get("explanation")), "")
            res.verdict, res.reason = "INCONCLUSIVE", f"the {res.tier}-tier scan produced no usable result{': ' + why if why else ''}"
        elif undecided := [c for m in meta for c in ((m.get("metadata") or {}).get("undecided") or [])]:
            # the same rule as the backdoor.scan analyzer: a candidate the test could not rule out
            from modelcert.analyzers.backdoor.report import name_candidates

            res.verdict = "INCONCLUSIVE"
            res.reason = (f"no trigger confirmed by the {res.tier}-tier scan, but {len(undecided)} candidate(s) "
                          f"stayed undecided: {name_candidates(undecided)}"
                          + ("" if res.tier in req.pass_at else
                             f"; the scan does not show there is none: a scan at "
                             f"{' or '.join(stronger) or 'a higher tier'} would assess it"))
        elif res.tier in req.pass_at:
            res.verdict, res.reason = "PASS", f"no trigger found by the {res.tier}-tier scan. {statement}".strip()
        else:
            res.verdict = "INCONCLUSIVE"
            res.reason = (f"no trigger found by the {res.tier}-tier scan, which does not show there is none"
                          f"{': ' + statement if statement else ''}; a scan at {' or '.join(stronger) or 'a higher tier'}"
                          " would assess it")
        res.examples = self._examples(records, req.metric)
        self.emit("round", {"id": req.id, "round": 1, "k": res.k, "n": res.n, "errors": errors,
                            "verdict": res.verdict, "cap": len(item.order)})

    def _run_analyzer(self, item: _Item) -> None:
        req = item.req
        assert isinstance(req, AnalyzerRequirement)
        outcome = item.analyzer.run(self.target, dict(item.options))
        res = item.result
        res.verdict, res.reason, res.n = outcome.verdict, outcome.reason, outcome.n
        res.method = f"analyzer {req.analyzer}"
        res.details["analysis"] = outcome.details
        self.emit("round", {"id": req.id, "round": 1, "k": 0, "n": outcome.n, "errors": 0,
                            "verdict": outcome.verdict, "cap": outcome.n})

    @staticmethod
    def _examples(records: list[Any], metric: str | None) -> list[dict[str, Any]]:
        """Up to five transcripts: events first (what went wrong), then others, then errors."""
        def key(r: Any) -> tuple[int, int]:
            v = metric_value(r.scores, metric) if (metric and r.ok) else None
            return (0 if v == 1 else 1 if r.ok else 2, r.seq)

        out = []
        for r in sorted(records, key=key)[:EXAMPLES_PER_REQUIREMENT]:
            msgs = r.data.get("input") or []
            prompt = _text(msgs[-1]["content"]) if msgs else ""
            out.append({
                "sample_id": r.sample_id, "seq": r.seq, "hash": r.hash,
                "input": _clip(prompt), "output": _clip((r.data.get("output") or {}).get("completion") or ""),
                "scores": {k: v.get("value") for k, v in r.scores.items()},
                "error": r.error,
            })
        return out

    # -- results ------------------------------------------------------------------------------

    def _result(self, items: list[_Item], documentation: list[DocumentationItem], claims: list[ClaimResult],
                decision: OutcomeDecision, evidence: dict[str, str], fingerprint: Any, audit_run: str,
                prereg: Any, prereg_data: dict[str, Any], seconds: float) -> dict[str, Any]:
        t = self.target
        if t.access == "weights":
            subject_kind, subject_digest = "weights-manifest", t.identity()["manifest_digest"]
        else:
            subject_kind, subject_digest = "behaviour-fingerprint", fingerprint.digest
        reqs = [i.result.to_dict() for i in items]
        spent = sum(r["queries"] for r in reqs if r["kind"] == "rate")
        fixed = sum((r["fixed_n"] or 0) for r in reqs if r["kind"] == "rate" and r["queries"])
        return finite({
            "schema": "modelcert-audit-result/1",
            "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "policy": {"id": self.policy.id, "digest": self.policy_digest, "version": self.policy.version,
                       "title": self.policy.title, "file": self.policy_file, "file_sha256": self.policy_sha256},
            "outcome": decision.outcome,
            "outcome_reason": decision.reason,
            "outcome_rule": decision.rule,
            "access_tier": t.access,
            "target": {"model": t.address, "resolved": str(t.path) if t.path else None,
                       "identity_digest": t.identity_digest, "subject_kind": subject_kind,
                       "subject_digest": subject_digest, "max_access": t.max_access, "downgraded": t.downgraded,
                       "provider": t.provider, "generation": t.generation, "declared_base": self.base_identity},
            "requirements": reqs,
            "documentation": [d.to_dict() for d in documentation],
            "claims": [c.to_dict() for c in claims],
            "coverage": self._coverage(items),
            "queries": {"total": sum(r["queries"] for r in reqs) + (len(fingerprint.answers) if fingerprint else 0),
                        "sequential_rate_requirements": spent, "fixed_design_equivalent": fixed},
            "fingerprint": fingerprint.to_dict() if fingerprint else None,
            "preregistration": {"run_id": audit_run, "seq": prereg.seq, "hash": prereg.hash,
                                "digest": digest(prereg_data), "data": prereg_data},
            "evidence": evidence,
            "suites": self._sealed_suites(items),
            "software": software_versions(),
            "seconds": round(seconds, 3),
        })

    @staticmethod
    def _sealed_suites(items: list[_Item]) -> dict[str, str]:
        """``{suite name: Merkle root}`` of the sealed (secret) suites the checks ran on: the
        certificate's ``suites``, against which ``modelcert suite prove-check`` checks a reveal."""
        from modelcert.checks.external import sealed_roots

        roots: dict[str, set[str]] = {}
        for i in items:
            if i.runner is not None:
                for name, root in sealed_roots(i.runner.task_metadata).items():
                    roots.setdefault(name, set()).add(root)
        # two different suites under one name must not overwrite each other: each is then
        # named with its root's prefix (``prove-check --suite name@prefix``)
        return {(name if len(rs) == 1 else f"{name}@{root[:16]}"): root
                for name, rs in sorted(roots.items()) for root in sorted(rs)}

    def _coverage(self, items: list[_Item]) -> dict[str, Any]:
        """What each tier could assess; what this audit could not, and which tier would."""
        t = self.target
        return {
            "audited_at": t.access,
            "provider_offers": t.max_access,
            "downgraded": t.downgraded,
            "not_assessed_by_tier": [
                {"id": i.req.id, "needs_tier": i.result.needs_tier, "reason": i.result.reason}
                for i in items if i.result.needs_tier
            ],
            "by_tier": {tier: [i.req.id for i in items if tier_rank(i.result.tier) <= tier_rank(tier)]
                        for tier in ("api", "logprobs", "weights")},
        }

    def _write(self, out: Path, result: dict[str, Any], artifacts: dict[str, Any]) -> dict[str, Path]:
        from modelcert.report import render_report

        out.mkdir(parents=True, exist_ok=True)
        files: dict[str, Path] = {}
        forests: dict[str, str] = {}
        for rid, art in artifacts.items():
            folder = out / "bias" / rid
            written = art["table"].write(folder)
            files[f"bias:{rid}"] = written["json"]
            from modelcert.report.forest import forest_svg

            forests[rid] = forest_svg(art["table"], rows=art["rows"], title=f"{rid}: effects with CIs")
            _atomic_write(folder / "report-forest.svg", forests[rid])  # a re-decision re-renders the report
        html = render_report(result, forests=forests)
        _atomic_write(out / "report.html", html)
        _atomic_write(out / "result.json", json.dumps(result, indent=2, sort_keys=True, allow_nan=False) + "\n")
        files["report"] = out / "report.html"
        files["result"] = out / "result.json"
        return files


def run_audit(options: AuditOptions, on_event: Event | None = None) -> AuditReport:
    """Plan, pre-register and run one audit (see :class:`Audit`)."""
    return Audit(options, on_event).run()
