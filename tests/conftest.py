"""Shared fixtures. Tests run offline against real (tiny) models and real services."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from testkit import build_random_checkpoint


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_checkpoint(tmp_path_factory.mktemp("random-ckpt") / "model")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def transformers_server():
    """A real OpenAI-compatible server (`transformers serve`) on 127.0.0.1, stopped after the session.

    Yields its base URL (``http://127.0.0.1:<port>/v1``). Any checkpoint folder can be
    requested by passing its path as the model name.
    """
    import shutil
    import subprocess
    import sys
    import time
    import urllib.request

    exe = Path(sys.executable).parent / "transformers"
    if not exe.exists():
        exe = Path(shutil.which("transformers") or "transformers")
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    proc = subprocess.Popen(
        [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
    )
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError(f"transformers serve did not start: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.5)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


PG_URL = os.environ.get("MODELCERT_TEST_PG_URL")


def pg_schema_url(base: str):
    """Yield a URL whose connections use a fresh PostgreSQL schema; drop it afterwards."""
    import uuid

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
def db_url(request: pytest.FixtureRequest, tmp_path: Path):
    """A database URL: a SQLite file, and a real PostgreSQL schema where CI provides a server.

    PostgreSQL comes from ``MODELCERT_TEST_PG_URL`` (set by ``.ci/postgres.sh``, which
    ``.ci/run`` sources); those tests skip only when it is unset.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db.sqlite'}"
        return
    if not PG_URL:
        pytest.skip("MODELCERT_TEST_PG_URL is not set (CI sets it via .ci/postgres.sh)")
    yield from pg_schema_url(PG_URL)
