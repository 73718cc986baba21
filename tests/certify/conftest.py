"""Fixtures for certificate tests: lab keys and an audit folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from certify_fixtures import audit_result

from modelcert.certify import keys


@pytest.fixture
def keypair(tmp_path: Path) -> tuple[Path, Path]:
    priv, pub = tmp_path / "lab.key", tmp_path / "lab.pub"
    keys.generate_keypair(priv, pub)
    return priv, pub


@pytest.fixture
def audit_dir(tmp_path: Path) -> Path:
    d = tmp_path / "audit"
    d.mkdir()
    (d / "result.json").write_text(json.dumps(audit_result("api"), indent=2))
    return d

