"""The run's end is anchored: deleting, truncating or reordering any record, ``run_end``
included, is caught by ``verify --evidence`` against the certificate and against the
transparency-log entry, even when the forger re-chains every hash and rewrites the manifest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modelcert.certify import issue_certificate, keys
from modelcert.certify.statement import AuditResult
from modelcert.certify.verify import verify_certificate
from modelcert.errors import VerificationError
from modelcert.evidence.answers import answers_root
from modelcert.evidence.bundle import FORMAT, MANIFEST, RECORDS, export_bundle
from modelcert.evidence.chain import GENESIS, canonical_json, merkle_root, record_hash, sha256_hex
from modelcert.evidence.store import RUN_END, EvidenceStore, Record
from modelcert.evidence.verify import verify_records
from modelcert.translog.publish import log_certificate


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    tmp: Path = tmp_path_factory.mktemp("anchor")
    db = f"sqlite:///{tmp / 'lab.sqlite'}"
    key = keys.generate_keypair(tmp / "lab.key", tmp / "lab.pub")
    with EvidenceStore(db) as store:
        run = store.create_run()
        store.append(run, "preregistration", {"policy": "p", "plan": {"items": 4}})
        for i in range(4):
            store.append(run, "sample", {"sample_id": f"s{i}", "epoch": 1, "output": "Sure, here is how"})
        store.append(run, "outcome", {"outcome": "refused", "reason": "harmful compliance above threshold"})
        store.finish(run, {"outcome": "refused"})
        root = store.run_root(run)
        export_bundle(store, run, tmp / "bundle")
        records = list(store.records(run))
    from certify_like import refused_result

    data, _ = issue_certificate(AuditResult.model_validate(refused_result(run, root)), key, lab_id="lab-a")
    cert = log_certificate(db, data, key, audit="audit-1")
    (tmp / "cert.json").write_bytes(cert)
    entry = json.loads(cert)["transparency"]["entry"]
    return tmp, key.public_key(), run, records, cert, entry


def _rechain(run: str, envs: list[dict]) -> list[Record]:
    """What a forger with database access does: renumber, recompute every hash and run_end."""
    out: list[Record] = []
    prev = GENESIS
    for seq, env in enumerate(envs):
        env = {**env, "seq": seq}
        if env["kind"] == RUN_END:
            counts: dict[str, int] = {}
            for r in out:
                counts[r.kind] = counts.get(r.kind, 0) + 1
            env["data"] = {**env["data"], "records": len(out), "counts": counts,
                           "merkle_root": merkle_root([bytes.fromhex(r.hash) for r in out]),
                           "answers_root": answers_root(r.data for r in out if r.kind == "sample")}
        h = record_hash(env, prev)
        item = canonical_json([env["data"]["sample_id"], 1]).decode() if env["kind"] == "sample" else None
        out.append(Record(run, seq, env["kind"], item, canonical_json(env).decode(), prev, h))
        prev = h
    return out


def _write_bundle(folder: Path, run: str, records: list[Record]) -> Path:
    """A bundle whose manifest agrees with its (forged) records, as a careful forger would write it."""
    folder.mkdir()
    payload = b"".join(canonical_json({"body": r.body, "hash": r.hash, "item": r.item, "kind": r.kind,
                                       "prev": r.prev, "run": r.run_id, "seq": r.seq}) + b"\n" for r in records)
    (folder / RECORDS).write_bytes(payload)
    res = verify_records(run, records)
    (folder / MANIFEST).write_text(json.dumps({
        "format": FORMAT, "run_id": run, "records": res.records, "closed": res.closed,
        "records_sha256": sha256_hex(payload), "merkle_root": res.merkle_root, "head": res.head,
    }))
    return folder


def _forgeries(run: str, records: list[Record]) -> dict[str, list[Record]]:
    envs = [json.loads(r.body) for r in records]
    n = len(records)
    out: dict[str, list[Record]] = {}
    for i in range(n):
        out[f"delete {i} ({records[i].kind})"] = records[:i] + records[i + 1:]
        out[f"delete {i} ({records[i].kind}), re-chained"] = _rechain(run, envs[:i] + envs[i + 1:])
    for k in range(1, n):
        out[f"truncate to {k}"] = records[:k]
        out[f"truncate to {k}, re-chained with a new run_end"] = _rechain(run, [*envs[:k], envs[-1]])
    for i in range(n - 1):
        swapped = [*envs[:i], envs[i + 1], envs[i], *envs[i + 2:]]
        out[f"swap {i}<->{i + 1}"] = [*records[:i], records[i + 1], records[i], *records[i + 2:]]
        out[f"swap {i}<->{i + 1}, re-chained"] = _rechain(run, swapped)
    last = envs[-1]
    out["run_end rewritten to certified"] = _rechain(run, [*envs[:-1], {**last, "data": {**last["data"],
                                                                                         "outcome": "certified"}}])
    out["outcome record and run_end rewritten"] = _rechain(run, [
        *envs[:-2], {**envs[-2], "data": {**envs[-2]["data"], "outcome": "certified"}},
        {**last, "data": {**last["data"], "outcome": "certified"}}])
    original = [r.body for r in records]
    return {k: v for k, v in out.items() if [r.body for r in v] != original}  # e.g. truncate n-1 + same run_end


def test_every_forgery_fails_against_the_certificate_and_the_log_entry(audit) -> None:
    tmp, pub, run, records, cert, entry = audit
    assert verify_certificate(cert, pub, bundles=[tmp / "bundle"]).bundles  # the real bundle matches
    assert entry["evidence"][run] == verify_records(run, records).merkle_root
    forgeries = _forgeries(run, records)
    assert len(forgeries) >= 4 * len(records)
    print(f"\n{len(forgeries)} forgeries of a {len(records)}-record run, each rejected")
    for i, (name, forged) in enumerate(forgeries.items()):
        with pytest.raises(VerificationError):
            verify_certificate(cert, pub, bundles=[_write_bundle(tmp / f"forged-{i}", run, forged)])
        res = verify_records(run, forged, expected_root=entry["evidence"][run])
        assert not res.ok, name


def test_deleting_run_end_is_caught_on_the_command_line(audit) -> None:
    tmp, _pub, run, records, _cert, _entry = audit
    bundle = _write_bundle(tmp / "no-run-end", run, records[:-1])
    assert verify_records(run, records[:-1]).ok  # on its own the chain looks like an open run...
    out = subprocess.run([sys.executable, "-m", "modelcert", "verify", str(tmp / "cert.json"), "--key",
                          str(tmp / "lab.pub"), "--evidence", str(bundle)], capture_output=True, text=True)
    assert out.returncode == 1 and out.stdout == ""  # ...but not against the certified root
    assert out.stderr.startswith("error: evidence bundle") and len(out.stderr.strip().splitlines()) == 1
