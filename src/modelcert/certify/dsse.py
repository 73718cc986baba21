"""DSSE (Dead Simple Signing Envelope) v1 with Ed25519: the wire format of certificates.

We implement the published spec (github.com/secure-systems-lab/dsse), not a look-alike:
the signature covers the Pre-Authentication Encoding

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

where LEN is the byte length in ASCII decimal and SP is one space, and the envelope is
``{"payload": b64(body), "payloadType": type, "signatures": [{"keyid", "sig": b64}]}``.
The tests check interoperability against securesystemslib in both directions.

Base64 fields must be canonical *standard* base64 (RFC 4648 section 4, with padding):
URL-safe text, embedded whitespace and non-canonical encodings that decode to the same
bytes are rejected, so that no byte of a certificate can change without verification
failing. A certificate carries exactly one signature, by the lab's key id: extra,
repeated or foreign signatures are rejected rather than ignored (see
``docs/threat-model.md``, "What a valid certificate means").
"""

from __future__ import annotations

import base64
import binascii
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelcert.certify.keys import key_id
from modelcert.errors import VerificationError
from modelcert.evidence.chain import canonical_json

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding of ``payload`` under ``payload_type``."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(t), t, len(payload), payload)


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: str, what: str) -> bytes:
    """Decode standard base64, rejecting every other spelling of the same bytes.

    ``validate=True`` refuses characters outside the standard alphabet (so URL-safe
    ``-``/``_`` and whitespace); re-encoding and comparing refuses missing padding and
    non-zero trailing bits.
    """
    try:
        raw = text.encode("ascii")
        data = base64.b64decode(raw, validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise VerificationError(f"{what} is not standard base64") from None
    if base64.b64encode(data) != raw:
        raise VerificationError(f"{what} is not canonical base64")
    return data


class Signature(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    keyid: str
    sig: str


class Envelope(BaseModel):
    """A DSSE envelope as it appears on the wire (JSON field names per the spec)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    payload: str
    payloadType: str  # the spec's field name
    signatures: list[Signature] = Field(min_length=1)


def sign(payload: bytes, payload_type: str, private_key: Ed25519PrivateKey) -> Envelope:
    """Sign ``payload`` and wrap it in a DSSE envelope with one Ed25519 signature."""
    sig = private_key.sign(pae(payload_type, payload))
    return Envelope(
        payload=b64encode(payload),
        payloadType=payload_type,
        signatures=[Signature(keyid=key_id(private_key.public_key()), sig=b64encode(sig))],
    )


def verify(envelope: Envelope, public_key: Ed25519PublicKey) -> bytes:
    """Verify the envelope's one signature by ``public_key`` and return the payload bytes.

    Exactly one signature is allowed, and it must carry our key id. A second signature
    (a repeat of ours, or anyone else's) is rejected, not ignored: otherwise the same
    signed payload would have many spellings as a file.
    """
    kid = key_id(public_key)
    if len(envelope.signatures) != 1:
        raise VerificationError(f"a certificate carries exactly one signature, this one has {len(envelope.signatures)}")
    s = envelope.signatures[0]
    if s.keyid != kid:
        raise VerificationError(f"no signature by key {kid[:16]}… (wrong key or altered key id)")
    payload = b64decode_strict(envelope.payload, "payload")
    sig = b64decode_strict(s.sig, "signature")
    try:
        public_key.verify(sig, pae(envelope.payloadType, payload))
    except InvalidSignature:
        raise VerificationError("signature does not verify: the certificate was altered") from None
    return payload


def envelope_bytes(envelope: Envelope) -> bytes:
    """The certificate file form: the envelope's canonical JSON plus one newline."""
    return canonical_json(envelope.model_dump(mode="json")) + b"\n"


class MalformedCertificateError(VerificationError):
    """The file is not a certificate at all (not UTF-8 JSON): malformed input, exit code 2.

    A file that parses but does not verify stays a :class:`VerificationError` (exit 1).
    """

    exit_code = 2


def parse_envelope(data: bytes) -> Envelope:
    """Parse a certificate file; only the exact bytes of :func:`envelope_bytes` are accepted.

    Requiring the canonical form means whitespace, escapes or key order cannot be
    changed either, so the file's own SHA-256 is a stable certificate id.
    """
    try:
        obj = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise MalformedCertificateError("certificate is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise MalformedCertificateError(
            f"certificate is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    except (ValueError, RecursionError):
        raise MalformedCertificateError("certificate is not valid JSON") from None
    if not isinstance(obj, dict):
        raise VerificationError("certificate is not a JSON object")
    try:
        envelope = Envelope.model_validate(obj)
    except ValidationError as exc:
        raise VerificationError(f"not a DSSE envelope: {first_error(exc)}") from None
    if envelope_bytes(envelope) != data:
        raise VerificationError("certificate file is not in canonical form (edited or re-serialized)")
    return envelope


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def first_error(exc: ValidationError) -> str:
    """A pydantic validation error as one line: the first problem and where it is."""
    errors = exc.errors()
    e = errors[0]
    where = ".".join(str(p) for p in e["loc"]) or "(top level)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return " ".join(f"{where}: {e['msg']}{more}".split())
