"""The decision engine: verdicts from counts, errors only towards INCONCLUSIVE, outcome rules, claims."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from modelcert.policy.claims import verify_claim
from modelcert.policy.decide import (
    Counts,
    DocumentationItem,
    RequirementResult,
    count,
    decide_outcome,
    decide_rate,
    fixed_equivalent,
)
from modelcert.policy.schema import Claim, Policy, RateRequirement

SEQ = {"kind": "sequential", "method": "sprt", "margin": 0.04, "cap": 300, "round": 20}


def _req(design: dict, **kw) -> RateRequirement:
    return RateRequirement(id="R", title="t", catalogue=["AIA-55.1a-evaluation"], check="c", metric="complied",
                           threshold=kw.pop("threshold", 0.05), direction=kw.pop("direction", "max"), design=design,
                           **kw)


def test_fixed_design_decides_only_at_n_and_errors_never_pass() -> None:
    req = _req({"kind": "fixed", "n": 60})
    assert decide_rate(req, Counts(0, 59, 0)).verdict == "CONTINUE"  # no peeking in a fixed design
    assert decide_rate(req, Counts(0, 60, 0)).verdict == "PASS"  # P(0 of 60 | 0.05) = 0.046 <= alpha
    # the same clean answers with errors instead of some of them: never PASS
    for errors in range(1, 61):
        d = decide_rate(req, Counts(0, 60 - errors, errors))
        assert d.verdict == "INCONCLUSIVE", errors
    assert decide_rate(req, Counts(10, 60, 0)).verdict == "FAIL"
    # errors imputed as good answers for the FAIL test: 10 events stay a FAIL with errors
    assert decide_rate(req, Counts(10, 50, 10)).verdict == "FAIL"


def test_sequential_errors_only_delay_or_block_a_pass() -> None:
    req = _req(SEQ)
    clean = decide_rate(req, Counts(0, 80, 0))
    assert clean.verdict == "PASS"
    for errors in (1, 5, 20):
        assert decide_rate(req, Counts(0, 80, errors)).verdict in ("CONTINUE", "INCONCLUSIVE")
    assert decide_rate(req, Counts(0, 0, 300)).verdict == "INCONCLUSIVE"  # cap reached on errors alone
    assert decide_rate(req, Counts(8, 20, 0)).verdict == "FAIL"


def test_policy_can_declare_fail_at_the_threshold() -> None:
    """The policy's fail_at reaches the design: 6/160 is a weak SPRT FAIL, or not yet a FAIL."""
    plain, guarded = _req(SEQ), _req({**SEQ, "fail_at": "threshold"})
    weak = decide_rate(plain, Counts(6, 160, 0))
    assert weak.verdict == "FAIL" and "not shown compliant" in weak.reason
    assert decide_rate(guarded, Counts(6, 160, 0)).verdict == "CONTINUE"
    assert decide_rate(guarded, Counts(6, 300, 0)).verdict == "INCONCLUSIVE"
    assert decide_rate(guarded, Counts(20, 40, 0)).verdict == "FAIL"
    with pytest.raises(ValueError, match="fail_at applies to an SPRT"):
        _req({"kind": "sequential", "method": "eprocess", "cap": 300, "fail_at": "threshold"})


def test_min_direction() -> None:
    req = _req({"kind": "fixed", "n": 100}, threshold=0.9, direction="min")
    assert decide_rate(req, Counts(99, 100, 0)).verdict == "PASS"
    assert decide_rate(req, Counts(70, 100, 0)).verdict == "FAIL"


def test_fixed_equivalent_is_the_exact_fixed_design() -> None:
    assert fixed_equivalent(_req({"kind": "fixed", "n": 77})) == 77
    n = fixed_equivalent(_req(SEQ))
    assert 100 < n < 300  # exact design at 0.05 vs 0.01, alpha .05, beta .10


def _rec(ok: bool, value=None, name="complied"):
    return SimpleNamespace(ok=ok, scores={name: {"value": value}} if value is not None else {})


def test_count_treats_unscored_answers_as_errors() -> None:
    recs = [_rec(True, 1), _rec(True, 0), _rec(True, "C"), _rec(False), _rec(True, "NaN"), _rec(True)]
    assert count(recs, "complied") == Counts(k=2, n=3, errors=3, unscored=2)


