"""Certificate malleability: no re-spelling of a certificate escapes its registry status.

Each of >= 1,000 mutations (extra and duplicate signatures, base64 variants, whitespace,
key order, unicode escapes, the logged/bare forms, proof tampering, random bytes) must
either be rejected, or verify to the *same* payload digest and so the same registry
status. The certified model version is revoked first, so a mutation that escaped the
lookup would show up as "valid" or "not in this registry".
"""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from certify_fixtures import audit_result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from modelcert.certify import issue_certificate, keys
from modelcert.certify.logged import MAX_CERTIFICATE_BYTES, split_certificate
from modelcert.certify.statement import AuditResult
from modelcert.certify.verify import verify_certificate
from modelcert.errors import VerificationError
from modelcert.evidence.chain import sha256_hex
from modelcert.registry import Registry
from modelcert.translog.publish import log_certificate
from modelcert.web.service import verify_bytes

N_MUTATIONS = 1200


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A registry holding one logged certificate whose model version is then revoked."""
    tmp: Path = tmp_path_factory.mktemp("malleable")
    db = f"sqlite:///{tmp / 'lab.sqlite'}"
    key = keys.generate_keypair(tmp / "lab.key", tmp / "lab.pub")
    bare, statement = issue_certificate(AuditResult.model_validate(audit_result("api")), key, lab_id="lab-m")
    logged = log_certificate(db, bare, key, audit="a1")
    relogged = log_certificate(db, bare, key, audit="a1")  # logged again: another proof, the same statement
    reg = Registry(db)
    reg.add_provider("acme")
    v = reg.register_version("acme", "chat", "1", "local/zoo:clean", actor="t")
    reg.grant_access(v.id, "api", by="t")
    reg.create_audit(v.id, "p", "api", actor="t")
    a = reg.claim_next("w")
    p = statement.predicate
    reg.finish_audit(a.id, "w", outcome="certified", verdicts=[], out_dir=str(tmp), certificate=logged,
                     issued_at=p.issued_at, valid_until=p.valid_until)
    reg.set_status(v.id, "revoked", reason="found a backdoor", actor="t")
    payload = base64.b64decode(json.loads(bare)["payload"])
    yield reg, key, (bare, logged, relogged), sha256_hex(payload)
    reg.close()


# -- mutation operators: each takes the parsed file and an RNG and returns new file bytes -----

def _env(obj: dict) -> dict:
    return obj["dsseEnvelope"] if "dsseEnvelope" in obj else obj


def _canon(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _urlsafe(s: str) -> str:
    return s.replace("+", "-").replace("/", "_")


def op_duplicate_signature(obj, rng):
    e = _env(obj)
    e["signatures"] = e["signatures"] * rng.randint(2, 4)
    return _canon(obj)


def op_foreign_signature(obj, rng):
    other = Ed25519PrivateKey.generate()
    e = _env(obj)
    sig = base64.b64encode(other.sign(b"x")).decode()
    extra = {"keyid": keys.key_id(other.public_key()), "sig": sig}
    e["signatures"].insert(rng.randint(0, 1), extra)
    return _canon(obj)


def op_empty_signatures(obj, rng):
    _env(obj)["signatures"] = []
    return _canon(obj)


def op_b64_variant(obj, rng):
    e = _env(obj)
    field = rng.choice(["payload", "sig"])
    text = e["payload"] if field == "payload" else e["signatures"][0]["sig"]
    variant = rng.choice([
        _urlsafe(text), text.rstrip("="), text + "=", text[:10] + "\n" + text[10:], " " + text, text + " ",
        text[:4] + "\r\n" + text[4:], text.replace("=", "%3D"), text.lower(), text + "====",
    ])
    if variant == text:
        variant = text + "=="
    if field == "payload":
        e["payload"] = variant
    else:
        e["signatures"][0]["sig"] = variant
    return _canon(obj)


def op_whitespace(obj, rng):
    style = rng.choice(["indent", "spaces", "crlf", "bom", "trailing", "leading", "nonewline", "twonewlines"])
    if style == "indent":
        return json.dumps(obj, sort_keys=True, indent=rng.choice([1, 2, 4])).encode() + b"\n"
    if style == "spaces":
        return json.dumps(obj, sort_keys=True).encode() + b"\n"
    base = _canon(obj)
    return {
        "crlf": base[:-1] + b"\r\n", "bom": b"\xef\xbb\xbf" + base, "trailing": base[:-1] + b"  \n",
        "leading": b" " + base, "nonewline": base[:-1], "twonewlines": base + b"\n",
    }[style]


def _shuffled(x, rng):
    if isinstance(x, dict):
        items = list(x.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(x, list):
        return [_shuffled(v, rng) for v in x]
    return x


def op_key_order(obj, rng):
    for _ in range(10):
        out = json.dumps(_shuffled(obj, rng), separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        if out != _canon(obj):
            return out
    return json.dumps(dict(reversed(list(obj.items()))), separators=(",", ":")).encode() + b"\n"


def op_unicode_escape(obj, rng):
    text = _canon(obj).decode()
    chars = [i for i, c in enumerate(text) if c.isalpha()]
    i = rng.choice(chars)
    style = rng.choice(["u", "U", "slash"])
    if style == "slash" and "/" in text:
        return text.replace("/", "\\/", 1).encode()
    esc = f"\\u{ord(text[i]):04x}" if style == "u" else f"\\u{ord(text[i]):04X}"
    return (text[:i] + esc + text[i + 1:]).encode()


def op_keyid_case(obj, rng):
    e = _env(obj)
    e["signatures"][0]["keyid"] = e["signatures"][0]["keyid"].upper()
    return _canon(obj)


def op_extra_field(obj, rng):
    target = rng.choice([obj, _env(obj), _env(obj)["signatures"][0]])
    target[rng.choice(["x", "comment", "signature", "payload_b64"])] = rng.choice(["", "hi", 1, None])
    return _canon(obj)


def op_payload_type(obj, rng):
    e = _env(obj)
    e["payloadType"] = rng.choice([e["payloadType"].upper(), e["payloadType"] + " ", "application/json"])
    return _canon(obj)


def op_strip_to_bare(obj, rng):
    """The logged certificate reduced to its bare envelope: the same signed payload."""
    return _canon(_env(obj))


def op_proof_tamper(obj, rng):
    if "transparency" not in obj:
        return op_duplicate_signature(obj, rng)
    tp = obj["transparency"]
    what = rng.choice(["index", "proof", "outcome", "size", "drop-proof", "head-sig"])
    if what == "index":
        tp["index"] = tp["index"] + rng.choice([1, -1, 1000]) if tp["index"] else 1
    elif what == "proof" and tp["inclusion_proof"]:
        j = rng.randrange(len(tp["inclusion_proof"]))
        tp["inclusion_proof"][j] = "0" * 64
    elif what == "outcome":
        tp["entry"]["outcome"] = "refused"
    elif what == "size":
        tp["tree_size"] += 1
    elif what == "drop-proof":
        tp["inclusion_proof"].append("ab" * 32)
    else:
        tp["tree_head"]["signatures"] = tp["tree_head"]["signatures"] * 2
    return _canon(obj)


def op_random_bytes(obj, rng):
    b = bytearray(_canon(obj))
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(b))
        kind = rng.choice(["flip", "insert", "delete"])
        if kind == "flip":
            b[i] ^= 1 << rng.randrange(8)
        elif kind == "insert":
            b[i:i] = bytes([rng.randrange(32, 127)])
        else:
            del b[i]
    return bytes(b)


OPS = [op_duplicate_signature, op_foreign_signature, op_empty_signatures, op_b64_variant, op_whitespace,
       op_key_order, op_unicode_escape, op_keyid_case, op_extra_field, op_payload_type, op_strip_to_bare,
       op_proof_tamper, op_random_bytes]


def _mutations(forms: tuple[bytes, ...]) -> list[tuple[str, bytes]]:
    rng = random.Random(1717)
    out: list[tuple[str, bytes]] = []
    while len(out) < N_MUTATIONS:
        source = rng.choice(forms)
        obj = json.loads(source)
        names, data = [], source
        for _ in range(rng.choice([1, 1, 2])):
            op = rng.choice(OPS)
            try:
                data = op(obj, rng)
            except (IndexError, KeyError, TypeError, AttributeError):  # an earlier op removed what this one edits
                break
            names.append(op.__name__)
            try:
                obj = json.loads(data)
            except ValueError:
                break
            if not isinstance(obj, dict):
                break
        if names and data not in forms:
            out.append(("+".join(names), data))
    return out


def test_every_mutation_is_rejected_or_keeps_the_payload_digest_and_registry_status(lab) -> None:
    reg, key, forms, digest = lab
    pub = key.public_key()
    assert len(set(forms)) == 3
    for original in forms:  # every genuine form: the same id, the same (revoked) status, never valid
        r = verify_bytes(reg, pub, original)
        assert (r.genuine, r.valid, r.certificate_id, r.registry_status, r.status) == (
            True, False, digest, "revoked", "revoked")
    rejected, mapped, by_op, results = 0, 0, {}, {}
    for name, data in _mutations(forms):
        r = verify_bytes(reg, pub, data)
        results[name.split("+")[0]] = results.get(name.split("+")[0], 0) + (0 if r.genuine else 1)
        if r.genuine:
            # the only acceptable survivor: the same signed statement, found in the registry, revoked
            assert r.certificate_id == digest and r.registry_status == "revoked" and not r.valid, name
            assert verify_certificate(data, pub).certificate_digest == digest
            mapped += 1
        else:
            assert r.status == "invalid" and r.reason and "\n" not in r.reason, name
            with pytest.raises(VerificationError):
                verify_certificate(data, pub)
            rejected += 1
        by_op[name.split("+")[0]] = by_op.get(name.split("+")[0], 0) + 1
    assert rejected + mapped == N_MUTATIONS >= 1000
    assert rejected > 900
    assert set(by_op) == {op.__name__ for op in OPS}
    print(f"\n{N_MUTATIONS} mutations: {rejected} rejected, {mapped} kept the payload digest and status; "
          f"per first operator (rejected/total): {', '.join(f'{k}={results[k]}/{v}' for k, v in sorted(by_op.items()))}")


def test_size_cap_applies_before_parsing(lab, tmp_path) -> None:
    reg, key, (bare, _, _), _ = lab
    obj = json.loads(bare)
    obj["signatures"] = obj["signatures"] * 5718  # the red team's 1 MB certificate
    big = _canon(obj)
    assert len(big) > MAX_CERTIFICATE_BYTES
    with pytest.raises(VerificationError, match="limit"):
        split_certificate(big)
    r = verify_bytes(reg, key.public_key(), big)
    assert not r.genuine and "limit" in r.reason
    path = tmp_path / "huge.json"
    with path.open("wb") as fh:
        fh.truncate(100 * 1024 * 1024)  # 100 MB, sparse: read_certificate must not read it all
    from modelcert.certify.verify import read_certificate

    with pytest.raises(VerificationError, match="limit"):
        read_certificate(path)


def test_an_expired_genuine_certificate_is_not_valid(lab) -> None:
    reg, key, _, _ = lab
    data, _ = issue_certificate(AuditResult.model_validate(audit_result("api")), key, lab_id="lab-m",
                                issued_at=datetime.now(UTC) - timedelta(days=10), valid_days=1)
    r = verify_bytes(reg, key.public_key(), data)
    assert not r.genuine and not r.valid and "expired" in r.reason
