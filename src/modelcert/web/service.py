"""What the API and the pages share: scoped look-ups, verification, evidence views.

Scoping is the one rule of provider isolation: a provider asking for another
provider's version, audit or evidence gets the same 404 as for an id that does not
exist, so it cannot even learn which ids are taken.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException

from modelcert.errors import ModelcertError
from modelcert.evidence.chain import digest
from modelcert.registry import NotFound, Registry, VersionView
from modelcert.registry.lifecycle import IN_FORCE
from modelcert.registry.tables import Audit
from modelcert.web.schemas import CertificateOut, VerifyOut
from modelcert.web.security import Principal

#: Evidence record kinds a provider sees in full; every other kind is reduced to a digest.
PROVIDER_VISIBLE_KINDS = frozenset({"run_start", "round", "decision", "outcome", "run_end", "resume"})
#: Fields of a sample record a provider sees: never the test item (input, target,
#: messages, metadata), so secret-suite items cannot leak through any sample.
PROVIDER_SAMPLE_FIELDS = ("sample_id", "epoch", "scores", "timing", "usage")


def scoped_version(reg: Registry, p: Principal, version_id: int) -> VersionView:
    try:
        v = reg.version(version_id)
    except NotFound:
        raise HTTPException(404, f"no model version {version_id}") from None
    if p.scope() is not None and v.provider_id != p.scope():
        raise HTTPException(404, f"no model version {version_id}")
    return v


def scoped_audit(reg: Registry, p: Principal, audit_id: str) -> tuple[Audit, VersionView]:
    try:
        a = reg.audit(audit_id)
    except NotFound:
        raise HTTPException(404, f"no audit {audit_id}") from None
    v = reg.version(a.version_id)
    if p.scope() is not None and v.provider_id != p.scope():
        raise HTTPException(404, f"no audit {audit_id}")
    return a, v


def certificate_outs(reg: Registry, *, provider_id: int | None = None) -> list[CertificateOut]:
    versions = {v.id: v for v in reg.versions(provider_id=provider_id)}
    out = []
    for c in reg.certificates(provider_id=provider_id):
        v = versions[c.version_id]
        out.append(
            CertificateOut(
                id=c.id,
                version_id=v.id,
                provider=v.provider,
                model=v.model,
                version=v.version,
                audit_id=c.audit_id,
                outcome=c.outcome,
                issued_at=c.issued_at,
                valid_until=c.valid_until,
                status=v.status,
            )
        )
    return out


def audit_certificate_id(reg: Registry, audit: Audit) -> str | None:
    for c in reg.certificates(version_id=audit.version_id):
        if c.audit_id == audit.id:
            return c.id
    return None


def verify_bytes(reg: Registry, public_key: Any, data: bytes) -> VerifyOut:
    """Verify certificate bytes with the lab key, and add the registry's current status.

    ``genuine`` means the file verifies offline (form, one signature by this lab's key,
    dates, inclusion proof). ``valid`` means genuine *and current*: the outcome is a
    certification, this registry holds the certificate (looked up by the digest of its
    signed payload, so no re-encoding of the file escapes it) and the model version's
    status today is certified. ``status`` says which case it is, in one word.
    """
    from modelcert.certify import verify_certificate

    if public_key is None:
        return VerifyOut(valid=False, status="invalid", reason="this lab server has no public key configured")
    try:
        vc = verify_certificate(data, public_key)
    except ModelcertError as exc:
        return VerifyOut(valid=False, status="invalid", reason=str(exc))
    pred = vc.statement.predicate
    try:
        status: str | None = reg.version(reg.certificate(vc.certificate_digest).version_id).status
    except NotFound:
        status = None
    if pred.outcome == "refused":
        word, reason = "refused", "genuine, but this certificate records a refusal: the model was not certified"
    elif status is None:
        word, reason = "not_in_registry", "genuine signature, but this registry does not hold this certificate"
    elif status not in {s.value for s in IN_FORCE}:
        word, reason = status, f"genuine, but this model version is now {status.replace('_', ' ')} in the registry"
    elif status != pred.outcome:  # e.g. a judge review re-decided the audit and a new certificate says so
        word, reason = "superseded", (f"genuine, but it says {pred.outcome.replace('_', ' ')} and this model version "
                                      f"is now {status.replace('_', ' ')} in the registry")
    else:
        word, reason = pred.outcome, None
    return VerifyOut(
        valid=reason is None,
        genuine=True,
        status=word,
        reason=reason,
        certificate_id=vc.certificate_digest,
        keyid=vc.keyid,
        model=pred.target.model,
        outcome=pred.outcome,
        access_tier=pred.access_tier,
        policy=pred.policy.id,
        issued_at=pred.issued_at,
        valid_until=pred.valid_until,
        registry_status=status,
        log_index=vc.log_index,
        log_tree_size=vc.log_head.size if vc.log_head is not None else None,
        requirements=[r.model_dump(mode="json") for r in pred.requirements],
    )


def normalise_pasted(text: str) -> bytes:
    """A pasted certificate: surrounding whitespace dropped, CRLF from the form undone.

    The canonical file has no whitespace inside and ends with one newline, so this
    restores the exact bytes of a faithfully copied certificate and nothing else.
    """
    return text.strip().replace("\r\n", "\n").encode("utf-8") + b"\n"


def redact_for_provider(rec: dict[str, Any]) -> dict[str, Any]:
    """A provider's view of one evidence record envelope (see the module constants)."""
    data = rec.get("data") if isinstance(rec.get("data"), dict) else {}
    out = {k: rec[k] for k in ("seq", "kind", "at", "run", "hash", "prev") if k in rec}
    if rec.get("kind") in PROVIDER_VISIBLE_KINDS:
        out["data"] = data
    elif rec.get("kind") in ("sample", "sample_error"):
        kept = {k: data[k] for k in PROVIDER_SAMPLE_FIELDS if k in data}
        if isinstance(data.get("error"), dict):
            kept["error"] = {"message": str(data["error"].get("message", ""))[:500]}
        kept["redacted"] = "test item withheld"
        kept["data_digest"] = digest(data)
        out["data"] = kept
    else:
        out["data"] = {"redacted": "lab-internal record", "data_digest": digest(data)}
    return out


def audit_result(audit: Audit) -> dict[str, Any] | None:
    """The audit's ``result.json``, if the audit finished and the file is readable."""
    if audit.state != "finished" or not audit.out_dir:
        return None
    from pathlib import Path

    try:
        return json.loads((Path(audit.out_dir) / "result.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def evidence_runs(audit: Audit) -> dict[str, str]:
    result = audit_result(audit)
    ev = result.get("evidence") if result else None
    return dict(ev) if isinstance(ev, dict) else {}
