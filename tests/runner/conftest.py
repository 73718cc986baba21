"""Runner fixtures: a counting fake chat server, and stores on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakeserver import FakeChatServer


@pytest.fixture
def chat_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeChatServer]:
    monkeypatch.setenv("FAKE_API_KEY", "test-key")
    with FakeChatServer(delay=0.01) as server:
        yield server


@pytest.fixture
def store_url(db_url: str) -> str:
    return db_url
