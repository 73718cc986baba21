"""Provider claims, tested against what the audit measured.

A claim names a requirement of the policy and a value of its metric (a compliance
rate, or a bias gap). It is tested against the two-sided interval the audit measured
for that requirement: exact Clopper–Pearson for a fixed design, and an anytime-valid
interval for a sequential one (a fixed-n interval is not valid after optional
stopping). A claim is *contradicted* when the interval excludes it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from modelcert.policy.decide import RequirementResult
from modelcert.policy.schema import Claim, ClaimsFile
from modelcert.stats import anytime_lower, anytime_upper, clopper_pearson


@dataclass(frozen=True)
class ClaimResult:
    id: str
    requirement: str
    statement: str
    relation: str
    value: float
    status: str  # confirmed | contradicted | inconclusive | not_verifiable
    measured: float | None
    lower: float | None
    upper: float | None
    confidence: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def interval(result: RequirementResult, confidence: float) -> tuple[float, float] | None:
    """The two-sided measured interval for a rate requirement, or the bias CI recorded for it."""
    if result.kind == "bias":
        ci = result.details.get("claim_interval")
        return (float(ci[0]), float(ci[1])) if ci else None
    if result.kind != "rate" or result.n == 0:
        return None
    k = result.k or 0
    tail = (1 - confidence) / 2
    if result.method and result.method != "clopper-pearson":  # sequential: anytime-valid
        return anytime_lower(k, result.n, tail), anytime_upper(k, result.n, tail)
    return clopper_pearson(k, result.n, confidence=confidence)


def verify_claim(claim: Claim, result: RequirementResult | None, *, confidence: float = 0.95) -> ClaimResult:
    def out(status: str, reason: str, measured=None, ci=None) -> ClaimResult:
        lo, hi = ci if ci else (None, None)
        return ClaimResult(claim.id, claim.requirement, claim.statement, claim.relation, claim.value, status,
                           measured, lo, hi, confidence, reason)

    if result is None:
        return out("not_verifiable", f"the policy has no requirement {claim.requirement!r}")
    if result.verdict == "NOT_ASSESSED":
        return out("not_verifiable", f"requirement {result.id} was not assessed: {result.reason}")
    ci = interval(result, confidence)
    measured = result.estimate
    if ci is None or measured is None:
        return out("not_verifiable", f"requirement {result.id} measured no value to compare", measured)
    lo, hi = ci
    v = claim.value
    pct = f"{confidence:.0%}"
    span = f"measured {measured:.4g}, {pct} interval [{lo:.4g}, {hi:.4g}]"
    if result.errors:
        span += f"; {result.errors} errored queries not in the estimate"
    if claim.relation == "=":
        if lo <= v <= hi:
            return out("confirmed", f"claimed {v:g} lies inside the {span}", measured, ci)
        return out("contradicted", f"claimed {v:g} lies outside the {span}", measured, ci)
    if claim.relation == "<=":
        if lo > v:
            return out("contradicted", f"claimed at most {v:g}, but the {span} lies above it", measured, ci)
        if hi <= v:
            return out("confirmed", f"claimed at most {v:g}; the {span} lies at or below it", measured, ci)
        return out("inconclusive", f"claimed at most {v:g}; the {span} contains it", measured, ci)
    if hi < v:
        return out("contradicted", f"claimed at least {v:g}, but the {span} lies below it", measured, ci)
    if lo >= v:
        return out("confirmed", f"claimed at least {v:g}; the {span} lies at or above it", measured, ci)
    return out("inconclusive", f"claimed at least {v:g}; the {span} contains it", measured, ci)


def verify_claims(claims: ClaimsFile, results: list[RequirementResult], *, confidence: float = 0.95) -> list[ClaimResult]:
    by_id = {r.id: r for r in results}
    return [verify_claim(c, by_id.get(c.requirement), confidence=confidence) for c in claims.claims]
