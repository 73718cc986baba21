"""Registry fixtures: every store test runs on SQLite and on a real PostgreSQL.

PostgreSQL uses ``MODELCERT_TEST_PG_URL`` (set by ``.ci/postgres.sh``); each test gets
its own schema, dropped afterwards. The tests skip PostgreSQL only when it is unset.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

PG_URL = os.environ.get("MODELCERT_TEST_PG_URL")


def pg_schema_url(base: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text

    schema = f"r_{uuid.uuid4().hex[:12]}"
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
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'lab.sqlite'}"
        return
    if not PG_URL:
        pytest.skip("MODELCERT_TEST_PG_URL is not set (CI sets it via .ci/postgres.sh)")
    yield from pg_schema_url(PG_URL)


@pytest.fixture
def reg(db_url: str):
    from modelcert.registry import Registry

    r = Registry(db_url)
    yield r
    r.close()
