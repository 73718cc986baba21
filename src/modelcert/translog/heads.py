"""Signed tree heads: the lab's signed statement "my log has N entries and this root".

A tree head is the canonical JSON of ``{"log_id", "root", "size", "timestamp"}`` signed
as a DSSE envelope (payload type :data:`HEAD_TYPE`) with the lab's Ed25519 key, so it
reuses the certificate's signing and strict verification code. ``log_id`` is the lab's
key id. Two heads of the same log that a consistency proof cannot join prove the lab
rewrote its log: the lab signed both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from modelcert.errors import VerificationError
from modelcert.evidence.chain import canonical_json

HEAD_TYPE = "application/vnd.modelcert.tree-head+json"


@dataclass(frozen=True)
class TreeHead:
    log_id: str
    size: int
    root: str  # hex
    timestamp: str  # ISO 8601 UTC
    envelope: dict[str, Any]  # the signed DSSE envelope, as published


def sign_head(size: int, root: bytes, key: Ed25519PrivateKey, *, timestamp: datetime | None = None) -> TreeHead:
    """Sign the head of a tree of ``size`` entries with root hash ``root``."""
    from modelcert.certify import dsse
    from modelcert.certify.keys import key_id

    when = (timestamp or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    body = {"log_id": key_id(key.public_key()), "root": root.hex(), "size": size, "timestamp": when}
    env = dsse.sign(canonical_json(body), HEAD_TYPE, key)
    return TreeHead(body["log_id"], size, body["root"], when, env.model_dump(mode="json"))


def verify_head(envelope: Any, public_key: Ed25519PublicKey) -> TreeHead:
    """Check a published tree head's signature by the lab key; return its content."""
    from modelcert.certify import dsse
    from modelcert.certify.keys import key_id

    try:
        env = dsse.Envelope.model_validate(envelope)
    except ValidationError as exc:
        raise VerificationError(f"tree head is not a DSSE envelope: {dsse.first_error(exc)}") from None
    if env.payloadType != HEAD_TYPE:
        raise VerificationError(f"tree head payloadType is not {HEAD_TYPE}")
    payload = dsse.verify(env, public_key)
    try:
        body = json.loads(payload)
    except ValueError:
        raise VerificationError("tree head payload is not JSON") from None
    ok = (
        isinstance(body, dict)
        and set(body) == {"log_id", "root", "size", "timestamp"}
        and isinstance(body["size"], int)
        and not isinstance(body["size"], bool)
        and body["size"] >= 0
        and isinstance(body["root"], str)
        and len(body["root"]) == 64
        and all(c in "0123456789abcdef" for c in body["root"])
        and isinstance(body["timestamp"], str)
    )
    if not ok:
        raise VerificationError("tree head payload does not have the tree-head fields")
    if body["log_id"] != key_id(public_key):
        raise VerificationError("tree head names another log")
    return TreeHead(body["log_id"], body["size"], body["root"], body["timestamp"], env.model_dump(mode="json"))
