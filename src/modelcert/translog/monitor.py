"""Monitoring: is the log's new head an extension of the head we saved earlier?

A monitor keeps the last tree head it checked. Later it fetches the current head and a
consistency proof between the two sizes, and checks both signatures and the proof
offline. If the lab deleted or changed any entry (a refused audit, say) between the two
heads, no consistency proof exists, and the two signed heads are the evidence.
"""

from __future__ import annotations

import binascii
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from modelcert.errors import VerificationError
from modelcert.translog import merkle
from modelcert.translog.heads import TreeHead, verify_head


def check_consistency(
    saved: Any, current: Any, proof: list[str], public_key: Ed25519PublicKey
) -> tuple[TreeHead, TreeHead]:
    """Verify that the signed head ``current`` extends the signed head ``saved``."""
    old = verify_head(saved, public_key)
    new = verify_head(current, public_key)
    if new.size < old.size:
        raise VerificationError(f"the log shrank from {old.size} to {new.size} entries: entries were deleted")
    try:
        path = [binascii.unhexlify(p) for p in proof]
    except (binascii.Error, TypeError, ValueError):
        raise VerificationError("the consistency proof is not hex") from None
    if any(len(p) != 32 for p in path) or not merkle.verify_consistency(
        old.size, new.size, bytes.fromhex(old.root), bytes.fromhex(new.root), path
    ):
        raise VerificationError(
            f"the log's head of size {new.size} is not consistent with the saved head of size {old.size}: "
            "the lab rewrote or removed logged entries"
        )
    return old, new


class HttpLog:
    """A lab's log read over its REST API (``/api/v1/log/...``)."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, **params: Any) -> Any:
        import httpx

        from modelcert.errors import ConfigError

        try:
            r = httpx.get(f"{self.url}/api/v1/log/{path}", params=params, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise ConfigError(f"cannot reach {self.url}: {exc}") from None
        if r.status_code != 200:
            raise VerificationError(f"{self.url} answered {r.status_code} for log/{path}: {r.text[:200]}")
        return r.json()

    def head(self) -> Any:
        return self._get("head")

    def consistency(self, old_size: int, new_size: int) -> list[str]:
        return self._get("consistency", first=old_size, second=new_size)["proof"]

    def inclusion(self, index: int, size: int) -> list[str]:
        return self._get("inclusion", index=index, size=size)["proof"]
