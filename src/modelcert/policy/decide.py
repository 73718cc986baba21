"""Evidence in, verdicts out: one verdict per requirement, and the policy's outcome.

Everything here is a pure function of counts and records, so a verdict can be replayed
from the evidence log. Nothing is decided from missing data: a sample that errored, or
whose score is missing or not binary, is counted as an error, and the statistics
impute errors to the worst case for each conclusion, so errors can only keep a design
running or make it INCONCLUSIVE, never produce a PASS or a FAIL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from modelcert.policy.schema import (
    OutcomeName,
    Policy,
    RateRequirement,
    Requirement,
    SequentialDesignSpec,
)
from modelcert.stats import Decision, SequentialDesign, decide_fixed, fixed_n_design

VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE", "NOT_ASSESSED")


@dataclass
class RequirementResult:
    """The verdict on one requirement with the numbers and the evidence behind it.

    ``bound`` is the bound on the PASS side of the threshold (the upper bound for a
    ``max`` requirement, the lower for ``min``); ``lower``/``upper`` are the two
    bounds the design reports (exact for fixed designs, anytime-valid for sequential).
    """

    id: str
    title: str
    kind: str
    legal_basis: str
    catalogue: list[str]
    severity: str
    tier: str
    verdict: str
    reason: str
    estimate: float | None = None
    lower: float | None = None
    upper: float | None = None
    bound: float | None = None
    k: int | None = None
    n: int = 0
    errors: int = 0
    queries: int = 0
    threshold: float | None = None
    direction: str | None = None
    method: str | None = None
    check: str | None = None
    check_version: str | None = None
    metric: str | None = None
    fixed_n: int | None = None
    cap: int | None = None
    rounds: int = 0
    needs_tier: str | None = None
    run_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def metric_value(scores: Mapping[str, Any], metric: str) -> int | None:
    """The binary event of ``metric`` in a sample's scores: 1, 0, or None when unusable."""
    score = scores.get(metric)
    if score is None:
        return None
    value = score.get("value") if isinstance(score, Mapping) else score
    if value in ("C", True, 1, 1.0, "1", "yes"):
        return 1
    if value in ("I", False, 0, 0.0, "0", "no"):
        return 0
    return None


@dataclass(frozen=True)
class Counts:
    """Events among resolved samples, and samples that gave no usable outcome."""

    k: int
    n: int
    errors: int
    unscored: int = 0  # part of ``errors``: answered, but the metric was missing or not binary


def count(records: Iterable[Any], metric: str) -> Counts:
    """Count ``metric`` events over sample records (runner ``SampleRecord`` objects)."""
    k = n = errors = unscored = 0
    for r in records:
        if not r.ok:
            errors += 1
            continue
        v = metric_value(r.scores, metric)
        if v is None:
            errors += 1
            unscored += 1
            continue
        k += v
        n += 1
    return Counts(k, n, errors, unscored)


def sequential_design(req: RateRequirement) -> SequentialDesign:
    d = req.design
    assert isinstance(d, SequentialDesignSpec)
    return SequentialDesign(
        threshold=req.threshold, direction=req.direction, alpha=req.alpha, beta=req.beta, cap=d.cap,
        method=d.method, margin=d.margin, boundaries=d.boundaries, fail_at=d.fail_at,
    )


def decide_rate(req: RateRequirement, counts: Counts) -> Decision:
    """The verdict for cumulative counts under the requirement's declared design.

    Sequential designs may return CONTINUE (not yet decided, cap not reached).
    """
    if isinstance(req.design, SequentialDesignSpec):
        return sequential_design(req).decide(counts.k, counts.n, counts.errors)
    total = counts.n + counts.errors
    if total < req.design.n:  # a fixed design may not peek: it decides at n only
        est = counts.k / counts.n if counts.n else None
        return Decision("CONTINUE", est, 0.0, 1.0, counts.n, counts.errors,
                        f"fixed design: {total} of {req.design.n} queries", "clopper-pearson")
    return decide_fixed(
        counts.k, counts.n, threshold=req.threshold, direction=req.direction, alpha=req.alpha,
        alpha_fail=req.beta, errors=counts.errors,
    )


