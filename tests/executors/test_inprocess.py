"""The in-process executor: today's behaviour, no Ray needed (the quick start's path)."""

from __future__ import annotations

import threading
import time

import pytest

from modelcert.errors import ConfigError
from modelcert.executors import InProcessExecutor, ThreadLimiter, get_executor


def _square(state: dict, x: int) -> int:
    state["calls"] = state.get("calls", 0) + 1
    return x * x


def test_default_is_in_process_and_unknown_names_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELCERT_EXECUTOR", raising=False)
    ex = get_executor()
    assert isinstance(ex, InProcessExecutor) and not ex.distributed
    with pytest.raises(ConfigError, match="unknown executor"):
        get_executor("dask")
    monkeypatch.setenv("MODELCERT_EXECUTOR", "spark")
    with pytest.raises(ConfigError, match="spark"):
        get_executor()


def test_pool_keeps_state_per_key_and_submit_returns_futures() -> None:
    ex = InProcessExecutor()
    pool = ex.pool("k")
    assert sorted(pool.map(_square, [1, 2, 3])) == [(0, 1), (1, 4), (2, 9)]
    assert ex.pool("k") is pool and pool.state["calls"] == 3  # one replica, loaded once
    assert ex.submit(pow, 2, 10).result(timeout=5) == 1024


def test_thread_limiter_holds_rate_and_concurrency() -> None:
    lim = ThreadLimiter(rate=20, burst=1, concurrency=2)
    stamps: list[float] = []
    inflight, peak = [0], [0]
    lock = threading.Lock()

    def call() -> None:
        with lim:
            with lock:
                stamps.append(time.monotonic())
                inflight[0] += 1
                peak[0] = max(peak[0], inflight[0])
            time.sleep(0.05)
            with lock:
                inflight[0] -= 1

    threads = [threading.Thread(target=call) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    assert peak[0] <= 2
    # 12 calls at 20/s with a one-token bucket: no 1 s window holds more than 21
    assert all(sum(1 for s in stamps if a <= s < a + 1.0) <= 21 for a in stamps)
    assert stamps[-1] - stamps[0] >= 11 / 20 * 0.9


def test_only_the_ray_executor_imports_ray() -> None:
    """The engine, the runner and the backdoor search reach Ray only through the executor."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src" / "modelcert"
    importers = sorted(str(p.relative_to(src)) for p in src.rglob("*.py")
                       if re.search(r"^\s*(import ray|from ray[ .])", p.read_text(), re.M))
    assert importers == ["executors/ray_executor.py"]
    code = ("import sys, modelcert.policy.audit, modelcert.runner.engine, modelcert.runner.fanout, "
            "modelcert.analyzers.backdoor, modelcert.web.worker, modelcert.executors; "
            "modelcert.executors.get_executor('inprocess'); print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # the quick start never loads Ray


def test_cli_refuses_an_unknown_executor_before_any_query(tmp_path) -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "modelcert", "audit", "--executor", "dask", "--out",
                          str(tmp_path / "out"), "--db", str(tmp_path / "ev.sqlite")],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "unknown executor 'dask'" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "ev.sqlite").exists()


def test_scan_model_batches_through_a_replica_pool_give_the_same_answers(random_checkpoint) -> None:
    """The replica path of the backdoor search (chunks shipped as plain tuples) changes nothing."""
    from modelcert.analyzers.backdoor.model import CheckpointScanModel
    from modelcert.providers.checkpoint import load_checkpoint

    ckpt = load_checkpoint(random_checkpoint, access="logprobs")
    chats = [[{"role": "user", "content": f"word {i} " * (i % 4 + 1)}] for i in range(7)]
    here = CheckpointScanModel(ckpt, batch=2)
    pooled = CheckpointScanModel(ckpt, batch=2, replicas=InProcessExecutor().pool("scan-test"))
    assert pooled.first_logprobs(chats, top=5) == here.first_logprobs(chats, top=5)
    assert pooled.generate(chats, max_new_tokens=3) == here.generate(chats, max_new_tokens=3)
    assert pooled.budget.to_dict() == here.budget.to_dict()


def test_scan_chunks_for_two_replicas_cover_every_chat_once_longest_first(random_checkpoint) -> None:
    """On a 2-replica pool the search's batches are cut finer and handed out longest first
    (LPT), and the answers stay those of the single-process path."""
    from modelcert.analyzers.backdoor.model import LPT_CHUNKS, CheckpointScanModel
    from modelcert.executors._base import _LocalPool
    from modelcert.providers.checkpoint import load_checkpoint

    class TwoReplicas(_LocalPool):
        size = 2

    ckpt = load_checkpoint(random_checkpoint, access="logprobs")
    chats = [[{"role": "user", "content": "w " * (1 + (i * 7) % 40)}] for i in range(100)]
    pooled = CheckpointScanModel(ckpt, batch=64, replicas=TwoReplicas())
    chunks = pooled._chunks(chats)
    assert sorted(i for c in chunks for i in c) == list(range(100))
    assert len(chunks) >= 2 * LPT_CHUNKS  # several per replica, so a free replica takes the next
    cost = [max(len(chats[i][0]["content"]) for i in c) for c in chunks]
    assert cost == sorted(cost, reverse=True)  # longest first
    here = CheckpointScanModel(ckpt, batch=64)
    assert pooled.generate(chats[:20], max_new_tokens=2) == here.generate(chats[:20], max_new_tokens=2)
