"""Lab-server fixtures (helpers in ``web_lab.py``): a seeded registry and a real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web_lab import Lab, Server, seed_lab, start_server


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    return seed_lab(tmp_path_factory.mktemp("lab"))


@pytest.fixture(scope="session")
def server(lab: Lab) -> Iterator[Server]:
    srv = start_server(lab.db, lab.data, lab.key, worker=False)
    yield srv
    srv.stop()
