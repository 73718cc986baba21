"""A judge review's redecision reaches the registry, the certificate and the transparency log.

Why a step of its own: ``modelcert judges redecide`` and the reviewer page re-decide an
audit's judged requirements from reviewers' labels and rewrite its result; the registry
must then say what the audit now shows, or a certificate issued on the bundled judge's
verdict would stay "valid" after a review of this model's own answers undid it. The
rules are data in :func:`modelcert.registry.lifecycle.after_redecision`:

* an in-force certificate whose outcome no longer holds is suspended (the audit is now
  refused) or ends in ``certifiable`` (another certifiable outcome); either way the
  verification page stops calling it valid;
* a refusal that became certifiable moves to ``certifiable``: a certificate follows only
  through the explicit certification step (:func:`certify_reviewed`), never silently;
* a later review that restores a suspended certificate's outcome reinstates it;
* a review that keeps the outcome but changes a requirement verdict the certificate
  states moves the version to ``certifiable`` too: the certificate would otherwise go on
  showing a verdict the audit no longer has.

Every change is a status-history entry whose reason names the review (its evidence
run, labels digest, counts and the new bounds) and, with a lab key, a ``status`` entry in
the transparency log about the audit's certificate. The redecision itself (labels,
decisions, outcome) is already in the evidence log (``policy/judge_review.redecide``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelcert.registry import Conflict, Registry, Status
from modelcert.registry.lifecycle import after_redecision
from modelcert.web.config import LabConfig

#: Every review-driven status reason starts so (a later review recognises its own suspension).
PREFIX = "judge review of audit "
VERDICT_KEYS = ("id", "title", "verdict", "estimate", "bound", "n", "reason", "legal_basis")


@dataclass
class RegistryChange:
    """What a redecision did to the registry (``status`` None: the status stayed, ``note`` says why)."""

    audit_id: str
    version_id: int
    outcome_before: str
    outcome: str
    status_before: str
    status: str | None
    reason: str
    note: str = ""
    log_index: int | None = None


def _num(x: Any) -> str:
    return "—" if x is None else f"{x:.3g}" if isinstance(x, float) else str(x)


def review_reason(audit_id: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    """One line naming the review: run, labels digest, counts and the new bounds per requirement."""
    rv = after["judge_reviews"][-1]
    reqs = {r["id"]: r for r in after["requirements"]}
    parts = []
    for rid, change in sorted(rv["requirements"].items()):
        r = reqs[rid]
        jv = (r.get("details") or {}).get("judge_validation") or {}
        parts.append(
            f"{rid} {change['before']} -> {change['after']} (rate {_num(r.get('estimate'))}, bounds "
            f"[{_num(r.get('lower'))}, {_num(r.get('upper'))}] vs threshold {_num(r.get('threshold'))}; "
            f"{jv.get('labelled')} labels, {jv.get('misses')} misses, {jv.get('false_alarms')} false alarms, "
            f"bounds on this suite: misses <= {_num(jv.get('miss_upper'))}, false alarms <= "
            f"{_num(jv.get('false_alarm_upper'))})")
    return (f"{PREFIX}{audit_id}: outcome {before['outcome']} -> {after['outcome']}; evidence run {rv['run_id']}, "
            f"labels digest {rv['labels_digest']}; " + "; ".join(parts))


def _suspended_by_review(reg: Registry, version_id: int, audit_id: str) -> bool:
    last = next((e for e in reversed(reg.history(version_id)) if e.to_status == Status.SUSPENDED.value), None)
    # a hand-set status carries no audit id, whatever its reason says
    return last is not None and last.audit_id == audit_id and f"{PREFIX}{audit_id}:" in last.reason


def _audit_certificate(reg: Registry, version_id: int, audit_id: str) -> Any:
    return next((c for c in reg.certificates(version_id=version_id) if c.audit_id == audit_id), None)


def certificate_verdicts(body: str) -> dict[str, str]:
    """Requirement id -> verdict, as the certificate's signed statement states them (not verified here:
    the registry stored the body it issued)."""
    import json

    from modelcert.certify import dsse
    from modelcert.certify.logged import split_certificate

    envelope, _ = split_certificate(body.encode("utf-8"))
    statement = json.loads(dsse.b64decode_strict(envelope.payload, "payload"))
    return {r["id"]: r["verdict"] for r in statement["predicate"]["requirements"]}


def verdicts_hold(cert: Any, after: dict[str, Any]) -> bool:
    """Whether the certificate (if any) states exactly the redecided result's verdicts."""
    if cert is None:
        return True
    return certificate_verdicts(cert.body) == {r["id"]: r["verdict"] for r in after["requirements"]}


