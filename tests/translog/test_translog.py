"""The transparency log's Merkle proofs, checked by independent code and fixed RFC 6962 vectors.

``transparency_reference`` (tests/) rebuilds roots from the recursive definitions of
RFC 9162; it never imports modelcert. The fixed vectors are the Certificate Transparency
reference tree (leaves ``"" 00 10 2021 3031 40414243 ...``) used across CT implementations.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from modelcert.errors import VerificationError
from modelcert.translog import TransparencyLog, merkle, verify_head
from modelcert.translog.monitor import check_consistency
from transparency_reference import consistency_ok, inclusion_ok, leaf, mth

CT_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
)]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_PATH_0_OF_8 = ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                  "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                  "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]
CT_PATH_5_OF_8 = ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                  "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]
CT_PROOF_3_TO_8 = ["0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
                   "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
                   "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                   "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]


def _hex(xs: list[bytes]) -> list[str]:
    return [x.hex() for x in xs]


def test_fixed_rfc6962_vectors() -> None:
    hashes = [merkle.leaf_hash(x) for x in CT_LEAVES]
    for n in range(9):
        assert merkle.root(hashes[:n]).hex() == CT_ROOTS[n] == mth([leaf(x) for x in CT_LEAVES[:n]]).hex()
    assert _hex(merkle.inclusion_path(0, hashes)) == CT_PATH_0_OF_8
    assert _hex(merkle.inclusion_path(5, hashes)) == CT_PATH_5_OF_8
    assert _hex(merkle.consistency_proof(3, hashes)) == CT_PROOF_3_TO_8
    root8, root3 = bytes.fromhex(CT_ROOTS[8]), bytes.fromhex(CT_ROOTS[3])
    proof = [bytes.fromhex(h) for h in CT_PROOF_3_TO_8]
    assert merkle.verify_consistency(3, 8, root3, root8, proof) and consistency_ok(3, 8, root3, root8, proof)


def test_every_proof_verifies_independently_and_tampering_fails_in_both() -> None:
    rng = random.Random(9162)
    for n in range(1, 34):
        hashes = [merkle.leaf_hash(i.to_bytes(2, "big") + rng.randbytes(rng.randrange(0, 40))) for i in range(n)]
        root = merkle.root(hashes)
        assert root == mth(hashes)
        for i in range(n):
            path = merkle.inclusion_path(i, hashes)
            assert inclusion_ok(hashes[i], i, n, path, root) and merkle.verify_inclusion(hashes[i], i, n, path, root)
            other = (i + 1) % n
            if other != i:  # the same path does not prove another leaf or another position
                assert not inclusion_ok(hashes[other], i, n, path, root)
                assert not merkle.verify_inclusion(hashes[other], i, n, path, root)
            if path:
                bad = list(path)
                j = rng.randrange(len(bad))
                bad[j] = bytes([bad[j][0] ^ 1]) + bad[j][1:]
                assert not inclusion_ok(hashes[i], i, n, bad, root)
                assert not merkle.verify_inclusion(hashes[i], i, n, bad, root)
        for m in range(0, n + 1):
            proof = merkle.consistency_proof(m, hashes)
            old = merkle.root(hashes[:m])
            assert consistency_ok(m, n, old, root, proof), (m, n)
            assert merkle.verify_consistency(m, n, old, root, proof), (m, n)
            if 0 < m < n:
                # one entry removed from the old prefix and the tree regrown: no proof joins them
                forged = hashes[: m - 1] + hashes[m:] + [merkle.leaf_hash(b"replacement")]
                forged_root = merkle.root(forged)
                forged_proof = merkle.consistency_proof(m, forged)
                assert not consistency_ok(m, n, old, forged_root, forged_proof)
                assert not merkle.verify_consistency(m, n, old, forged_root, forged_proof)
                assert not merkle.verify_consistency(m, n, old, forged_root, proof)


def _entry(i: int, outcome: str = "certified") -> dict:
    return {"kind": "result", "subject": f"{i:064x}", "audit": f"a{i}", "outcome": outcome}


@pytest.fixture
def lab_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _independent_head(envelope: dict, key: Ed25519PrivateKey) -> dict:
    """Check a tree head's DSSE signature without modelcert: PAE by hand, Ed25519 by cryptography."""
    import base64

    payload = base64.b64decode(envelope["payload"], validate=True)
    ptype = envelope["payloadType"].encode()
    pae = b"DSSEv1 %d %b %d %b" % (len(ptype), ptype, len(payload), payload)
    [sig] = envelope["signatures"]
    key.public_key().verify(base64.b64decode(sig["sig"]), pae)  # raises if it does not verify
    return json.loads(payload)


