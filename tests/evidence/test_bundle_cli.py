"""Bundles re-verify without the database; the ``evidence`` commands report and exit right."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from modelcert.cli.evidence_cmd import app
from modelcert.errors import EvidenceError
from modelcert.evidence.bundle import MANIFEST, RECORDS, export_bundle, verify_bundle
from modelcert.evidence.store import EvidenceStore

cli = CliRunner()


def _run(store: EvidenceStore) -> str:
    run = store.create_run()
    store.append(run, "run_start", {"check": {"id": "refusal", "version": "2"}, "model": "local/m", "seed": 0})
    for i in range(4):
        store.append(
            run,
            "sample",
            {"sample_id": i, "epoch": 1, "input": [{"role": "user", "content": f"q{i}"}],
             "output": {"completion": f"a{i}"}, "scores": {"acc": {"value": i % 2, "explanation": "why"}}},
        )
    store.append(run, "sample_error", {"sample_id": 9, "epoch": 1, "input": [], "error": {"message": "HTTP 400"}})
    store.finish(run)
    return run


def test_bundle_verifies_without_the_database(tmp_path: Path) -> None:
    db = tmp_path / "e.sqlite"
    with EvidenceStore(str(db)) as store:
        run = _run(store)
        manifest = export_bundle(store, run, tmp_path / "bundle")
        end_root = store.run_root(run)
    db.unlink()  # the third party has only the bundle
    assert manifest["merkle_root"] == end_root
    assert verify_bundle(tmp_path / "bundle") == end_root
    assert verify_bundle(tmp_path / "bundle", expected_root=end_root) == end_root
    with pytest.raises(EvidenceError, match="expected"):
        verify_bundle(tmp_path / "bundle", expected_root="00" * 32)
    # the bundle's lines carry the stored bytes: a single changed byte is caught
    lines = (tmp_path / "bundle" / RECORDS).read_text().splitlines()
    obj = json.loads(lines[3])
    obj["body"] = obj["body"].replace('"a2"', '"a3"')
    lines[3] = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    (tmp_path / "bundle" / RECORDS).write_text("\n".join(lines) + "\n")
    with pytest.raises(EvidenceError, match="record 3"):
        verify_bundle(tmp_path / "bundle")


def test_bundle_verification_in_a_bare_process(tmp_path: Path) -> None:
    """The verifier needs only the bundle: run it where no store was ever configured."""
    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        manifest = export_bundle(store, _run(store), tmp_path / "b")
    code = "import sys; from modelcert.evidence.bundle import verify_bundle; print(verify_bundle(sys.argv[1]))"
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "b")], capture_output=True, text=True,
                         check=True, env={"MODELCERT_DB": str(tmp_path / "nowhere" / "x.sqlite"),
                              **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}})
    assert out.stdout.strip() == manifest["merkle_root"]
    assert not (tmp_path / "nowhere").exists()


def test_bundle_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="missing"):
        verify_bundle(tmp_path)
    (tmp_path / RECORDS).write_text("not json\n")
    (tmp_path / MANIFEST).write_text(json.dumps({"format": "modelcert-evidence-bundle/2", "run_id": "x"}))
    with pytest.raises(EvidenceError, match="line 1"):
        verify_bundle(tmp_path)
    (tmp_path / MANIFEST).write_text("{")
    with pytest.raises(EvidenceError, match="manifest"):
        verify_bundle(tmp_path)


def test_export_refuses_tampered_runs_and_occupied_folders(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    with EvidenceStore(url) as store:
        run = _run(store)
        (tmp_path / "full").mkdir()
        (tmp_path / "full" / "x").write_text("keep")
        with pytest.raises(EvidenceError, match="not an empty folder"):
            export_bundle(store, run, tmp_path / "full")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER evidence_records_no_update"))
        # always a change: flip the first hex digit (a replace() of one letter is a no-op on the
        # ~1.6 % of hashes that lack it, which made this test flaky)
        conn.execute(text("UPDATE evidence_records SET hash = CASE WHEN substr(hash, 1, 1) = '0' "
                          "THEN '1' || substr(hash, 2) ELSE '0' || substr(hash, 2) END WHERE seq = 2"))
    engine.dispose()
    with EvidenceStore(url) as store, pytest.raises(EvidenceError, match="refusing to export"):
        export_bundle(store, run, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_cli_list_show_verify_export(tmp_path: Path) -> None:
    db = str(tmp_path / "e.sqlite")
    with EvidenceStore(db) as store:
        run = _run(store)
    res = cli.invoke(app, ["list", "--db", db, "--json"])
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)["runs"]
    assert (row["run_id"], row["check"], row["samples"], row["errors"], row["closed"]) == (run, "refusal", 4, 1, True)
    res = cli.invoke(app, ["list", "--db", db])
    assert res.exit_code == 0 and run in res.stdout
    res = cli.invoke(app, ["show", run[:12], "--db", db, "-n", "10"])
    assert res.exit_code == 0, res.output
    assert "acc: mean 0.5000 over 4" in res.stdout and "q3" in res.stdout and "HTTP 400" in res.stdout
    res = cli.invoke(app, ["verify", run, "--db", db, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["intact"] is True
    res = cli.invoke(app, ["export", run, "--db", db, "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    res = cli.invoke(app, ["verify", "--bundle", str(tmp_path / "b")])
    assert res.exit_code == 0 and "intact" in res.stdout

    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER evidence_records_no_update"))
        conn.execute(text("UPDATE evidence_records SET body = replace(body, '\"q1\"', '\"q7\"') WHERE seq = 2"))
    engine.dispose()
    res = cli.invoke(app, ["verify", run, "--db", db])
    assert res.exit_code == 1
    assert res.stdout.strip() == f"run {run}: TAMPERED at record 2: hash does not match body and prev"


def test_cli_one_line_errors_through_the_entry_point(tmp_path: Path) -> None:
    """Through the real console entry point: one line on stderr, the error's exit code."""
    res = subprocess.run(
        [sys.executable, "-c", "from modelcert.cli.evidence_cmd import app; from modelcert.cli import main; "
         "import sys; from modelcert.cli.app import app as root; root.add_typer(app, name='ev'); "
         "sys.argv=['modelcert','ev','verify','abc','--db',sys.argv[1]]; "
         "import modelcert.cli.app as a; a._registered=True; main()", str(tmp_path / "none.sqlite")],
        capture_output=True, text=True,
    )
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [f"error: no evidence store at {tmp_path / 'none.sqlite'}"]


def test_cli_prove_gives_a_proof_that_checks_against_the_root(tmp_path: Path) -> None:
    from modelcert.evidence.chain import verify_inclusion
    from modelcert.evidence.store import chained_hash

    db = str(tmp_path / "e.sqlite")
    with EvidenceStore(db) as store:
        run = _run(store)
    for seq in range(7):  # run_end (seq 6) is a leaf of the anchored root too
        res = cli.invoke(app, ["prove", run, "--seq", str(seq), "--db", db])
        assert res.exit_code == 0, res.output
        p = json.loads(res.stdout)
        rec = p["record"]
        assert chained_hash(rec["body"], rec["prev"]) == rec["hash"] == p["leaf"]
        assert verify_inclusion(bytes.fromhex(p["leaf"]), p["index"], p["size"], p["proof"], p["merkle_root"])
        assert not verify_inclusion(bytes.fromhex("00" * 32), p["index"], p["size"], p["proof"], p["merkle_root"])
    res = cli.invoke(app, ["prove", run, "--seq", "7", "--db", db])  # past the end
    assert res.exit_code != 0 and isinstance(res.exception, EvidenceError)