def fixed_equivalent(req: RateRequirement) -> int | None:
    """Queries a fixed-n exact design needs for the same alpha/beta at the SPRT design rate."""
    d = req.design
    if not isinstance(d, SequentialDesignSpec):
        return d.n
    if d.margin is None:
        return None
    design_rate = req.threshold - d.margin if req.direction == "max" else req.threshold + d.margin
    return fixed_n_design(req.threshold, design_rate, direction=req.direction, alpha=req.alpha, beta=req.beta).n


def rate_result(base: RequirementResult, req: RateRequirement, decision: Decision, counts: Counts) -> RequirementResult:
    """Fill a requirement result from a final (non-CONTINUE) decision."""
    assert decision.verdict in ("PASS", "FAIL", "INCONCLUSIVE")
    base.verdict = decision.verdict
    reason = decision.reason
    if counts.unscored:
        reason += f"; {counts.unscored} answers had no usable '{req.metric}' score and count as errors"
    base.reason = reason
    base.estimate = decision.estimate
    base.lower, base.upper = decision.lower, decision.upper
    base.bound = decision.upper if req.direction == "max" else decision.lower
    base.k, base.n, base.errors, base.queries = counts.k, decision.n, decision.errors, decision.queries
    base.method = decision.method
    return base


def base_result(req: Requirement, legal_basis: str, tier: str) -> RequirementResult:
    """An undecided result carrying the requirement's declared settings."""
    out = RequirementResult(
        id=req.id, title=req.title, kind=req.kind, legal_basis=legal_basis, catalogue=list(req.catalogue),
        severity=req.severity, tier=tier, verdict="NOT_ASSESSED", reason="not run",
    )
    if isinstance(req, RateRequirement):
        out.threshold, out.direction, out.check, out.metric = req.threshold, req.direction, req.check, req.metric
        out.fixed_n = fixed_equivalent(req)
        out.cap = req.design.cap if isinstance(req.design, SequentialDesignSpec) else req.design.n
    elif req.kind in ("bias", "consistency"):
        out.check = req.check
        out.threshold = req.tolerance
    elif req.kind == "scan":
        out.metric = req.metric
    return out


@dataclass(frozen=True)
class DocumentationItem:
    id: str
    reference: str
    title: str
    how: str
    ticked: bool
    note: str | None
    by: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OutcomeDecision:
    outcome: OutcomeName
    rule: int | None  # index of the matching rule; None: the policy's default
    reason: str


def decide_outcome(
    policy: Policy, results: list[RequirementResult], documentation: list[DocumentationItem]
) -> OutcomeDecision:
    """Apply the policy's rules in order; the first that matches gives the outcome."""
    open_docs = [d.id for d in documentation if not d.ticked]
    for i, rule in enumerate(policy.outcome):
        cond = rule.when
        if cond.verdict is not None:
            hits = [
                r.id
                for r in results
                if r.verdict in cond.verdict and (cond.severity is None or r.severity in cond.severity)
            ]
            if hits:
                sev = f" ({'/'.join(cond.severity)})" if cond.severity else ""
                return OutcomeDecision(
                    rule.outcome, i, f"rule {i + 1}: {'/'.join(cond.verdict)}{sev} on {', '.join(hits)}"
                )
        if cond.documentation == "open" and open_docs:
            return OutcomeDecision(
                rule.outcome, i, f"rule {i + 1}: documentation items not attested: {', '.join(open_docs)}"
            )
    return OutcomeDecision(policy.default, None, "no rule matched: the policy's default outcome")


EXIT_CODES: dict[str, int] = {"certified": 0, "conditionally_certified": 0, "refused": 1}
