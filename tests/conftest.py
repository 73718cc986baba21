"""Shared fixtures. Tests run offline against real (tiny) models and real services."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# -- no test touches the user's home or data directories ----------------------------------
# Before anything imports modelcert or Inspect, HOME, the XDG folders and MODELCERT_DB
# point into one temp folder for the whole session (child processes such as CLI runs
# inherit them). The real folders are remembered, and pytest_sessionfinish fails the run
# if anything new appeared in them or in the working tree.
def _real_user_dirs() -> list[Path]:
    from platformdirs import user_cache_dir, user_config_dir, user_data_dir, user_state_dir

    home = Path.home()
    # (Inspect's own folder is left out: other processes on a shared machine write there)
    return [Path(f("modelcert")) for f in (user_data_dir, user_config_dir, user_cache_dir, user_state_dir)] + [home]


def _snapshot(paths: list[Path], home: Path) -> set[str]:
    seen: set[str] = set()
    for p in paths:
        if p == home:  # the home folder itself: only its top level (other tools live below)
            seen |= {str(c) for c in p.iterdir()} if p.is_dir() else set()
        elif p.is_dir():
            seen |= {str(c) for c in p.rglob("*")}
    return seen


def _worktree_snapshot() -> set[str]:
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=root,
                             capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    # caches, and the browser tests' screenshots kept on purpose for CI artifacts
    caches = ("__pycache__", ".pytest_cache", ".ruff_cache", ".pyc", ".egg-info", ".venv/", "out/test-artifacts/",
              ".hypothesis/")
    return {line for line in out.splitlines() if not any(c in line for c in caches)}


_REAL_HOME = Path.home()
_REAL_DIRS = _real_user_dirs()
_BEFORE = _snapshot(_REAL_DIRS, _REAL_HOME)
_TREE_BEFORE = _worktree_snapshot()
_SANDBOX = Path(tempfile.mkdtemp(prefix="modelcert-test-home-"))
try:  # Hypothesis (schemathesis) keeps its example database and constants cache there, not in the tree
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(str(_SANDBOX / "hypothesis"))
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    pass
for _var, _sub in (("HOME", "home"), ("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config"),
                   ("XDG_CACHE_HOME", "cache"), ("XDG_STATE_HOME", "state")):
    os.environ[_var] = str(_SANDBOX / _sub)
    (_SANDBOX / _sub).mkdir()
os.environ["MODELCERT_DB"] = f"sqlite:///{_SANDBOX / 'data' / 'default-evidence.sqlite'}"
# models and datasets already cached stay readable (offline); nothing new is fetched
os.environ.setdefault("HF_HOME", str(_REAL_HOME / ".cache" / "huggingface"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a test wrote into the real home/data folders or left files in the tree."""
    if os.environ.get("MODELCERT_TEST_HOME_CHECK") == "0":
        return
    leaked = sorted(_snapshot(_REAL_DIRS, _REAL_HOME) - _BEFORE)
    left = sorted(_worktree_snapshot() - _TREE_BEFORE) if _TREE_BEFORE or _worktree_snapshot() else []
    if leaked or left:
        lines = [f"  new under the user's folders: {p}" for p in leaked[:20]]
        lines += [f"  new in the working tree: {p}" for p in left[:20]]
        print("\nERROR: the tests wrote outside their temp folders (set MODELCERT_TEST_HOME_CHECK=0 only "
              "when another process shares this home):\n" + "\n".join(lines))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    shutil.rmtree(_SANDBOX, ignore_errors=True)

from testkit import build_random_checkpoint  # noqa: E402  (after the environment is set)


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
