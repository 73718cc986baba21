"""Runner fixtures: a counting fake chat server, and stores on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakeserver import FakeChatServer

PG_URL = os.environ.get("MODELCERT_TEST_PG_URL")


@pytest.fixture
def chat_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeChatServer]:
    monkeypatch.setenv("FAKE_API_KEY", "test-key")
    with FakeChatServer(delay=0.01) as server:
        yield server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'evidence.sqlite'}"
        return
    if not PG_URL:
        pytest.skip("MODELCERT_TEST_PG_URL is not set (CI sets it via .ci/postgres.sh)")
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
