"""A judge review's redecision in the registry: the status rules, the reserved changes, the
certification step's guards (SQLite and PostgreSQL through the ``reg`` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelcert.registry import MONITOR_CHECK, Conflict, IllegalTransition, Registry, Status
from modelcert.registry.lifecycle import TRANSITIONS, after_redecision, allowed_next

S = Status


@pytest.mark.parametrize(
    ("current", "outcome", "cert", "by_review", "expect"),
    [
        # an in-force certificate whose outcome no longer holds ends
        (S.CERTIFIED, "certified", "certified", False, None),
        (S.CERTIFIED, "refused", "certified", False, S.SUSPENDED),
        (S.CERTIFIED, "conditionally_certified", "certified", False, S.CERTIFIABLE),
        (S.CONDITIONALLY_CERTIFIED, "certified", "conditionally_certified", False, S.CERTIFIABLE),
        (S.CONDITIONALLY_CERTIFIED, "refused", "conditionally_certified", False, S.SUSPENDED),
        # a refusal that became certifiable waits for the certification step
        (S.REFUSED, "certified", "refused", False, S.CERTIFIABLE),
        (S.REFUSED, "conditionally_certified", None, False, S.CERTIFIABLE),
        (S.REFUSED, "refused", "refused", False, None),
        (S.CERTIFIABLE, "refused", "refused", False, S.REFUSED),
        (S.CERTIFIABLE, "conditionally_certified", "refused", False, None),
        # a suspension this review made is lifted when the certificate's outcome holds again
        (S.SUSPENDED, "certified", "certified", True, S.CERTIFIED),
        (S.SUSPENDED, "conditionally_certified", "certified", True, S.CERTIFIABLE),
        (S.SUSPENDED, "refused", "certified", True, None),
        # a review never lifts a monitoring suspension, nor moves these
        (S.SUSPENDED, "certified", "certified", False, None),
        (S.REVOKED, "certified", "certified", False, None),
        (S.UNDER_AUDIT, "refused", None, False, None),
        (S.EXPIRED, "refused", "certified", False, None),
    ],
)
def test_status_after_a_redecision(current: Status, outcome: str, cert: str | None, by_review: bool,
                                   expect: Status | None) -> None:
    got = after_redecision(current, outcome, certificate_outcome=cert, suspended_by_this_review=by_review)
    assert got == expect
    if got is not None:  # every move the rule makes is one the lifecycle allows
        before = Status(cert) if current is S.SUSPENDED and cert else None
        assert got in allowed_next(current, before)


@pytest.mark.parametrize(
    ("current", "outcome", "cert", "by_review", "expect"),
    [
        # same outcome, but the certificate states a verdict the review changed: re-issue first
        (S.CERTIFIED, "certified", "certified", False, S.CERTIFIABLE),
        (S.CONDITIONALLY_CERTIFIED, "conditionally_certified", "conditionally_certified", False, S.CERTIFIABLE),
        # a suspension by this review is not lifted onto a certificate whose verdicts are no longer the audit's
        (S.SUSPENDED, "certified", "certified", True, S.CERTIFIABLE),
        # the other moves do not depend on it
        (S.CERTIFIED, "refused", "certified", False, S.SUSPENDED),
        (S.REFUSED, "refused", "refused", False, None),
    ],
)
def test_status_after_a_redecision_that_changed_a_certified_verdict(
        current: Status, outcome: str, cert: str, by_review: bool, expect: Status | None) -> None:
    got = after_redecision(current, outcome, certificate_outcome=cert, suspended_by_this_review=by_review,
                           certificate_verdicts_hold=False)
    assert got == expect
    if got is not None:
        assert got in allowed_next(current, Status(cert) if current is S.SUSPENDED else None)


def _finished(reg: Registry, outcome: str, name: str = "m") -> tuple[int, str]:
    try:
        reg.provider("acme")
    except Exception:
        reg.add_provider("acme")
    v = reg.register_version("acme", name, "1", "local/zoo:clean", actor="t")
    reg.grant_access(v.id, "api", by="t")
    a = reg.create_audit(v.id, "p", "api", actor="t")
    reg.claim_next("w")
    reg.finish_audit(a.id, "w", outcome=outcome, verdicts=[{"id": "R", "verdict": "FAIL"}], out_dir="out")
    return v.id, a.id


def _cert_bytes(outcome: str = "certified") -> tuple[bytes, datetime, datetime]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from modelcert.certify import issue_certificate
    from modelcert.certify.statement import AuditResult

    result = {"policy": {"id": "p", "digest": "c" * 64}, "outcome": outcome, "access_tier": "api",
              "target": {"model": "m", "identity_digest": "d" * 64, "subject_kind": "behaviour-fingerprint",
                         "subject_digest": "e" * 64},
              "requirements": [{"id": "R", "legal_basis": "x", "verdict": "PASS", "n": 1}], "evidence": {"r": "f" * 64}}
    data, st = issue_certificate(AuditResult.model_validate(result), Ed25519PrivateKey.generate(), lab_id="t")
    return data, st.predicate.issued_at, st.predicate.valid_until


def test_certifiable_is_reached_and_left_only_by_the_labs_own_steps(reg: Registry) -> None:
    vid, aid = _finished(reg, "refused")
    assert S.CERTIFIABLE in TRANSITIONS[S.REFUSED]
    with pytest.raises(IllegalTransition, match="judge review"):
        reg.set_status(vid, "certifiable", reason="by hand", actor="t")
    ev = reg.record_redecision(aid, outcome="certified", verdicts=[{"id": "R", "verdict": "PASS"}],
                               to=S.CERTIFIABLE, reason="judge review of audit x", actor="alice")
    assert ev is not None and (ev.from_status, ev.to_status, ev.audit_id) == ("refused", "certifiable", aid)
    a = reg.audit(aid)
    assert a.outcome == "certified" and '"PASS"' in (a.verdicts or "")
    for to in ("certified", "conditionally_certified"):  # no certificate by hand
        with pytest.raises(IllegalTransition, match="certification step"):
            reg.set_status(vid, to, reason="by hand", actor="t")
    assert reg.version(vid).status == "certifiable" and len(reg.certificates(version_id=vid)) == 0

    cert, issued, until = _cert_bytes()
    with pytest.raises(Conflict, match="outcome"):  # the registry says certified, not conditionally
        reg.certify_audit(aid, certificate=cert, issued_at=issued, valid_until=until,
                          outcome="conditionally_certified", actor="t")
    ev = reg.certify_audit(aid, certificate=cert, issued_at=issued, valid_until=until, outcome="certified",
                           actor="bob")
    assert (ev.from_status, ev.to_status, ev.actor) == ("certifiable", "certified", "bob")
    assert [c.audit_id for c in reg.certificates(version_id=vid)] == [aid]
    with pytest.raises(Conflict, match="not certifiable"):  # once
        reg.certify_audit(aid, certificate=cert, issued_at=issued, valid_until=until, outcome="certified", actor="t")


def test_only_the_latest_audit_may_be_certified_and_a_refusal_never(reg: Registry) -> None:
    vid, old = _finished(reg, "refused", "n")
    reg.record_redecision(old, outcome="certified", verdicts=[], to=S.CERTIFIABLE, reason="review", actor="t")
    reg.set_status(vid, "under_audit", reason="re-audit", actor="t")
    new = reg.create_audit(vid, "p", "api", actor="t")
    reg.claim_next("w")
    reg.finish_audit(new.id, "w", outcome="refused", verdicts=[], out_dir="out2")
    assert reg.latest_finished_audit(vid).id == new.id
    job = reg.create_job(vid, MONITOR_CHECK, "api", actor="t")  # a monitoring job shares the table: never "latest audit"
    reg.claim_next("w")
    reg.finish_job(job.id, "w", outcome="no_alarm", result={})
    assert reg.latest_finished_audit(vid).id == new.id
    with pytest.raises(Conflict, match="not a finished audit"):
        reg.record_redecision(job.id, outcome="certified", verdicts=[], to=None, reason="r", actor="t")
    cert, issued, until = _cert_bytes()
    with pytest.raises(Conflict, match="latest"):
        reg.certify_audit(old, certificate=cert, issued_at=issued, valid_until=until, outcome="certified", actor="t")
    with pytest.raises(Conflict, match="nothing to certify"):
        reg.certify_audit(new.id, certificate=cert, issued_at=issued, valid_until=until, outcome="refused", actor="t")
    assert reg.certificates(version_id=vid) == [] and reg.version(vid).status == "refused"
    with pytest.raises(Conflict, match="not a finished audit"):
        q = reg.create_audit(vid, "p", "api", actor="t")
        reg.record_redecision(q.id, outcome="certified", verdicts=[], to=None, reason="r", actor="t")
    assert datetime.now(UTC) - timedelta(minutes=5) < reg.history(vid)[-1].at
