"""Evidence-store fixtures: every store test runs on SQLite and on a real PostgreSQL.

PostgreSQL tests use ``MODELCERT_TEST_PG_URL`` (set by ``.ci/postgres.sh``) and skip
only when it is unset. Each test gets its own PostgreSQL schema, dropped afterwards.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def store_url(db_url: str) -> str:
    return db_url
