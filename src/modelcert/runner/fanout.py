"""Rounds on model replicas: a distributed executor's side of :meth:`Runner.run_round`.

A round's unfinished samples are cut into chunks and spread over the replicas of the
target (:meth:`modelcert.executors.Executor.pool`). A replica keeps one loaded model and
one built task per check, runs Inspect on its chunk exactly as the in-process runner
does, and ships the finished samples' records back *unwritten*. Only the runner that
owns the run appends them, in chunk order, so the evidence log stays single-writer and
its resume logic stays the one source of truth:

* a replica that dies mid-chunk returns nothing; the pool gives the chunk to another
  replica, so its unfinished samples are queried again and none is lost;
* a sample already recorded (this round, or before a resume) is never queried again and
  never appended twice.

Remote API targets get one cluster-wide limiter per endpoint
(``MODELCERT_ENDPOINT_RATE`` requests per second, ``MODELCERT_ENDPOINT_CONCURRENCY``
requests in flight), taken around every model call on every replica.
"""

from __future__ import annotations

import asyncio
import math
import os
from dataclasses import dataclass, field
from typing import Any

from modelcert.evidence.chain import digest
from modelcert.evidence.store import SAMPLE


@dataclass
class Chunk:
    """One piece of a round, as shipped to a replica (picklable)."""

    key: str
    target: Any
    task: Any
    check_id: str
    check_version: str
    seed: int
    limits: Any
    plan: dict[str, Any]
    eval_args: dict[str, Any]
    run_id: str
    ids: list[Any]
    done: set[tuple[Any, int]] = field(default_factory=set)
    endpoint_limit: dict[str, Any] | None = None


class _Collector:
    """The store as a replica sees it: records are kept to ship back, never written."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []

    def submit(self, run_id: str, kind: str, data: dict[str, Any], *, disclosure: Any = None,
               on_commit: Any = None) -> None:
        self.items.append((kind, data, disclosure))

    def flush(self) -> None:
        pass


def endpoint_limit(target: Any) -> dict[str, Any] | None:
    """The shared limit for a remote endpoint (None for a local checkpoint or no limit set).

    The bucket holds one token: any 1 s window then sees at most ``rate + 1`` calls (a
    larger burst would let a window see up to twice the rate).
    """
    rate = os.environ.get("MODELCERT_ENDPOINT_RATE")
    conc = os.environ.get("MODELCERT_ENDPOINT_CONCURRENCY")
    if target.path is not None or not (rate or conc):
        return None
    endpoint = target.base_url or target.provider
    return {"key": digest(endpoint)[:16], "endpoint": endpoint, "rate": float(rate) if rate else None,
            "burst": 1, "concurrency": int(conc) if conc else None}


def _limited(model: Any, limit: dict[str, Any]) -> Any:
    """Take the endpoint's shared limiter around every call this model makes."""
    from modelcert.executors import get_executor

    limiter = get_executor("ray").limiter(limit["key"], rate=limit["rate"], burst=limit["burst"],
                                         concurrency=limit["concurrency"])
    api = model.api
    call = api.generate

    async def generate(*args: Any, **kwargs: Any) -> Any:
        await asyncio.to_thread(limiter.acquire)
        try:
            return await call(*args, **kwargs)
        finally:
            limiter.release()

    api.generate = generate
    return model


def run_chunk(state: dict[str, Any], chunk: Chunk) -> tuple[str, str | None, list[Any], int]:
    """On a replica: run ``chunk`` and return ``(status, error, records, pid)``."""
    from modelcert.executors import InProcessExecutor
    from modelcert.runner.engine import Runner

    runner = state.get(chunk.key)
    if runner is None:
        runner = Runner(_Collector(), chunk.target, chunk.task, check_id=chunk.check_id,
                        check_version=chunk.check_version, seed=chunk.seed, limits=chunk.limits,
                        plan=chunk.plan, eval_args=chunk.eval_args, executor=InProcessExecutor(threads=1))
        state[chunk.key] = runner
    mkey = "model:" + digest([chunk.target.identity_digest, repr(chunk.limits), chunk.endpoint_limit])
    if mkey not in state:  # one model per replica and target, shared by every check it runs
        model = runner._model_for_rounds()
        state[mkey] = _limited(model, chunk.endpoint_limit) if chunk.endpoint_limit else model
    runner._model = state[mkey]
    runner.store = collector = _Collector()
    runner.run_id = chunk.run_id
    runner._done, runner._retries, runner._failure, runner._round_new = set(chunk.done), {}, None, []
    status, error, _ = runner._eval_here(runner._task(), chunk.ids)
    if runner._failure is not None:
        raise runner._failure
    return status, error, collector.items, os.getpid()


def provider_env(target: Any) -> dict[str, str]:
    """The provider's ``*_API_KEY`` / ``*_BASE_URL`` variables of this process, for its workers.

    A worker on another node does not share this process's environment; Ray hands these
    to the worker processes it starts (``runtime_env``), never to the evidence.
    """
    parts = target.model.split("/")
    prefix = parts[1] if target.provider == "openai-api" and len(parts) >= 3 else target.provider
    prefix = prefix.upper().replace("-", "_")
    return {k: v for k, v in os.environ.items() if k in (f"{prefix}_API_KEY", f"{prefix}_BASE_URL")}


def pool_for(executor: Any, target: Any) -> Any:
    """The target's replicas: local checkpoints take a CPU (or GPU) each; API workers none."""
    key = "round:" + target.identity_digest[:16]
    if target.path is None:
        n = int(os.environ.get("MODELCERT_API_WORKERS") or 4)
        return executor.pool(key, n, num_cpus=0, env=provider_env(target))
    return executor.pool(key, num_cpus=float(os.environ.get("MODELCERT_REPLICA_CPUS") or 1),
                         num_gpus=float(os.environ.get("MODELCERT_REPLICA_GPUS") or 0))


def eval_on_replicas(runner: Any, executor: Any, todo: list[Any]) -> tuple[str, str | None, str | None]:
    """Run ``todo`` on the target's replicas and append their records here, chunk by chunk."""
    pool = pool_for(executor, runner.target)
    per = int(os.environ.get("MODELCERT_CHUNK") or 0) or max(1, math.ceil(len(todo) / (2 * pool.size)))
    limit = endpoint_limit(runner.target)
    key = runner.resume_key()
    chunks = [Chunk(key, runner.target, runner._task_source, runner.check_id, runner.check_version, runner.seed,
                    runner.limits, runner.plan, runner.eval_args, runner.run_id, ids,
                    {p for p in runner._done if p[0] in ids}, limit)
              for ids in (todo[k : k + per] for k in range(0, len(todo), per))]
    status, error = "success", None
    for _i, (st, err, items, _pid) in pool.map(run_chunk, chunks):
        for kind, body, disclosure in items:
            pair = (body["sample_id"], body["epoch"])
            if pair in runner._done:
                continue  # recorded already: never twice
            if kind == SAMPLE:
                runner._done.add(pair)
            runner.store.submit(runner.run_id, kind, body, disclosure=disclosure,
                                on_commit=lambda fut, k=kind, b=body: runner._on_commit(fut, k, b))
        if st != "success" and status == "success":
            status, error = st, err
    return status, error, None
