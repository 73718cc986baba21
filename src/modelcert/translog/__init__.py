"""A public, append-only transparency log of audits (RFC 9162-style Merkle log).

The lab appends every audit's pre-registration and its final result, publishes signed
tree heads, and serves inclusion and consistency proofs, so an audit cannot quietly
disappear: a monitor that saved an earlier head detects any rewrite. See
``docs/transparency-log.md``.
"""

from modelcert.translog.heads import HEAD_TYPE, TreeHead, sign_head, verify_head
from modelcert.translog.store import Entry, LogError, TransparencyLog

__all__ = ["HEAD_TYPE", "Entry", "LogError", "TransparencyLog", "TreeHead", "sign_head", "verify_head"]