def follow_redecision(config: LabConfig, reg: Registry, audit_id: str, before: dict[str, Any],
                      after: dict[str, Any], *, actor: str) -> RegistryChange:
    """Carry a redecided result of registry audit ``audit_id`` into the registry (and the log).

    ``before``/``after``: the audit's result documents around the redecision. The audit
    row takes the new outcome and verdicts in any case; the version's status moves only
    if this audit is its latest finished one (a newer audit decides the status otherwise).
    """
    a = reg.audit(audit_id)
    if a.state != "finished" or a.kind != "audit":
        raise Conflict(f"{audit_id} is not a finished audit ({a.state}): only a finished audit is re-decided")
    v = reg.version(a.version_id)
    reason = review_reason(audit_id, before, after)
    cert = _audit_certificate(reg, v.id, audit_id)
    latest = reg.latest_finished_audit(v.id)
    to: Status | None = None
    note = ""
    if latest is None or latest.id != audit_id:
        note = f"audit {audit_id} is not version {v.id}'s latest audit ({latest.id if latest else 'none'}): its status stays"
    else:
        holds = verdicts_hold(cert, after)
        to = after_redecision(Status(v.status), after["outcome"], certificate_outcome=cert.outcome if cert else None,
                              suspended_by_this_review=_suspended_by_review(reg, v.id, audit_id),
                              certificate_verdicts_hold=holds)
        if to is Status.CERTIFIABLE and not holds and cert is not None and cert.outcome == after["outcome"]:
            reason = f"certificate {cert.id} states verdicts this review changed; re-issue needed: {reason}"
        if to is None:
            note = f"status {v.status} already agrees with outcome {after['outcome']}, or a review does not move it"
    if to is not None and to is Status.SUSPENDED and cert is not None:
        reason = f"certificate {cert.id} suspended: {reason}"
    verdicts = [{k: r.get(k) for k in VERDICT_KEYS} for r in after["requirements"]]
    ev = reg.record_redecision(audit_id, outcome=after["outcome"], verdicts=verdicts, to=to, reason=reason,
                               actor=actor or "lab")
    change = RegistryChange(audit_id, v.id, before["outcome"], after["outcome"], v.status,
                            ev.to_status if ev else None, reason, note)
    if ev is not None and config.private_key is not None:
        # about the audit's certificate; an audit the lab signed nothing for (no key when it
        # finished) is found by its pre-registration instead
        subject = cert.id if cert is not None else after["preregistration"]["hash"]
        change.log_index = _log_status(config, subject, change, after)
    return change


def _log_status(config: LabConfig, subject: str, change: RegistryChange, after: dict[str, Any]) -> int:
    rv = after["judge_reviews"][-1]
    return _append_status(config, subject, audit=change.audit_id, version=change.version_id,
                          from_status=change.status_before, to_status=str(change.status), reason=change.reason,
                          review={"run": rv["run_id"], "root": (after.get("evidence") or {}).get(rv["run_id"]),
                                  "labels_digest": rv["labels_digest"], "outcome_before": change.outcome_before,
                                  "outcome": change.outcome})


def _append_status(config: LabConfig, subject: str, *, audit: str | None, version: int, from_status: str | None,
                   to_status: str, reason: str, review: dict[str, Any] | None) -> int:
    from modelcert.translog import TransparencyLog
    from modelcert.translog.entries import status_entry
    from modelcert.web.worker import signing_key

    entry = status_entry(certificate=subject, audit=audit, version=version, from_status=from_status,
                         to_status=to_status, reason=reason, review=review, lab_id=config.lab_id)
    with TransparencyLog(config.db) as tlog:
        logged, _head = tlog.append(entry, signing_key(config))
    return logged.index


def log_status_change(config: LabConfig, reg: Registry, event: Any) -> int | None:
    """Log a status change made through the lab server (by hand, by monitoring) about the version's certificate.

    Why: a certificate suspended or revoked must be as visible in the public log as the
    certificate itself. Logged only when the lab has a key and the version holds a
    certificate (the newest one is the subject); returns the entry's index, or None.
    """
    if event is None or config.private_key is None:
        return None
    certs = reg.certificates(version_id=event.version_id)
    if not certs:
        return None
    return _append_status(config, certs[0].id, audit=event.audit_id, version=event.version_id,
                          from_status=event.from_status, to_status=event.to_status, reason=event.reason, review=None)


def certify_reviewed(config: LabConfig, reg: Registry, audit_id: str, *, actor: str) -> tuple[Any, str]:
    """The explicit certification step for a ``certifiable`` version: sign, log, store, move the status.

    The certificate is issued from the audit's current (redecided) result, through the
    same signing-and-logging path as at the end of an audit. Refused (``Conflict``)
    unless the version is ``certifiable``, this is its latest finished audit and the
    result's outcome is a certification the registry agrees with. Returns the status
    event and the certificate id.
    """
    import json

    if config.private_key is None:
        raise Conflict("this lab has no signing key: it cannot certify")
    a = reg.audit(audit_id)
    v = reg.version(a.version_id)
    if v.status != Status.CERTIFIABLE.value:
        raise Conflict(f"model version {v.id} is {v.status}, not certifiable: nothing to certify")
    if not a.out_dir or not (Path(a.out_dir) / "result.json").is_file():
        raise Conflict(f"audit {audit_id} has no result to certify")
    out = Path(a.out_dir)
    result = json.loads((out / "result.json").read_text("utf-8"))
    if result.get("outcome") != a.outcome:
        raise Conflict(f"audit {audit_id}'s result says {result.get('outcome')}, the registry {a.outcome}")
    latest = reg.latest_finished_audit(v.id)
    if latest is None or latest.id != audit_id:
        raise Conflict(f"audit {audit_id} is not the latest finished audit of version {v.id}")
    from modelcert.web.worker import certify_out, signing_key

    pre = (result.get("preregistration") or {}).get("hash")
    data, issued, until = certify_out(config, out, signing_key(config), audit_id=audit_id, preregistration=pre)
    ev = reg.certify_audit(audit_id, certificate=data, issued_at=issued, valid_until=until, outcome=a.outcome or "",
                           actor=actor or "lab")
    from modelcert.certify.logged import payload_digest

    return ev, payload_digest(data)
