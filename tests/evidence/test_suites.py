"""Secret suites: commitments, reveal -> prove round trip, and every way a reveal can lie."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from modelcert.errors import ConfigError, EvidenceError, VerificationError
from modelcert.evidence import suites
from modelcert.evidence.chain import merkle_root

ITEMS = [{"id": f"h{i}", "input": f"secret prompt {i}", "target": "refuse"} for i in range(11)]


def _seal(items=ITEMS):
    return suites.seal(items, name="harmful")


def test_commitment_is_the_documented_formula():
    item = {"input": "x", "id": "a"}
    salt = bytes(32)
    want = hashlib.sha256(salt + b'{"id":"a","input":"x"}').hexdigest()
    assert suites.commitment(item, salt) == want
    # the root is RFC 6962 over the raw 32-byte commitments
    sealed = suites.seal([item], name="one", salt=lambda n: bytes(n))
    assert sealed.root == hashlib.sha256(b"\x00" + bytes.fromhex(want)).hexdigest()
    assert sealed.root == merkle_root([bytes.fromhex(want)])


def test_salts_are_fresh_so_commitments_hide_items():
    a, b = _seal(), _seal()
    assert a.root != b.root
    assert len(set(a.salts)) == len(ITEMS) and all(len(s) == 32 for s in a.salts)
    assert not set(a.commitments) & set(b.commitments)
    assert "secret prompt" not in json.dumps(a.public())


@pytest.mark.parametrize("ids", [["h0"], ["h10"], ["h3", "h4", "h9"], [i["id"] for i in ITEMS]])
def test_reveal_then_prove_round_trip(ids):
    sealed = _seal()
    proof = suites.reveal(sealed, ids)
    assert [i["id"] for i in suites.check_proof(proof, sealed.root)] == ids
    assert {i["item"]["id"] for i in proof["items"]} == set(ids)  # only the chosen items leave the lab


def _proof():
    sealed = _seal()
    return sealed, suites.reveal(sealed, ["h2", "h7"])


def test_changed_item_fails():
    sealed, proof = _proof()
    bad = copy.deepcopy(proof)
    bad["items"][1]["item"]["input"] = "secret prompt 7!"
    with pytest.raises(VerificationError, match=r"'h7'.*do not match its commitment"):
        suites.check_proof(bad, sealed.root)


def test_changed_item_with_recomputed_commitment_fails_the_proof():
    sealed, proof = _proof()
    bad = copy.deepcopy(proof)
    entry = bad["items"][0]
    entry["item"]["target"] = "comply"
    entry["commitment"] = suites.commitment(entry["item"], bytes.fromhex(entry["salt"]))
    with pytest.raises(VerificationError, match="inclusion proof does not lead to the root"):
        suites.check_proof(bad, sealed.root)


def test_swapped_salts_fail():
    sealed, proof = _proof()
    bad = copy.deepcopy(proof)
    a, b = bad["items"]
    a["salt"], b["salt"] = b["salt"], a["salt"]
    with pytest.raises(VerificationError, match="changed item or salt"):
        suites.check_proof(bad, sealed.root)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda e, p: e["proof"].__setitem__(0, "00" * 32),  # altered sibling hash
        lambda e, p: e["proof"].pop(),  # truncated path
        lambda e, p: e["proof"].append("11" * 32),  # extended path
        lambda e, p: e["proof"].reverse(),  # reordered path
        lambda e, p: e.__setitem__("index", e["index"] + 1),  # wrong position
        lambda e, p: p.__setitem__("size", e["index"]),  # index beyond the claimed tree size
        lambda e, p: p.__setitem__("size", 3),  # a tree size that changes the path's shape
    ],
)
def test_wrong_proof_fails(tamper):
    sealed, proof = _proof()
    bad = copy.deepcopy(proof)
    tamper(bad["items"][0], bad)
    with pytest.raises(VerificationError, match="inclusion proof"):
        suites.check_proof(bad, sealed.root)


def test_proof_from_another_item_fails():
    sealed, proof = _proof()
    bad = copy.deepcopy(proof)
    bad["items"][0]["proof"] = proof["items"][1]["proof"]
    with pytest.raises(VerificationError, match="inclusion proof"):
        suites.check_proof(bad, sealed.root)


def test_wrong_root_and_malformed_proofs_fail():
    sealed, proof = _proof()
    other = _seal()
    with pytest.raises(VerificationError, match="not the trusted root"):
        suites.check_proof(proof, other.root)
    # a proof re-rooted to the trusted root still fails on the path
    with pytest.raises(VerificationError, match="inclusion proof"):
        suites.check_proof({**proof, "root": other.root}, other.root)
    for bad in ({}, [], {**proof, "items": []}, {**proof, "extra": 1}, {**proof, "size": "11"}):
        with pytest.raises(VerificationError, match="not a suite proof"):
            suites.check_proof(bad, sealed.root)


def test_write_and_load_sealed(tmp_path):
    sealed = _seal()
    out = tmp_path / "sealed"
    suites.write_sealed(sealed, out)
    assert stat.S_IMODE((out / suites.SECRET_FILE).stat().st_mode) == 0o600
    public = json.loads((out / suites.PUBLIC_FILE).read_text())
    assert public["root"] == sealed.root and public["size"] == len(ITEMS)
    assert "secret prompt" not in (out / suites.PUBLIC_FILE).read_text()
    loaded = suites.load_sealed(out)
    assert loaded == sealed
    with pytest.raises(ConfigError, match="not an empty folder"):
        suites.write_sealed(sealed, out)
    assert [p.name for p in tmp_path.iterdir()] == ["sealed"]  # no temp folder left behind


def test_corrupt_sealed_suite_is_refused(tmp_path):
    out = tmp_path / "sealed"
    suites.write_sealed(_seal(), out)
    secret = out / suites.SECRET_FILE
    text = secret.read_text()
    secret.write_text(text.replace("secret prompt 3", "secret prompt 4"))
    with pytest.raises(EvidenceError, match="do not give its root"):
        suites.load_sealed(out)
    secret.write_text(text[:-20])
    with pytest.raises(EvidenceError, match="corrupt"):
        suites.load_sealed(out)
    with pytest.raises(ConfigError, match="not a sealed suite folder"):
        suites.load_sealed(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "a"}\n{"id": "b"\n', r"items.jsonl:2: not valid JSON"),
        ('{"id": "a"}\n[1]\n', r"items.jsonl:2: not a JSON object"),
        ('{"id": "a"}\n{"input": "no id"}\n', "item 2 has no string or integer 'id'"),
        ('{"id": "a"}\n{"id": "a"}\n', "item 2 repeats id 'a'"),
        ("\n\n", "the suite has no items"),
        ('{"id": "a", "x": NaN}\n', "not valid JSON"),
    ],
)
def test_bad_items_files(tmp_path, content, message):
    path = tmp_path / "items.jsonl"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as err:
        suites.read_items(path)
    assert "\n" not in str(err.value)


def test_reveal_unknown_id():
    with pytest.raises(ConfigError, match="not in suite 'harmful': nope"):
        suites.reveal(_seal(), ["h1", "nope"])


def test_redact_record_replaces_secret_inputs_by_commitments():
    sealed = _seal()
    commitments = suites.commitments_by_id(sealed.public())
    envelope = {"kind": "sample", "seq": 3, "data": {"sample_id": "h4", "epoch": 1,
                                                      "input": "secret prompt 4", "output": "I refuse."}}
    red = suites.redact_record(envelope, commitments)
    assert red["data"]["input"] == {"redacted": "secret-suite", "commitment": sealed.commitments[4]}
    assert red["data"]["output"] == "I refuse." and envelope["data"]["input"] == "secret prompt 4"
    assert suites.redact_record(red, commitments) == red  # idempotent
    public = {"kind": "sample", "data": {"sample_id": "p1", "epoch": 1, "input": "public prompt"}}
    assert suites.redact_record(public, commitments) == public
    # the lab can later open a redacted record: reveal the item and prove it
    proof = suites.reveal(sealed, ["h4"])
    assert proof["items"][0]["commitment"] == red["data"]["input"]["commitment"]
    assert suites.check_proof(proof, sealed.root)[0]["input"] == "secret prompt 4"


def mc(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "modelcert", *map(str, args)], capture_output=True, text=True,
                          timeout=60, cwd=cwd, env={**os.environ})


def test_cli_seal_reveal_prove_check(tmp_path: Path):
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps(i) + "\n" for i in ITEMS))
    sealed = mc("suite", "seal", items, "--out", tmp_path / "sealed", "--name", "harmful")
    assert sealed.returncode == 0, sealed.stderr
    root = sealed.stdout.strip().splitlines()[-1].removeprefix("root: ")
    assert root == json.loads((tmp_path / "sealed" / suites.PUBLIC_FILE).read_text())["root"]
    rev = mc("suite", "reveal", "--sealed", tmp_path / "sealed", "--items", "h1,h8", "--out", tmp_path / "p.json")
    assert rev.returncode == 0, rev.stderr
    ok = mc("suite", "prove-check", tmp_path / "p.json", "--root", root)
    assert ok.returncode == 0 and "2 item(s) proven" in ok.stdout, ok.stderr
    proof = json.loads((tmp_path / "p.json").read_text())
    proof["items"][0]["salt"] = proof["items"][1]["salt"]
    (tmp_path / "bad.json").write_text(json.dumps(proof))
    bad = mc("suite", "prove-check", tmp_path / "bad.json", "--root", root)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "changed item or salt" in bad.stderr
    missing = mc("suite", "prove-check", tmp_path / "nope.json", "--root", root)
    assert missing.returncode == 2 and "not found" in missing.stderr
