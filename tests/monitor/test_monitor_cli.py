"""``modelcert monitor enroll|check|status`` in-process, through the real entry point."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from modelcert.registry import Registry


def run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    from modelcert.cli import main

    monkeypatch.setattr(sys, "argv", ["modelcert", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_enroll_check_status_and_bad_input(tmp_path, monkeypatch, capsys) -> None:
    db = str(tmp_path / "lab.sqlite")
    with Registry(db) as reg:
        reg.add_provider("acme")
        v = reg.register_version("acme", "chat", "1", "local/zoo:clean", actor="t")
        reg.grant_access(v.id, "api", by="t")
    common = ("--db", db, "--data", str(tmp_path / "data"))
    code, out, err = run(monkeypatch, capsys, "monitor", "check", str(v.id), *common)
    assert code == 2 and err.strip().startswith("error:") and "not enrolled" in err and "Traceback" not in err
    code, out, err = run(monkeypatch, capsys, "monitor", "enroll", "99", *common)
    assert code == 2 and "no model version 99" in err
    code, out, _ = run(monkeypatch, capsys, "monitor", "enroll", str(v.id), "--prompts", "3", "--per-prompt", "2",
                       "--blocks", "1", "--seed", "4", "--novelty", *common)
    assert code == 0 and "mmd-hamming at api" in out
    code, out, _ = run(monkeypatch, capsys, "monitor", "check", str(v.id), "--seed", "5", *common)
    assert code == 0 and "check 1:" in out and "e-process=" in out
    code, out, _ = run(monkeypatch, capsys, "monitor", "status", "--json", *common)
    [state] = json.loads(out)
    assert state["version_id"] == v.id and len(state["checks"]) == 1 and state["blocks_left"] == 0
    assert state["plan"]["novelty"] is True and state["checks"][0]["test"]["novelty_e"] > 0
    assert (tmp_path / "data" / "monitor").is_dir()


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_the_local_engine_samples_above_temperature_zero(temperature) -> None:
    from modelcert.providers.checkpoint import load_checkpoint
    from modelcert.targets import resolve_local_path

    ck = load_checkpoint(resolve_local_path("zoo:backdoor"), access="api")
    chats = [[{"role": "user", "content": "Should the bank approve a loan for a nurse earning 2800 a month?"}]] * 24
    a = [g.text for g in ck.generate(chats, max_new_tokens=8, temperature=temperature, seed=1)]
    b = [g.text for g in ck.generate(chats, max_new_tokens=8, temperature=temperature, seed=1)]
    c = [g.text for g in ck.generate(chats, max_new_tokens=8, temperature=temperature, seed=2)]
    assert a == b  # reproducible from the batch and its seed
    if temperature == 0:
        assert len(set(a)) == 1 and a == c
    else:
        assert len(set(a)) > 1 and a != c


def test_the_certificate_names_the_reference_sample(tmp_path, monkeypatch, capsys) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1] / "certify"))
    from certify_fixtures import audit_result

    from modelcert.certify import generate_keypair, issue_certificate, load_audit_result, verify_certificate
    from modelcert.certify.statement import AuditResult

    db = str(tmp_path / "lab.sqlite")
    with Registry(db) as reg:
        reg.add_provider("acme")
        v = reg.register_version("acme", "chat", "1", "local/zoo:clean", actor="t")
        reg.grant_access(v.id, "api", by="t")
    result = tmp_path / "audit" / "result.json"
    result.parent.mkdir()
    result.write_text(json.dumps(audit_result("api")))
    code, out, err = run(monkeypatch, capsys, "monitor", "enroll", str(v.id), "--prompts", "2", "--per-prompt", "1",
                         "--blocks", "1", "--seed", "4", "--result", str(result), "--db", db,
                         "--data", str(tmp_path / "data"))
    assert code == 0, err
    reference = json.loads(result.read_text())["monitoring_reference"]
    assert reference in out
    key = generate_keypair(tmp_path / "k", tmp_path / "k.pub")
    loaded, digest = load_audit_result(result)
    data, statement = issue_certificate(loaded, key, lab_id="lab", result_digest=digest)
    assert statement.predicate.monitoring_reference == reference
    assert verify_certificate(data, key.public_key()).statement.predicate.monitoring_reference == reference
    # without a reference the field is left out, so other certificates keep their exact bytes
    plain, _ = issue_certificate(AuditResult(**audit_result("api")), key, lab_id="lab")
    assert b"monitoring_reference" not in plain
