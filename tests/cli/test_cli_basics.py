"""The CLI surface: one-line errors with exit code 2, JSON output, listings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

MODELCERT = [sys.executable, "-m", "modelcert"]


def _run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MODELCERT, *args], capture_output=True, text=True, timeout=timeout)


def test_targets_show_json(random_checkpoint: Path) -> None:
    proc = _run("targets", "show", "--model", f"local/{random_checkpoint}", "--access", "api", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["access"] == "api" and data["downgraded"] is True
    assert data["identity_kind"] == "weights-manifest" and len(data["identity_digest"]) == 64


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["targets", "show", "--model", "local//nonexistent/folder"], "checkpoint folder not found"),
        (["targets", "show", "--model", "anthropic/x", "--access", "weights"], "supports at most 'api'"),
        (["targets", "show", "--model", "openai-api/a/b", "--access", "everything"], "unknown access tier"),
        (["run", "no.such.check", "--model", "anthropic/x"], "unknown check"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    proc = _run(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_usage_error_exits_2() -> None:
    proc = _run("targets", "show")  # --model missing
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_checks_list_json() -> None:
    proc = _run("checks", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    for row in rows:
        assert row["tier"] in ("api", "logprobs", "weights")
        assert row["requirements"], row
