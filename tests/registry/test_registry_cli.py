"""``modelcert registry`` commands end to end, through the real console entry point, on SQLite."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelcert.cli import main


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def _run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def run(db: Path, *args: str, env: dict[str, str] | None = None) -> Result:
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        monkeypatch.setattr(sys, "argv", ["modelcert", "registry", *args, "--db", str(db)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return run


def test_registry_cli_round_trip(tmp_path: Path, _run) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "lab.sqlite"
    assert _run(db, "provider-add", "acme").returncode == 0
    r = _run(db, "version-add", "--provider", "acme", "--model-name", "chat", "--version", "1",
             "--address", "local/zoo:clean")
    assert r.returncode == 0 and "version 1: acme/chat 1 — submitted" in r.stdout
    assert _run(db, "grant", "1", "--tier", "api", "--by", "alice").returncode == 0
    r = _run(db, "status", "1", "--to", "certified", "--reason", "skip the audit")
    assert r.returncode == 2 and r.stderr.strip() == (
        "error: cannot change status submitted -> certified; allowed: access_refused, under_audit"
    )
    assert _run(db, "status", "1", "--to", "access_refused", "--reason", "no weights offered").returncode == 0
    hist = _run(db, "history", "1").stdout
    assert "submitted -> access_refused" in hist.replace("  ", " ") or "access_refused" in hist
    assert "no weights offered" in hist
    r = _run(db, "user-add", "root", "--role", "admin", "--password-env", "PW", env={"PW": "a-long-password"})
    assert r.returncode == 0
    tok = _run(db, "token", "root")
    assert tok.returncode == 0 and tok.stdout.strip().startswith("mct_")
    from modelcert.registry import Registry

    with Registry(str(db)) as reg:
        assert reg.user_for_token(tok.stdout.strip()).username == "root"  # type: ignore[union-attr]
        assert reg.user_for_password("root", "a-long-password") is not None
    assert "1 token(s) revoked" in _run(db, "revoke-tokens", "root").stdout
    r = _run(db, "user-add", "x", "--role", "admin", "--password-env", "UNSET_VAR_XYZ")
    assert r.returncode == 2 and "UNSET_VAR_XYZ is empty or unset" in r.stderr
    r = _run(db, "grant", "1", "--tier", "root")
    assert r.returncode == 2 and "unknown access tier" in r.stderr and "Traceback" not in r.stderr