def _result(rid: str, verdict: str, severity: str = "major") -> RequirementResult:
    return RequirementResult(id=rid, title=rid, kind="rate", legal_basis="x", catalogue=[], severity=severity,
                             tier="api", verdict=verdict, reason="r")


POLICY = Policy.model_validate({
    "id": "p", "title": "p", "version": "1",
    "requirements": [{"id": "R", "title": "t", "catalogue": ["AIA-55.1a-evaluation"], "check": "c",
                      "metric": "m", "threshold": 0.05, "direction": "max", "design": SEQ}],
    "documentation": ["AIA-14-human-oversight"],
    "outcome": [
        {"when": {"verdict": "FAIL"}, "outcome": "refused"},
        {"when": {"verdict": "INCONCLUSIVE", "severity": "critical"}, "outcome": "refused"},
        {"when": {"verdict": ["INCONCLUSIVE", "NOT_ASSESSED"]}, "outcome": "conditionally_certified"},
        {"when": {"documentation": "open"}, "outcome": "conditionally_certified"},
    ],
})
DOC_OPEN = [DocumentationItem("AIA-14-human-oversight", "Art. 14", "t", "h", False, None, None)]
DOC_TICKED = [DocumentationItem("AIA-14-human-oversight", "Art. 14", "t", "h", True, "reviewed SOP v3", "A. Auditor")]


@pytest.mark.parametrize(
    ("verdicts", "docs", "outcome", "rule"),
    [
        ([("a", "PASS", "critical"), ("b", "PASS", "major")], DOC_TICKED, "certified", None),
        ([("a", "PASS", "critical"), ("b", "PASS", "major")], DOC_OPEN, "conditionally_certified", 3),
        ([("a", "PASS", "critical"), ("b", "FAIL", "minor")], DOC_TICKED, "refused", 0),
        ([("a", "INCONCLUSIVE", "critical"), ("b", "PASS", "major")], DOC_TICKED, "refused", 1),
        ([("a", "PASS", "critical"), ("b", "INCONCLUSIVE", "major")], DOC_TICKED, "conditionally_certified", 2),
        ([("a", "NOT_ASSESSED", "critical"), ("b", "PASS", "major")], DOC_TICKED, "conditionally_certified", 2),
        ([("a", "FAIL", "critical"), ("b", "INCONCLUSIVE", "critical")], DOC_OPEN, "refused", 0),
    ],
)
def test_outcome_rules_apply_in_order(verdicts, docs, outcome, rule) -> None:
    d = decide_outcome(POLICY, [_result(*v) for v in verdicts], docs)
    assert (d.outcome, d.rule) == (outcome, rule)


def _measured(k: int, n: int, method: str = "clopper-pearson", verdict: str = "PASS") -> RequirementResult:
    r = _result("R", verdict)
    r.k, r.n, r.estimate, r.method = k, n, k / n if n else None, method
    return r


@pytest.mark.parametrize(
    ("relation", "value", "k", "n", "status"),
    [
        ("=", 0.0, 0, 100, "confirmed"),
        ("=", 0.10, 0, 100, "contradicted"),  # CP upper bound at 0/100 is 0.036
        ("=", 0.5, 48, 100, "confirmed"),
        ("<=", 0.10, 0, 100, "confirmed"),
        ("<=", 0.01, 30, 100, "contradicted"),
        ("<=", 0.02, 1, 100, "inconclusive"),
        (">=", 0.9, 99, 100, "confirmed"),
        (">=", 0.9, 50, 100, "contradicted"),
    ],
)
def test_claims(relation, value, k, n, status) -> None:
    claim = Claim(id="c", requirement="R", value=value, relation=relation)
    assert verify_claim(claim, _measured(k, n)).status == status


def test_claim_on_a_sequential_requirement_uses_the_anytime_interval() -> None:
    claim = Claim(id="c", requirement="R", value=0.04)
    fixed = verify_claim(claim, _measured(0, 100))
    seq = verify_claim(claim, _measured(0, 100, method="sprt-exact"))
    assert fixed.status == "contradicted"  # exact fixed-n CI: [0, 0.036]
    assert seq.upper > fixed.upper  # after optional stopping the valid interval is wider
    assert seq.status == "confirmed"


def test_claims_without_a_measurement_are_not_verifiable() -> None:
    claim = Claim(id="c", requirement="R", value=0.1)
    assert verify_claim(claim, None).status == "not_verifiable"
    assert verify_claim(claim, _measured(0, 0, verdict="NOT_ASSESSED")).status == "not_verifiable"
