"""The issue -> verify round trip through the real ``modelcert`` command (subprocesses)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from certify_fixtures import audit_result

from modelcert.evidence.bundle import export_bundle
from modelcert.evidence.store import EvidenceStore


def mc(*args: str | Path, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "modelcert", *map(str, args)],
        capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}, cwd=cwd,
    )


def one_line_error(proc: subprocess.CompletedProcess, code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def test_keys_certify_verify_round_trip(tmp_path):
    init = mc("keys", "init", "--out", tmp_path / "lab.key")
    assert init.returncode == 0, init.stderr
    assert stat.S_IMODE((tmp_path / "lab.key").stat().st_mode) == 0o600
    kid = mc("keys", "show", tmp_path / "lab.pub").stdout.strip()
    assert len(kid) == 64 and kid in init.stdout

    # a real evidence run, exported as a bundle, whose root the audit result names
    with EvidenceStore(f"sqlite:///{tmp_path / 'ev.db'}") as store:
        run = store.create_run()
        store.append(run, "preregistration", {"policy": "p"})
        store.append(run, "sample", {"sample_id": 1, "epoch": 1, "input": "hi", "output": "no"})
        store.finish(run)
        root = store.run_root(run)
        export_bundle(store, run, tmp_path / "bundle")

    for tier in ("api", "weights"):
        audit = tmp_path / f"audit-{tier}"
        audit.mkdir()
        (audit / "result.json").write_text(json.dumps({**audit_result(tier), "evidence": {run: root}}))
        out = mc("certify", audit, "--key", tmp_path / "lab.key", "--lab-id", "lab-eu-1", "--valid-days", "30")
        assert out.returncode == 0, out.stderr
        cert = audit / "certificate.json"
        ok = mc("verify", cert, "--key", tmp_path / "lab.pub", "--evidence", tmp_path / "bundle", "--result", audit)
        assert ok.returncode == 0, ok.stderr
        assert "audit result matches" in ok.stdout
        want = "model-weights-manifest" if tier == "weights" else "model-behaviour-fingerprint"
        assert ok.stdout.startswith("CERTIFIED — this certificate records a certification")
        assert f"subject: {want}" in ok.stdout and "1 evidence bundle(s) match" in ok.stdout
        assert "lab-eu-1" in ok.stdout

    cert = tmp_path / "audit-api" / "certificate.json"
    pub = tmp_path / "lab.pub"
    assert "expired" in one_line_error(mc("verify", cert, "--key", pub, "--at", "2100-01-01"), 1)
    assert "not valid before" in one_line_error(mc("verify", cert, "--key", pub, "--at", "2000-01-01"), 1)
    assert "not an ISO date" in one_line_error(mc("verify", cert, "--key", pub, "--at", "someday"), 2)

    other = tmp_path / "other"
    other.mkdir()
    assert mc("keys", "init", "--out", other / "o.key").returncode == 0
    assert "no signature by key" in one_line_error(mc("verify", cert, "--key", other / "o.pub"), 1)

    tampered = tmp_path / "tampered.json"
    env = json.loads(cert.read_bytes())
    env["payloadType"] = "application/json"
    tampered.write_bytes(json.dumps(env, separators=(",", ":"), sort_keys=True).encode() + b"\n")
    one_line_error(mc("verify", tampered, "--key", pub), 1)

    assert "not found" in one_line_error(mc("verify", tmp_path / "nope.json", "--key", pub), 2)
    assert "already exists" in one_line_error(mc("certify", tmp_path / "audit-api", "--key", tmp_path / "lab.key"), 2)
    assert "is a private key" in one_line_error(mc("verify", cert, "--key", tmp_path / "lab.key"), 2)


def test_encrypted_key_via_environment(tmp_path):
    env = {"LAB_PASS": "s3cret passphrase"}
    assert mc("keys", "init", "--out", tmp_path / "lab.key", "--passphrase-env", "LAB_PASS", env=env).returncode == 0
    assert b"ENCRYPTED PRIVATE KEY" in (tmp_path / "lab.key").read_bytes()
    (tmp_path / "result.json").write_text(json.dumps(audit_result("api")))
    no_pass = mc("certify", tmp_path / "result.json", "--key", tmp_path / "lab.key")
    assert "encrypted" in one_line_error(no_pass, 2)
    assert not (tmp_path / "certificate.json").exists()
    wrong = mc("certify", tmp_path / "result.json", "--key", tmp_path / "lab.key", "--passphrase-env", "LAB_PASS",
               env={"LAB_PASS": "nope"})
    assert "wrong passphrase" in one_line_error(wrong, 2)
    ok = mc("certify", tmp_path / "result.json", "--key", tmp_path / "lab.key", "--passphrase-env", "LAB_PASS",
            "--out", tmp_path / "c.json", env=env)
    assert ok.returncode == 0, ok.stderr
    exported = mc("keys", "export-public", tmp_path / "lab.key", "--out", tmp_path / "again.pub",
                  "--passphrase-env", "LAB_PASS", env=env)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "again.pub").read_bytes() == (tmp_path / "lab.pub").read_bytes()
    assert mc("verify", tmp_path / "c.json", "--key", tmp_path / "again.pub").returncode == 0
    assert "already exists" in one_line_error(mc("keys", "init", "--out", tmp_path / "lab.key"), 2)


def test_require_outcome(tmp_path: Path):
    assert mc("keys", "init", "--out", tmp_path / "lab.key").returncode == 0
    (tmp_path / "result.json").write_text(json.dumps({**audit_result("api"), "outcome": "refused"}))
    assert mc("certify", tmp_path, "--key", tmp_path / "lab.key").returncode == 0
    cert, pub = tmp_path / "certificate.json", tmp_path / "lab.pub"
    assert mc("verify", cert, "--key", pub).returncode == 0  # a genuine, signed refusal
    err = one_line_error(mc("verify", cert, "--key", pub, "--require-outcome", "certified"), 1)
    assert "outcome is 'refused'" in err


def test_bad_audit_result_writes_nothing(tmp_path: Path):
    assert mc("keys", "init", "--out", tmp_path / "lab.key").returncode == 0
    raw = audit_result("weights")
    raw["target"]["subject_kind"] = "behaviour-fingerprint"
    (tmp_path / "result.json").write_text(json.dumps(raw))
    err = one_line_error(mc("certify", tmp_path, "--key", tmp_path / "lab.key"), 2)
    assert "subject_kind" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.key", "lab.pub", "result.json"]
