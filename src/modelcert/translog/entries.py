"""What the lab writes into its transparency log, and how a holder checks one entry.

Three kinds of entry, each the canonical JSON of a small object:

- ``preregistration``: written when an audit pre-registers, before any query.
  ``subject`` is the hash of the audit run's ``preregistration`` evidence record.
- ``result``: written when an audit ends, whatever its outcome (refused included).
  ``subject`` is the SHA-256 of the signed certificate payload; the entry also names
  the outcome, the audit result digest, the pre-registration it closes and the
  evidence roots.
- ``status``: written when the registry status of a model version that holds a
  certificate changes through the lab server (suspended, revoked, reinstated, by hand or
  by monitoring), and when a judge review re-decides an audit and the status changes
  because of it (a certificate suspended or ended, a refusal become certifiable, a
  suspension lifted). ``subject`` is the id of the version's newest certificate (for a
  review: the certificate of the re-decided audit, or that audit's pre-registration hash
  if it has none); the entry names the change and its reason, and for a review the
  review's evidence run, its Merkle root and its labels digest (``review`` is null
  otherwise).

A pre-registration with no later result is an audit that started and never reported:
the log shows it to anyone who reads it.
"""

from __future__ import annotations

from typing import Any

PREREGISTRATION = "preregistration"
RESULT = "result"
STATUS = "status"


def preregistration_entry(*, audit: str | None, run: str, record_hash: str, lab_id: str) -> dict[str, Any]:
    return {"kind": PREREGISTRATION, "subject": record_hash, "audit": audit, "run": run, "lab_id": lab_id}


def result_entry(
    *, audit: str | None, payload_digest: str, outcome: str, result_digest: str,
    evidence: dict[str, str], preregistration: str | None, lab_id: str,
) -> dict[str, Any]:
    return {
        "kind": RESULT,
        "subject": payload_digest,
        "audit": audit,
        "outcome": outcome,
        "audit_result_digest": result_digest,
        "evidence": dict(evidence),
        "preregistration": preregistration,
        "lab_id": lab_id,
    }


def status_entry(
    *, certificate: str, audit: str | None, version: int, from_status: str | None, to_status: str, reason: str,
    review: dict[str, Any] | None, lab_id: str,
) -> dict[str, Any]:
    return {
        "kind": STATUS,
        "subject": certificate,
        "audit": audit,
        "version": version,
        "from": from_status,
        "to": to_status,
        "reason": reason,
        "review": dict(review) if review is not None else None,
        "lab_id": lab_id,
    }
