"""Mutation fuzz: every altered certificate is rejected with one line, never a traceback."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import timedelta

import pytest
from certify_fixtures import audit_result

from modelcert.certify import keys
from modelcert.certify.issue import issue_certificate
from modelcert.certify.statement import AuditResult
from modelcert.certify.verify import verify_certificate
from modelcert.errors import VerificationError

N_MUTATIONS = 3000
PRINTABLE = bytes(range(0x20, 0x7F))


def _byte(rng: random.Random) -> int:
    """Half printable ASCII (reaches JSON, base64 and hex parsing), half any byte."""
    return rng.choice(PRINTABLE) if rng.random() < 0.5 else rng.randrange(256)
N_CLI = 10


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One random mutation: single-byte replace, multi-byte replace, insert, delete or bit flip."""
    b = bytearray(data)
    kind = rng.choice(["replace1", "replace-many", "run", "insert", "delete", "flip"])
    if kind == "replace1":
        i = rng.randrange(len(b))
        b[i] = rng.choice([x for x in (_byte(rng), _byte(rng), (b[i] + 1) % 256) if x != b[i]])
    elif kind == "replace-many":
        for i in rng.sample(range(len(b)), rng.randint(2, 8)):
            b[i] = _byte(rng)
    elif kind == "run":
        i = rng.randrange(len(b))
        b[i : i + rng.randint(2, 16)] = bytes(_byte(rng) for _ in range(rng.randint(2, 16)))
    elif kind == "insert":
        i = rng.randrange(len(b) + 1)
        b[i:i] = bytes(_byte(rng) for _ in range(rng.randint(1, 4)))
    elif kind == "delete":
        i = rng.randrange(len(b))
        del b[i : i + rng.randint(1, 4)]
    else:
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return kind, bytes(b)


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    key_path, pub_path = folder / "lab.key", folder / "lab.pub"
    key = keys.generate_keypair(key_path, pub_path)
    data, statement = issue_certificate(AuditResult.model_validate(audit_result("weights")), key, lab_id="lab-fuzz")
    (folder / "cert.json").write_bytes(data)
    at = statement.predicate.issued_at + timedelta(days=1)
    return folder, data, key.public_key(), at


def _mutations(data: bytes) -> list[tuple[str, bytes]]:
    rng = random.Random(20260301)
    out: list[tuple[str, bytes]] = []
    while len(out) < N_MUTATIONS:
        kind, m = mutate(data, rng)
        if m != data:
            out.append((kind, m))
    return out


def test_every_mutation_is_rejected_in_process(signed):
    _folder, data, pub, at = signed
    verify_certificate(data, pub, at=at)  # the original is valid
    mutations = _mutations(data)
    kinds: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for kind, m in mutations:
        kinds[kind] = kinds.get(kind, 0) + 1
        with pytest.raises(VerificationError) as err:  # any other exception fails the test
            verify_certificate(m, pub, at=at)
        msg = str(err.value)
        assert msg and "\n" not in msg
        reasons[msg.split(":")[0][:40]] = reasons.get(msg.split(":")[0][:40], 0) + 1
    assert len(mutations) >= 1000 and len(kinds) == 6
    # mutations reach several distinct layers (JSON, canonical form, base64, key id, signature)
    assert len(reasons) >= 4, reasons
    print("fuzz rejection reasons:", reasons)


def test_sample_of_mutations_through_the_cli(signed):
    folder, data, _pub, _at = signed
    rng = random.Random(7)
    sample = rng.sample(_mutations(data), N_CLI)
    for i, (_kind, m) in enumerate(sample):
        path = folder / f"m{i}.json"
        path.write_bytes(m)
        proc = subprocess.run(
            [sys.executable, "-m", "modelcert", "verify", str(path), "--key", str(folder / "lab.pub")],
            capture_output=True, text=True, timeout=60,
        )
        # a mutation that leaves no JSON is malformed input (2); one that parses but fails is 1
        malformed = "is not valid JSON" in proc.stderr or "is not UTF-8" in proc.stderr
        assert proc.returncode == (2 if malformed else 1), (proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "modelcert", "verify", str(folder / "cert.json"), "--key", str(folder / "lab.pub")],
        capture_output=True, text=True, timeout=60,
    )
    assert ok.returncode == 0, ok.stderr


def test_semantic_no_op_edits_are_rejected_too(signed):
    """Whitespace, escapes and key order do not change the JSON value, but they change the file."""
    _folder, data, pub, at = signed
    obj = json.loads(data)
    variants = [
        json.dumps(obj, separators=(",", ":"), sort_keys=True).encode(),  # no trailing newline
        json.dumps(obj, sort_keys=True).encode() + b"\n",  # spaces
        data.replace(b'"payloadType"', b'"payload\\u0054ype"'),  # escaped key
        json.dumps(dict(reversed(obj.items())), separators=(",", ":")).encode() + b"\n",  # key order
    ]
    for v in variants:
        assert json.loads(v) == obj
        with pytest.raises(VerificationError, match="canonical form"):
            verify_certificate(v, pub, at=at)
