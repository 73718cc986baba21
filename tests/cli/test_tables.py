"""Listings never cut an id, a digest or a name, at 80 columns and through a pipe.

Rich cuts a cell with "…" by default; three check ids then read ``security.backdo…``.
Each listing runs with ``COLUMNS=80`` and stdout not a terminal, and every id, name and
digest it lists (taken from the command's own ``--json``) must appear whole on a line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from modelcert.cli.app import app, register_subapps


def _cli(*args: str) -> str:
    register_subapps()
    out = CliRunner().invoke(app, list(args), env={"COLUMNS": "80"})
    assert out.exit_code == 0, out.output
    return out.stdout


@pytest.mark.parametrize(
    ("argv", "keys"),
    [
        (["checks", "list"], ["id", "tier", "requirements"]),
        (["organisms", "list"], ["name", "kind"]),
        (["targets", "show", "--model", "local/zoo:clean"], ["model", "identity_digest", "manifest_digest", "resolved"]),
        (["policy", "list"], ["id", "requirements"]),
    ],
)
def test_listing_keeps_every_id_whole_at_80_columns(argv: list[str], keys: list[str]) -> None:
    data = json.loads(_cli(*argv, "--json"))
    rows = data if isinstance(data, list) else [data]
    text = _cli(*argv)
    assert "…" not in text
    words = {w for line in text.splitlines() for w in line.replace(",", " ").split()}
    for row in rows:
        for key in keys:
            values = row[key] if isinstance(row[key], list) else [row[key]]
            for v in values:
                assert str(v) in words, f"{key}={v} is not whole in:\n{text}"
    assert max(map(len, text.splitlines())) <= 80 or argv[0] == "targets"  # targets show: key/value lines


def test_checks_list_through_a_pipe() -> None:
    env = {**os.environ, "COLUMNS": "80"}
    ids = [c["id"] for c in json.loads(subprocess.run(
        [sys.executable, "-m", "modelcert", "checks", "list", "--json"], capture_output=True, text=True, env=env,
        timeout=120, check=True).stdout)]
    piped = subprocess.run(f"{sys.executable} -m modelcert checks list | cat", shell=True, capture_output=True,
                           text=True, env=env, timeout=120, check=True).stdout
    assert "…" not in piped
    firsts = [line.split()[0] for line in piped.splitlines() if line.strip() and line.split()[0] in ids]
    assert sorted(firsts) == sorted(ids)
