"""Acceptance: SIGKILL a real ``modelcert run`` mid-way, run the same command again.

The second invocation must resume the same evidence run, query no sample the first one
completed, and leave exactly one record per sample: no duplicates, none lost. Model
calls are counted by a real HTTP server; runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sqlalchemy import create_engine, text

from modelcert.evidence.store import EvidenceStore
from modelcert.evidence.verify import verify_run

N = 40
IN_FLIGHT = 10  # Inspect's default max_connections bounds the samples in flight


def _count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            try:
                return conn.execute(text("SELECT count(*) FROM evidence_records WHERE kind = 'sample'")).scalar()
            except Exception:  # tables not created yet
                return 0
    finally:
        engine.dispose()


def _prompts(store: EvidenceStore, run_id: str) -> dict[str, str]:
    out = {}
    for r in store.records(run_id, kinds=("sample",)):
        d = r.data
        out[d["sample_id"]] = next(m["content"] for m in reversed(d["input"]) if m["role"] == "user")
    return out


def test_sigkill_then_same_command_resumes(chat_server, store_url: str, tmp_path: Path) -> None:
    import time

    chat_server.delay = 0.15  # slow enough that the kill lands mid-run
    cmd = [sys.executable, "-m", "modelcert", "run", "safety.harmful", "--model", "openai-api/fake/echo",
           "--db", store_url, "--limit", str(N), "--round-size", "10", "--json"]
    env = {**os.environ, "FAKE_API_KEY": "test-key", "FAKE_BASE_URL": chat_server.base_url}
    err = (tmp_path / "stderr").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while _count(store_url) < 12:
            assert proc.poll() is None, (tmp_path / "stderr").read_text()[-2000:]
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        err.close()
    assert proc.returncode == -signal.SIGKILL

    with EvidenceStore(store_url, create=False) as store:
        (run,) = store.runs()
        assert not run.closed and 12 <= run.samples < N
        assert verify_run(store, run.run_id).ok  # the kill left a consistent chain
        before = _prompts(store, run.run_id)
    calls_at_kill = Counter(chat_server.calls)

    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["run_id"] == run.run_id  # the same run, resumed
    assert result["evidence"]["resumed_samples"] == len(before)
    assert result["n"] == N and result["errors"] == 0

    with EvidenceStore(store_url, create=False) as store:
        (final,) = store.runs()
        ids = [json.loads(r.item)[0] for r in store.records(run.run_id, kinds=("sample",))]
        assert len(ids) == len(set(ids)) == N  # no duplicates, none lost
        assert final.closed and final.errors == 0
        assert verify_run(store, run.run_id).ok
        kinds = [r.kind for r in store.records(run.run_id)]
        assert kinds.count("run_start") == 1 and kinds.count("resume") == 1
        prompts = _prompts(store, run.run_id)
    expected = Counter(prompts.values())  # identical prompts in two items are two queries
    for prompt in set(before.values()):  # completed samples were not queried again
        assert chat_server.calls[prompt] == expected[prompt], prompt
    requeried = [p for p, n in chat_server.calls.items() if n > expected[p]]
    assert len(requeried) <= IN_FLIGHT and all(calls_at_kill[p] >= 1 for p in requeried)
    assert sum(chat_server.calls.values()) <= N + IN_FLIGHT


def test_sigkill_loses_no_acknowledged_sample(chat_server, store_url: str, tmp_path: Path) -> None:
    """Acknowledged = committed: every sample id the engine reported before the kill is stored.

    Then the same run again queries only what is not stored: nothing recorded is asked twice.
    """
    import time

    chat_server.delay = 0.05
    n = 60
    script = Path(__file__).with_name("acker.py")
    cmd = [sys.executable, str(script), store_url, "openai-api/fake/echo", str(n), "20"]
    env = {**os.environ, "FAKE_API_KEY": "test-key", "FAKE_BASE_URL": chat_server.base_url}
    out_path = tmp_path / "acks"
    with out_path.open("wb") as out, (tmp_path / "stderr").open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, start_new_session=True)
        try:
            deadline = time.monotonic() + 180
            while len(out_path.read_bytes().splitlines()) < 15:
                assert proc.poll() is None, (tmp_path / "stderr").read_text()[-2000:]
                assert time.monotonic() < deadline, "the run never got going"
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    acked = {int(x) for x in out_path.read_text().split()}
    assert len(acked) >= 15

    with EvidenceStore(store_url, create=False) as store:
        (run,) = store.runs()
        assert verify_run(store, run.run_id).ok
        stored = {json.loads(r.item)[0] for r in store.records(run.run_id, kinds=("sample",))}
    assert acked <= stored, f"acknowledged but lost: {sorted(acked - stored)}"
    assert len(stored) < n

    calls_before = Counter(chat_server.calls)
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    for sid in stored:  # nothing already recorded is queried again
        assert chat_server.calls[f"question {sid}"] == calls_before[f"question {sid}"], sid
    with EvidenceStore(store_url, create=False) as store:
        (final,) = store.runs()
        ids = [json.loads(r.item)[0] for r in store.records(run.run_id, kinds=("sample",))]
        assert final.closed and sorted(ids) == list(range(1, n + 1))
        assert verify_run(store, run.run_id).ok
