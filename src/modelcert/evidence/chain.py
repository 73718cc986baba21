"""Canonical JSON, record hashing and Merkle trees: the single definition.

Everything modelcert hashes (evidence records, manifests, policies, certificates'
predicates, secret-suite commitments) goes through :func:`canonical_json`, so two
parties who agree on the data agree on the bytes.

Canonical JSON here means: keys sorted, UTF-8 (no ASCII escaping), no insignificant
whitespace, no NaN/Infinity, and floats written by Python's shortest round-trip repr.

Merkle trees follow RFC 6962 (Certificate Transparency): leaf hash
``sha256(0x00 || leaf)``, node hash ``sha256(0x01 || left || right)``, the empty tree
hashes to ``sha256(b"")``, and the split point is the largest power of two below n.
Using a published construction lets a third party verify roots and inclusion proofs
with any independent implementation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

GENESIS = "0" * 64  # ``prev`` of the first record of a run


def canonical_json(obj: Any) -> bytes:
    """Serialize ``obj`` to canonical JSON bytes (see module docstring)."""
    return json.dumps(
        obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(obj: Any) -> str:
    """SHA-256 hex digest of an object's canonical JSON."""
    return sha256_hex(canonical_json(obj))


def record_hash(body: Any, prev: str) -> str:
    """Hash of one evidence record: its body chained to the previous record's hash."""
    return sha256_hex(canonical_json({"body": body, "prev": prev}))


def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _root(leaves: Sequence[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node(_root(leaves[:k]), _root(leaves[k:]))


def merkle_root(items: Sequence[bytes]) -> str:
    """RFC 6962 Merkle tree hash of ``items`` (raw leaf bytes), as hex."""
    if not items:
        return sha256_hex(b"")
    return _root([_leaf(x) for x in items]).hex()


def inclusion_proof(items: Sequence[bytes], index: int) -> list[str]:
    """Audit path for ``items[index]`` (RFC 6962 section 2.1.1), as hex hashes."""
    if not 0 <= index < len(items):
        raise IndexError(f"leaf index {index} out of range for {len(items)} leaves")

    def path(leaves: list[bytes], m: int) -> list[bytes]:
        if len(leaves) == 1:
            return []
        k = _split(len(leaves))
        if m < k:
            return [*path(leaves[:k], m), _root(leaves[k:])]
        return [*path(leaves[k:], m - k), _root(leaves[:k])]

    return [h.hex() for h in path([_leaf(x) for x in items], index)]


def verify_inclusion(item: bytes, index: int, size: int, proof: Sequence[str], root: str) -> bool:
    """Check an RFC 6962 / RFC 9162 inclusion proof without the other leaves."""
    if not 0 <= index < size:
        return False
    try:
        path = [bytes.fromhex(p) for p in proof]
    except ValueError:
        return False
    fn, sn = index, size - 1
    r = _leaf(item)
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r.hex() == root
