"""The Ray executor: audits as Ray tasks, model replicas as actors, one limiter per endpoint.

The only module of modelcert that imports Ray (``pip install 'modelcert[ray]'``).

* ``submit`` runs a callable as a Ray task that asks for no CPU: an audit coordinates,
  its queries run on the replicas, so audits never starve the replicas of CPUs.
* ``pool(key, n)`` names ``n`` detached actors ``modelcert-replica:<key>:<i>`` in the
  ``modelcert`` namespace: every audit on the cluster that needs the same model shares
  the same replicas, each holding one loaded copy. An actor that dies is restarted by Ray
  and the item it was running is given to another replica; the caller only ever sees
  finished results, so a result is used at most once.
* ``limiter(key)`` is a named token-bucket actor: one rate and concurrency limit per
  provider endpoint for the whole cluster.

``RAY_ADDRESS`` names an existing cluster; without it (and without a running
``ray.init``) a local head is started with a small object store.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError, WorkerCrashedError

from modelcert.errors import ModelCallError
from modelcert.executors._base import Executor, Limiter, ReplicaPool

NAMESPACE = "modelcert"
#: Times one item may lose its replica before the map gives up (a crash loop, not bad luck).
MAX_ATTEMPTS = 5
_LOST = (RayActorError, ActorDiedError, ActorUnavailableError, WorkerCrashedError)


def ensure_ray() -> None:
    """Connect to ``$RAY_ADDRESS``, or start a small local head, unless already connected."""
    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {"namespace": NAMESPACE, "log_to_driver": False, "include_dashboard": False}
    if address is None:
        kwargs["object_store_memory"] = 200 * 1024 * 1024
    ray.init(address=address, **kwargs)


class _Replica:
    """One replica: private state (a loaded model) and the calls that use it."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def call(self, fn: Callable[[dict[str, Any], Any], Any], item: Any) -> Any:
        return fn(self.state, item)

    def pid(self) -> int:
        return os.getpid()


class _Bucket:
    """Token bucket and concurrency slots, as one actor so every worker shares them."""

    def __init__(self, rate: float | None, burst: int, concurrency: int | None) -> None:
        self.rate, self.burst, self.concurrency = rate, max(1, burst), concurrency
        self.tokens = float(self.burst)
        self.stamp = time.monotonic()
        self.busy = 0
        self.granted = 0

    def take(self) -> float:
        """0.0: granted (a token and a slot taken); else seconds to wait before asking again."""
        if self.concurrency and self.busy >= self.concurrency:
            return 0.01
        if self.rate is not None:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens < 1:
                return (1 - self.tokens) / self.rate
            self.tokens -= 1
        self.busy += 1
        self.granted += 1
        return 0.0

    def give(self) -> None:
        self.busy = max(0, self.busy - 1)

    def stats(self) -> dict[str, Any]:
        return {"granted": self.granted, "busy": self.busy, "rate": self.rate, "concurrency": self.concurrency}


class RayLimiter(Limiter):
    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def acquire(self) -> None:
        while (wait := ray.get(self.actor.take.remote())) > 0:
            time.sleep(wait)

    def release(self) -> None:
        self.actor.give.remote()

    def stats(self) -> dict[str, Any]:
        return ray.get(self.actor.stats.remote())


class RayPool(ReplicaPool):
    def __init__(self, actors: list[Any]) -> None:
        self.actors = actors
        self.size = len(actors)
        self.closed = False

    def pids(self) -> list[int]:
        """The replicas' process ids (tests kill one to show nothing is lost)."""
        return ray.get([a.pid.remote() for a in self.actors])

    def map(self, fn: Callable[[dict[str, Any], Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        todo = list(range(len(items)))[::-1]
        attempts = [0] * len(items)
        idle = list(range(self.size))
        running: dict[Any, tuple[int, int]] = {}  # ref -> (item index, actor index)
        fn_ref = ray.put(fn)
        while todo or running:
            while todo and idle:
                i, a = todo.pop(), idle.pop(0)
                running[self.actors[a].call.remote(fn_ref, items[i])] = (i, a)
            done, _ = ray.wait(list(running), num_returns=1)
            ref = done[0]
            i, a = running.pop(ref)
            try:
                result = ray.get(ref)
            except _LOST as exc:
                attempts[i] += 1
                if attempts[i] >= MAX_ATTEMPTS:
                    raise ModelCallError(f"item {i} lost its replica {attempts[i]} times: {exc}") from exc
                todo.append(i)  # run it again; the dead replica is restarted by Ray meanwhile
                idle.append(a)
                continue
            except ray.exceptions.RayTaskError as exc:  # fn raised: re-raise the original error
                raise exc.as_instanceof_cause() from None
            idle.append(a)
            yield i, result

    def close(self) -> None:
        """Kill the replicas (their CPUs go back to the cluster); the next ``pool()`` makes new ones."""
        self.closed = True
        for a in self.actors:
            ray.kill(a, no_restart=True)


class RayExecutor(Executor):
    """Tasks and actors on a Ray cluster (``RAY_ADDRESS``, else a local head)."""

    name = "ray"
    distributed = True

    def __init__(self) -> None:
        ensure_ray()
        self._task = ray.remote(num_cpus=0, max_retries=0)(_apply)
        self._replica = ray.remote(_Replica)
        self._bucket = ray.remote(num_cpus=0)(_Bucket)
        self._pools: dict[str, RayPool] = {}

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """Run ``fn`` as a task; this process's ``MODELCERT_*`` settings go with it.

        The settings (replica resources, endpoint limits, chunk size) are the submitter's:
        a worker on another node would otherwise run an audit under its own environment.
        """
        env = {k: v for k, v in os.environ.items() if k.startswith("MODELCERT_")}
        task = self._task.options(runtime_env={"env_vars": env}) if env else self._task
        return task.remote(fn, args, kwargs).future()

    def default_replicas(self) -> int:
        return max(1, int(os.environ.get("MODELCERT_REPLICAS") or ray.cluster_resources().get("CPU", 1)))

    def pool(self, key: str, n: int | None = None, *, num_cpus: float = 1, num_gpus: float = 0,
             env: dict[str, str] | None = None) -> RayPool:
        n = n or self.default_replicas()
        name = f"{key}:{n}"
        if name not in self._pools or self._pools[name].closed:
            opts = {"num_cpus": num_cpus, "max_restarts": -1, "max_task_retries": 0, "lifetime": "detached",
                    "namespace": NAMESPACE, "get_if_exists": True}
            if num_gpus:
                opts["num_gpus"] = num_gpus
            if env:
                opts["runtime_env"] = {"env_vars": dict(env)}
            self._pools[name] = RayPool([self._replica.options(name=f"modelcert-replica:{name}:{i}", **opts)
                                         .remote() for i in range(n)])
        return self._pools[name]

    def limiter(self, key: str, *, rate: float | None = None, burst: int = 1,
                concurrency: int | None = None) -> RayLimiter:
        actor = self._bucket.options(name=f"modelcert-limit:{key}", namespace=NAMESPACE, get_if_exists=True,
                                     lifetime="detached").remote(rate, burst, concurrency)
        return RayLimiter(actor)

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name, "cluster": {k: v for k, v in ray.cluster_resources().items()
                                                   if k in ("CPU", "GPU")}}

    def shutdown(self) -> None:
        for p in self._pools.values():
            p.close()
        self._pools.clear()


def _apply(fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
    return fn(*args, **kwargs)
