"""The Ray executor on a local head: replicas, retries after a killed worker, the shared limiter.

A round of a real check against a real OpenAI-compatible server on 127.0.0.1 runs on
two API workers; one worker process is SIGKILLed mid-round. Every sample must then be
recorded exactly once, the chain must verify, no sample recorded before the kill may be
queried again, and the cluster-wide limiter must hold the endpoint's rate.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from modelcert.checks.registry import get_check
from modelcert.evidence.answers import answers_root
from modelcert.evidence.store import EvidenceStore
from modelcert.evidence.verify import verify_run
from modelcert.runner import Limits, Runner
from modelcert.targets import make_target

sys.path.insert(0, str(Path(__file__).parents[1] / "runner"))
from fakeserver import FakeChatServer

pytestmark = pytest.mark.usefixtures("ray_head")


def _slow_square(state: dict, x: int) -> tuple[int, int]:
    time.sleep(0.4)
    return x * x, os.getpid()


def test_pool_reruns_the_items_of_a_killed_replica(by_value: None) -> None:
    from modelcert.executors import get_executor

    pool = get_executor("ray").pool("test-square", 2, num_cpus=0)
    pids = pool.pids()
    got: list[tuple[int, tuple[int, int]]] = []
    for i, res in pool.map(_slow_square, list(range(10))):
        got.append((i, res))
        if len(got) == 2:
            os.kill(pids[0], signal.SIGKILL)
    assert sorted(i for i, _ in got) == list(range(10))  # every item once: none lost, none twice
    assert all(r[0] == i * i for i, r in got)
    pool.close()


N = 16


def _round(store: EvidenceStore, target, executor: str, plan: dict) -> Runner:
    spec = get_check("safety.harmful")
    runner = Runner(store, target, lambda: spec.task(), check_id=spec.id, check_version=spec.version,
                    limits=Limits(max_retries=1, attempt_timeout=20, timeout=60, max_samples=2), plan=plan,
                    executor=executor)
    runner.start_run(resume=False)
    return runner


def test_api_round_on_workers_survives_a_killed_worker_under_the_shared_rate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, by_value: None) -> None:
    from modelcert.executors import get_executor
    from modelcert.runner.fanout import pool_for

    stamps: list[float] = []

    def reply(prompt: str) -> str:
        stamps.append(time.monotonic())
        return "I can't help with that."

    with FakeChatServer(delay=0.25, reply=reply) as server:
        monkeypatch.setenv("FAKE_API_KEY", "test-key")
        monkeypatch.setenv("FAKE_BASE_URL", server.base_url)
        monkeypatch.setenv("MODELCERT_API_WORKERS", "2")
        monkeypatch.setenv("MODELCERT_CHUNK", "2")
        target = make_target("openai-api/fake/echo")
        with EvidenceStore(f"sqlite:///{tmp_path / 'ev.sqlite'}") as store:
            here = _round(store, target, "inprocess", {"executor": "inprocess"})
            ids = here.sample_ids[:N]
            here.run_round(ids)
            expected = here.finish_run().data["answers_root"]
            assert expected == answers_root(r.data for r in here.records())
            server.calls.clear()
            stamps.clear()

            monkeypatch.setenv("MODELCERT_ENDPOINT_RATE", "4")
            runner = _round(store, target, "ray", {"executor": "ray"})
            pool = pool_for(get_executor("ray"), target)
            pids = pool.pids()
            seen_before_kill: set = set()

            def killer() -> None:  # once two chunks are recorded, SIGKILL a worker mid-chunk
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    done = {r.data["sample_id"] for r in store.records(runner.run_id, kinds=("sample",))}
                    if len(done) >= 4:
                        seen_before_kill.update(done)
                        os.kill(pids[0], signal.SIGKILL)
                        return
                    time.sleep(0.05)

            t = threading.Thread(target=killer)
            t.start()
            got = runner.run_round(ids)
            t.join()
            end = runner.finish_run()
            assert seen_before_kill, "the kill never happened"
            ids_recorded = Counter(r.data["sample_id"] for r in store.records(runner.run_id, kinds=("sample",)))
            assert set(ids_recorded) == set(ids) and max(ids_recorded.values()) == 1, ids_recorded  # none lost/twice
            assert all(r.ok for r in got) and len(got) == N, [r.error for r in got]
            assert verify_run(store, runner.run_id).ok
            assert end.data["answers_root"] == expected  # same answers as in-process, as recorded
            prompts = {r.data["sample_id"]: r.data["input"][-1]["content"]
                       for r in store.records(runner.run_id, kinds=("sample",))}
            again = {i: server.calls[prompts[i]] for i in seen_before_kill if server.calls[prompts[i]] != 1}
            assert not again, again  # finished: never re-queried
            # the shared limiter (4/s, one token) across both workers, which could do 16/s
            # unlimited: a 1 s window holds at most 4 + 1 grants, plus one call whose send a
            # loaded worker delayed past the next grant; unlimited it would hold about 16
            stamps.sort()
            peak = max(sum(1 for s in stamps if a <= s < a + 1.0) for a in stamps)
            assert peak <= 6, (peak, [round(s - stamps[0], 2) for s in stamps])
    pool.close()
