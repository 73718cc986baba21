"""An independent RFC 9162 proof checker for the tests (``from transparency_reference import ...``).

It deliberately does not import modelcert, and it is written differently from
``modelcert.translog.merkle``: instead of the RFC's bit-twiddling verification loops it
rebuilds the roots by walking the recursive definitions of ``PATH`` and ``PROOF``
(RFC 9162 section 2.1.3.1 and 2.1.4.1) from the top, consuming proof nodes from the end.
Two different derivations agreeing is the point, as DSSE is checked against securesystemslib.
"""

from __future__ import annotations

import hashlib


def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _k(n: int) -> int:
    k = 1
    while 2 * k < n:
        k *= 2
    return k


def mth(leaf_hashes: list[bytes]) -> bytes:
    if not leaf_hashes:
        return hashlib.sha256(b"").digest()
    if len(leaf_hashes) == 1:
        return leaf_hashes[0]
    k = _k(len(leaf_hashes))
    return node(mth(leaf_hashes[:k]), mth(leaf_hashes[k:]))


def inclusion_ok(leaf_hash: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """Rebuild the root from the audit path by the recursive definition of PATH(m, D[n])."""
    if not 0 <= index < size:
        return False
    rest = list(proof)

    def up(m: int, n: int) -> bytes | None:
        if n == 1:
            return leaf_hash
        if not rest:
            return None
        sibling = rest.pop()  # PATH puts the top-level sibling last
        k = _k(n)
        if m < k:
            below = up(m, k)
            return None if below is None else node(below, sibling)
        below = up(m - k, n - k)
        return None if below is None else node(sibling, below)

    got = up(index, size)
    return got is not None and not rest and got == root


def consistency_ok(m: int, n: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    """Rebuild both roots from the proof by the recursive definition of SUBPROOF(m, D[n], b)."""
    if not 0 <= m <= n:
        return False
    if m == n:
        return not proof and old_root == new_root
    if m == 0:
        return not proof
    rest = list(proof)

    def walk(m: int, n: int, complete: bool) -> tuple[bytes, bytes] | None:
        if m == n:
            if complete:
                return old_root, old_root  # the old tree is this very subtree: no node given
            if len(rest) != 1:
                return None
            h = rest.pop()
            return h, h
        if not rest:
            return None
        sibling = rest.pop()
        k = _k(n)
        if m <= k:
            got = walk(m, k, complete)
            return None if got is None else (got[0], node(got[1], sibling))
        got = walk(m - k, n - k, False)
        return None if got is None else (node(sibling, got[0]), node(sibling, got[1]))

    got = walk(m, n, True)
    return got is not None and not rest and got == (old_root, new_root)
