"""Evidence-store fixtures: every store test runs on SQLite and on a real PostgreSQL.

PostgreSQL tests use ``MODELCERT_TEST_PG_URL`` (set by ``.ci/postgres.sh``) and skip
only when it is unset. Each test gets its own PostgreSQL schema, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_URL = os.environ.get("MODELCERT_TEST_PG_URL")


def pg_schema_url(base: str) -> Iterator[str]:
    """Yield a URL whose connections use a fresh schema; drop it afterwards."""
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'evidence.sqlite'}"
        return
    if not PG_URL:
        pytest.skip("MODELCERT_TEST_PG_URL is not set (CI sets it via .ci/postgres.sh)")
    yield from pg_schema_url(PG_URL)
