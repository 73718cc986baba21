"""Log a signed certificate and hand back the file that carries its inclusion proof."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from modelcert.translog.entries import result_entry
from modelcert.translog.store import TransparencyLog


def log_certificate(
    db: str | None,
    envelope_bytes: bytes,
    key: Ed25519PrivateKey,
    *,
    audit: str | None = None,
    preregistration: str | None = None,
) -> bytes:
    """Append the certificate's ``result`` entry to the log at ``db`` and attach the proof.

    The entry names the digest of the signed payload, the outcome, the audit result
    digest and the evidence roots, so a refusal is as visible in the log as a
    certification. Returns the logged-certificate file bytes.
    """
    from modelcert.certify import dsse
    from modelcert.certify.logged import attach_proof
    from modelcert.evidence.chain import sha256_hex

    envelope = dsse.parse_envelope(envelope_bytes)
    payload = dsse.b64decode_strict(envelope.payload, "payload")
    predicate: dict[str, Any] = json.loads(payload)["predicate"]
    entry = result_entry(
        audit=audit,
        payload_digest=sha256_hex(payload),
        outcome=predicate["outcome"],
        result_digest=predicate["audit_result_digest"],
        evidence=predicate["evidence"],
        preregistration=preregistration,
        lab_id=predicate["lab_id"],
    )
    with TransparencyLog(db) as tlog:
        logged, head = tlog.append(entry, key)
        size, path = tlog.inclusion(logged.index, head.size)
    return attach_proof(envelope_bytes, {
        "entry": entry, "index": logged.index, "tree_size": size, "inclusion_proof": path,
        "tree_head": head.envelope,
    })
