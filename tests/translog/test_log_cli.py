"""``modelcert log``: certify -> log append -> verify offline -> monitor, and a rewritten log caught."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from modelcert.cli.app import app, register_subapps
from modelcert.errors import ModelcertError
from modelcert.translog import TransparencyLog
from transparency_reference import inclusion_ok, leaf, mth


def mc(*args: object) -> subprocess.CompletedProcess:
    """The real command line, in a subprocess: for exit codes and one-line stderr."""
    return subprocess.run([sys.executable, "-m", "modelcert", *map(str, args)], capture_output=True, text=True)


def run(*args: object) -> subprocess.CompletedProcess:
    """The same commands in-process (fast); a ModelcertError maps to its exit code, as main() does."""
    register_subapps()
    res = CliRunner().invoke(app, [str(a) for a in args])
    code = res.exception.exit_code if isinstance(res.exception, ModelcertError) else res.exit_code
    err = f"error: {res.exception}" if isinstance(res.exception, ModelcertError) else ""
    return subprocess.CompletedProcess(args, code, res.stdout, err)


def _result(outcome: str, n: int) -> dict:
    h = f"{n:064x}"
    return {"policy": {"id": "p", "digest": h}, "outcome": outcome, "access_tier": "api",
            "target": {"model": f"m{n}", "identity_digest": h, "subject_kind": "behaviour-fingerprint",
                       "subject_digest": h},
            "requirements": [{"id": "r", "legal_basis": "x", "verdict": "FAIL" if outcome == "refused" else "PASS",
                              "n": 10}],
            "evidence": {f"run{n}": h}}


def test_log_commands_end_to_end(tmp_path: Path) -> None:
    db = str(tmp_path / "lab.sqlite")
    assert run("keys", "init", "--out", tmp_path / "lab.key").returncode == 0
    key, pub = tmp_path / "lab.key", tmp_path / "lab.pub"
    certs = []
    for n, outcome in enumerate(["certified", "refused", "certified"]):
        d = tmp_path / f"audit{n}"
        d.mkdir()
        (d / "result.json").write_text(json.dumps(_result(outcome, n)))
        assert run("certify", d, "--key", key).returncode == 0
        out = run("log", "append", d / "certificate.json", "--key", key, "--db", db, "--audit", f"a{n}")
        assert out.returncode == 0, out.stderr
        assert f"entry {n} in a log of {n + 1}" in out.stdout
        certs.append(d / "certificate.logged.json")
        if n == 0:
            saved = tmp_path / "saved-head.json"
            head = run("log", "head", "--db", db)
            assert head.returncode == 0
            saved.write_text(head.stdout)

    # a logged refusal verifies offline, outcome first, with its inclusion proof
    ok = mc("verify", certs[1], "--key", pub)
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert lines[0].startswith("REFUSED — this certificate records a refusal")
    assert any(line.startswith("logged: entry 1 ") for line in lines)
    assert run("verify", certs[1], "--key", pub, "--require-outcome", "certified").returncode == 1

    # proofs from the CLI check with the independent code
    proof = json.loads(run("log", "prove", "--index", 1, "--db", db).stdout)
    with TransparencyLog(db) as tlog:
        leaves = [leaf(e.body.encode()) for e in tlog.entries(0, 100)]
    assert proof["tree_size"] == 3
    assert inclusion_ok(leaves[1], 1, 3, [bytes.fromhex(p) for p in proof["proof"]], mth(leaves))
    cons = json.loads(run("log", "consistency", "--first", 1, "--db", db).stdout)
    assert cons["second"] == 3 and cons["proof"]

    # the monitor accepts an honest extension and records the new head
    good = run("log", "monitor", "--saved", saved, "--key", pub, "--db", db)
    assert good.returncode == 0 and "grew from 1 to 3" in good.stdout, good.stderr

    # the lab rebuilds its log without the refusal: the monitor exits 1
    rewritten = str(tmp_path / "rewritten.sqlite")
    for n in (0, 2):
        assert run("log", "append", tmp_path / f"audit{n}" / "certificate.json", "--key", key, "--db", rewritten,
                  "--out", tmp_path / f"re{n}.json").returncode == 0
    saved3 = tmp_path / "saved3.json"
    saved3.write_text(run("log", "head", "--db", db).stdout)
    bad = mc("log", "monitor", "--saved", saved, "--key", pub, "--db", rewritten)
    assert bad.returncode == 1 and "not consistent" in bad.stderr and len(bad.stderr.splitlines()) == 1
    shrunk = run("log", "monitor", "--saved", saved3, "--key", pub, "--db", rewritten)
    assert shrunk.returncode == 1 and "shrank" in shrunk.stderr

    # bad input is one line, exit 2
    other = tmp_path / "other"
    other.mkdir()
    assert run("keys", "init", "--out", other / "o.key").returncode == 0
    foreign = run("log", "monitor", "--saved", saved, "--key", other / "o.pub", "--db", db)
    assert foreign.returncode == 1 and len(foreign.stderr.splitlines()) == 1
    missing = mc("log", "head", "--db", str(tmp_path / "nothing.sqlite"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: no transparency log")
