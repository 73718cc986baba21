"""Acceptance: SIGKILL a real run mid-way, run the same command again, lose and repeat nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from modelcert.evidence.store import EvidenceStore
from modelcert.evidence.verify import verify_run

SCRIPT = Path(__file__).with_name("echo_run.py")
N = 40


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


def test_sigkill_then_same_command_resumes(chat_server, store_url: str) -> None:
    chat_server.delay = 0.15  # slow enough that the kill lands mid-run
    cmd = [sys.executable, str(SCRIPT), store_url, chat_server.base_url, str(N), "10"]
    env = {**os.environ, "FAKE_API_KEY": "test-key"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _count(store_url) < 12:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the run never got going"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    with EvidenceStore(store_url, create=False) as store:
        (run,) = store.runs()
        assert not run.closed and 12 <= run.samples < N
        before = {json.loads(r.item)[0] for r in store.records(run.run_id, kinds=("sample",))}
        assert verify_run(store, run.run_id).ok  # the kill left a consistent chain
    calls_at_kill = dict(chat_server.calls)

    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == run.run_id  # the same run, resumed

    with EvidenceStore(store_url, create=False) as store:
        (final,) = store.runs()
        samples = [json.loads(r.item)[0] for r in store.records(run.run_id, kinds=("sample",))]
        assert sorted(samples) == list(range(1, N + 1))  # no duplicates, none lost
        assert final.closed and final.errors == 0
        assert verify_run(store, run.run_id).ok
        kinds = [r.kind for r in store.records(run.run_id)]
        assert kinds.count("run_start") == 1 and kinds.count("resume") == 1
    for i in before:  # completed samples were not queried again
        assert chat_server.calls[f"question {i}"] == 1
    # only samples in flight at the kill (at most max_samples=4) were sent twice
    requeried = [p for p, n in chat_server.calls.items() if n > 1]
    assert len(requeried) <= 4 and all(calls_at_kill.get(p) == 1 for p in requeried)
    assert sum(chat_server.calls.values()) <= N + 4
