"""The certificate file: a DSSE envelope, alone or with its transparency-log proof.

Two file forms are accepted, each only in canonical JSON plus one newline:

- the bare DSSE envelope (what ``modelcert certify`` writes before the result is logged);
- a *logged certificate*: ``{"dsseEnvelope", "mediaType", "transparency"}``, where
  ``transparency`` holds the log entry for this certificate, its index, the signed tree
  head it was proven against and the RFC 9162 inclusion proof. This is the shape of a
  Sigstore bundle (envelope plus transparency-log material), with our own media type.

The transparency part is not signed by the certificate's signature (it cannot be: the
proof exists only after the signed payload is logged). It needs no signature: the
tree head is signed by the lab key, and the proof ties this payload's digest to it.
The certificate's identity is the SHA-256 of the signed payload in both forms.
"""

from __future__ import annotations

import binascii
import json
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelcert.certify import dsse
from modelcert.errors import VerificationError
from modelcert.evidence.chain import canonical_json, sha256_hex

MEDIA_TYPE = "application/vnd.modelcert.certificate+json;version=1"
#: Certificates above this size are refused before any parsing (a real one is a few KiB).
MAX_CERTIFICATE_BYTES = 256 * 1024

class Transparency(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    entry: dict[str, Any]
    index: int = Field(ge=0)
    tree_size: int = Field(ge=1)
    inclusion_proof: list[str] = Field(max_length=64)
    tree_head: dict[str, Any]


class LoggedCertificate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    dsseEnvelope: dsse.Envelope  # Sigstore bundle field name
    mediaType: Literal["application/vnd.modelcert.certificate+json;version=1"]
    transparency: Transparency


def check_size(data: bytes, limit: int = MAX_CERTIFICATE_BYTES) -> None:
    if len(data) > limit:
        raise VerificationError(f"certificate is {len(data)} bytes, over the {limit}-byte limit")


def _load(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:  # not a certificate at all: malformed input, exit 2
        raise dsse.MalformedCertificateError("certificate is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise dsse.MalformedCertificateError(
            f"certificate is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    except (ValueError, RecursionError):
        raise dsse.MalformedCertificateError("certificate is not valid JSON") from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def split_certificate(data: bytes) -> tuple[dsse.Envelope, Transparency | None]:
    """Parse either file form (size-capped, canonical only); return the envelope and log proof."""
    check_size(data)
    obj = _load(data)
    if not isinstance(obj, dict):
        raise VerificationError("certificate is not a JSON object")
    if "dsseEnvelope" not in obj:
        return dsse.parse_envelope(data), None
    try:
        cert = LoggedCertificate.model_validate(obj)
    except ValidationError as exc:
        raise VerificationError(f"not a logged certificate: {dsse.first_error(exc)}") from None
    if canonical_json(cert.model_dump(mode="json")) + b"\n" != data:
        raise VerificationError("certificate file is not in canonical form (edited or re-serialized)")
    return cert.dsseEnvelope, cert.transparency


def payload_digest(data: bytes) -> str:
    """The certificate id: SHA-256 of the signed payload (not of the file). Does not verify."""
    envelope, _ = split_certificate(data)
    return sha256_hex(dsse.b64decode_strict(envelope.payload, "payload"))


def attach_proof(envelope_bytes: bytes, transparency: dict[str, Any]) -> bytes:
    """The logged-certificate file for a bare envelope and its log material."""
    envelope = dsse.parse_envelope(envelope_bytes)
    cert = LoggedCertificate(
        dsseEnvelope=envelope, mediaType=MEDIA_TYPE, transparency=Transparency.model_validate(transparency)
    )
    return canonical_json(cert.model_dump(mode="json")) + b"\n"


def check_transparency(
    tp: Transparency, *, payload_sha256: str, outcome: str, public_key: Ed25519PublicKey
) -> Any:
    """Check offline that this certificate's result is in the lab's log; return the tree head.

    The tree head must be signed by the lab key, the entry must be a ``result`` entry
    naming this payload's digest and outcome, and the inclusion proof must lead from the
    entry's leaf hash to the head's root.
    """
    from modelcert.translog import merkle
    from modelcert.translog.entries import RESULT
    from modelcert.translog.heads import verify_head

    head = verify_head(tp.tree_head, public_key)
    entry = tp.entry
    if entry.get("kind") != RESULT or entry.get("subject") != payload_sha256:
        raise VerificationError("the transparency-log entry is not this certificate's result entry")
    if entry.get("outcome") != outcome:
        raise VerificationError("the transparency-log entry records another outcome")
    if tp.tree_size != head.size:
        raise VerificationError("the inclusion proof is for another tree size than the tree head")
    try:
        path = [binascii.unhexlify(p) for p in tp.inclusion_proof]
        leaf = merkle.leaf_hash(canonical_json(entry))
    except (binascii.Error, ValueError, TypeError):
        raise VerificationError("the inclusion proof is not hex") from None
    if any(len(p) != 32 for p in path) or not merkle.verify_inclusion(
        leaf, tp.index, tp.tree_size, path, bytes.fromhex(head.root)
    ):
        raise VerificationError("the inclusion proof does not lead to the signed tree head")
    return head


__all__ = [
    "MAX_CERTIFICATE_BYTES",
    "MEDIA_TYPE",
    "attach_proof",
    "check_size",
    "check_transparency",
    "payload_digest",
    "split_certificate",
]
