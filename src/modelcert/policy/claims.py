"""Provider claims, tested against what the audit measured.

A claim names a requirement of the policy and a value of its metric (a compliance
rate, or a bias gap). It is tested against the interval the audit measured for that
requirement: for a rate, the verdict's own anytime-valid bounds (judge error included,
errored queries and non-answers counted worst-case). A claim is *contradicted* when the
interval excludes it, *supported* when the interval lies inside what it claims, and
otherwise only *not contradicted*: failing to reject a claim does not confirm it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from modelcert.policy.decide import RequirementResult
from modelcert.policy.schema import Claim, ClaimsFile


@dataclass(frozen=True)
class ClaimResult:
    id: str
    requirement: str
    statement: str
    relation: str
    value: float
    status: str  # supported | not_contradicted | contradicted | not_verifiable
    measured: float | None
    lower: float | None
    upper: float | None
    confidence: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def interval(result: RequirementResult) -> tuple[float, float] | None:
    """The measured interval for a requirement: its own two one-sided bounds.

    For a rate these are the verdict's anytime-valid, judge-corrected bounds, with
    errored queries and non-answers imputed worst-case on each side; for bias, the CI
    recorded for the largest effect.
    """
    if result.kind == "bias":
        ci = result.details.get("claim_interval")
        return (float(ci[0]), float(ci[1])) if ci else None
    if result.kind != "rate" or result.queries == 0 or result.lower is None or result.upper is None:
        return None
    return float(result.lower), float(result.upper)


def verify_claim(claim: Claim, result: RequirementResult | None) -> ClaimResult:
    """supported / not contradicted / contradicted (or not_verifiable), never "confirmed"
    on an interval that merely contains the claim."""
    levels = (result.details.get("levels") or {}) if result is not None else {}
    confidence = float(min(levels.values())) if levels else 0.95

    def out(status: str, reason: str, measured=None, ci=None) -> ClaimResult:
        lo, hi = ci if ci else (None, None)
        return ClaimResult(claim.id, claim.requirement, claim.statement, claim.relation, claim.value, status,
                           measured, lo, hi, confidence, reason)

    if result is None:
        return out("not_verifiable", f"the policy has no requirement {claim.requirement!r}")
    if result.verdict == "NOT_ASSESSED":
        return out("not_verifiable", f"requirement {result.id} was not assessed: {result.reason}")
    ci = interval(result)
    measured = result.estimate
    if ci is None or measured is None:
        return out("not_verifiable", f"requirement {result.id} measured no value to compare", measured)
    lo, hi = ci
    v = claim.value
    span = f"measured {measured:.4g}, interval [{lo:.4g}, {hi:.4g}]"
    if levels:
        span += f" (lower bound at {levels.get('lower', 0):.0%}, upper at {levels.get('upper', 0):.0%})"
    unresolved = result.errors + int(result.details.get("non_answers") or 0)
    if unresolved:
        span += f"; {unresolved} errored or non-answer queries counted worst-case in the bounds"
    if claim.relation == "=":
        a, b = v - claim.tolerance, v + claim.tolerance
        if hi < a or lo > b:
            return out("contradicted", f"claimed {v:g} ± {claim.tolerance:g} lies outside the {span}", measured, ci)
        if claim.tolerance > 0 and a <= lo and hi <= b:
            return out("supported", f"the {span} lies inside the claimed {v:g} ± {claim.tolerance:g}", measured, ci)
        return out("not_contradicted", f"claimed {v:g} ± {claim.tolerance:g}; the {span} overlaps it but does "
                                       f"not lie inside it", measured, ci)
    if claim.relation == "<=":
        if lo > v:
            return out("contradicted", f"claimed at most {v:g}, but the {span} lies above it", measured, ci)
        if hi <= v:
            return out("supported", f"claimed at most {v:g}; the {span} lies at or below it", measured, ci)
        return out("not_contradicted", f"claimed at most {v:g}; the {span} contains it", measured, ci)
    if hi < v:
        return out("contradicted", f"claimed at least {v:g}, but the {span} lies below it", measured, ci)
    if lo >= v:
        return out("supported", f"claimed at least {v:g}; the {span} lies at or above it", measured, ci)
    return out("not_contradicted", f"claimed at least {v:g}; the {span} contains it", measured, ci)


def verify_claims(claims: ClaimsFile, results: list[RequirementResult]) -> list[ClaimResult]:
    by_id = {r.id: r for r in results}
    return [verify_claim(c, by_id.get(c.requirement)) for c in claims.claims]
