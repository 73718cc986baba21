"""Registry fixtures: every store test runs on SQLite and on a real PostgreSQL.

PostgreSQL uses ``MODELCERT_TEST_PG_URL`` (set by ``.ci/postgres.sh``); each test gets
its own schema, dropped afterwards. The tests skip PostgreSQL only when it is unset.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def reg(db_url: str):
    from modelcert.registry import Registry

    r = Registry(db_url)
    yield r
    r.close()