def test_log_store_heads_and_proofs_verify_independently(db_url: str, lab_key) -> None:
    heads = []
    with TransparencyLog(db_url) as tlog:
        for i in range(11):
            entry, head = tlog.append(_entry(i, "refused" if i == 5 else "certified"), lab_key)
            assert entry.index == i and head.size == i + 1
            heads.append(head.envelope)
        bodies = [tlog.entry(i).body.encode() for i in range(11)]
        leaves = [leaf(b) for b in bodies]
        for h in heads:
            body = _independent_head(h, lab_key)
            n = body["size"]
            assert bytes.fromhex(body["root"]) == mth(leaves[:n])
            assert tlog.head(n) == h
            for i in range(n):
                size, path = tlog.inclusion(i, n)
                assert size == n and inclusion_ok(leaves[i], i, n, [bytes.fromhex(p) for p in path], mth(leaves[:n]))
        for a in range(12):
            for b in range(a, 12):
                _, proof = tlog.consistency(a, b)
                assert consistency_ok(a, b, mth(leaves[:a]), mth(leaves[:b]), [bytes.fromhex(p) for p in proof])
        assert [e.index for e in tlog.find(f"{5:064x}")] == [5]


def test_a_log_with_one_entry_removed_fails_the_consistency_check(db_url: str, tmp_path: Path, lab_key) -> None:
    with TransparencyLog(db_url) as honest:
        for i in range(8):
            honest.append(_entry(i, "refused" if i == 3 else "certified"), lab_key)
        saved = honest.head()  # a monitor saved this head
    # the lab rebuilds its log without the refused audit, then keeps logging
    with TransparencyLog(str(tmp_path / "rewritten.sqlite")) as rewritten:
        for i in [*range(8), 8, 9]:
            if i != 3:
                rewritten.append(_entry(i), lab_key)
        current = rewritten.head()
        _, proof = rewritten.consistency(saved_size := 8, rewritten.size())
        leaves = rewritten.leaves()
    pub = lab_key.public_key()
    with pytest.raises(VerificationError, match="not consistent"):
        check_consistency(saved, current, proof, pub)
    # the independent checker agrees
    old_root = bytes.fromhex(_independent_head(saved, lab_key)["root"])
    assert not consistency_ok(saved_size, 9, old_root, mth(leaves), [bytes.fromhex(p) for p in proof])
    # and the same log, honestly extended, passes
    with TransparencyLog(db_url) as honest:
        honest.append(_entry(8), lab_key)
        old, new = check_consistency(saved, honest.head(), honest.consistency(8)[1], pub)
    assert (old.size, new.size) == (8, 9)


def test_a_shrunk_log_and_a_foreign_head_are_refused(tmp_path: Path, lab_key) -> None:
    with TransparencyLog(str(tmp_path / "l.sqlite")) as tlog:
        for i in range(4):
            tlog.append(_entry(i), lab_key)
        big, small = tlog.head(4), tlog.head(2)
    with pytest.raises(VerificationError, match="shrank"):
        check_consistency(big, small, [], lab_key.public_key())
    with pytest.raises(VerificationError):
        verify_head(big, Ed25519PrivateKey.generate().public_key())
    forged = json.loads(json.dumps(big))
    forged["signatures"].append(forged["signatures"][0])
    with pytest.raises(VerificationError, match="exactly one signature"):
        verify_head(forged, lab_key.public_key())


def test_the_database_refuses_to_rewrite_the_log(db_url: str, lab_key) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DatabaseError

    with TransparencyLog(db_url) as tlog:
        tlog.append(_entry(0), lab_key)
        for sql in ("DELETE FROM translog_entries", "UPDATE translog_heads SET root = 'x'"):
            with pytest.raises(DatabaseError, match="append-only"), tlog.engine.begin() as conn:
                conn.execute(text(sql))


def test_the_empty_log_has_a_signed_head_a_monitor_can_start_from(db_url: str, lab_key) -> None:
    with TransparencyLog(db_url) as tlog:
        empty = tlog.sign_empty_head(lab_key)
        assert empty is not None and tlog.sign_empty_head(lab_key) is None  # published once
        assert verify_head(tlog.head(), lab_key.public_key()).size == 0
        assert empty.root == CT_ROOTS[0]
        tlog.append(_entry(0), lab_key)
        old, new = check_consistency(empty.envelope, tlog.head(), tlog.consistency(0)[1], lab_key.public_key())
    assert (old.size, new.size) == (0, 1)
