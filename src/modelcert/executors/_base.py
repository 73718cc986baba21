"""The executor interface and its in-process implementation.

The interface is deliberately small:

* :meth:`Executor.submit`: run one picklable callable somewhere, get a
  :class:`concurrent.futures.Future` back (the lab's audits);
* :meth:`Executor.pool`: ``n`` replicas, each holding its own state (a loaded model),
  and :meth:`ReplicaPool.map` to spread items over them, results yielded as they finish;
* :meth:`Executor.limiter`: one shared rate and concurrency limit per key (a provider
  endpoint), so scaling out never breaks a provider's rate limit.

A replica's function is called as ``fn(state, item)``: ``state`` is a dict private to the
replica that lives as long as it does, so a checkpoint is loaded once per replica.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class Limiter:
    """A token bucket (``rate`` per second, ``burst`` tokens) plus a concurrency cap."""

    def acquire(self) -> None:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Limiter:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


class ThreadLimiter(Limiter):
    """The in-process limiter: threads of one process share it."""

    def __init__(self, rate: float | None = None, burst: int = 1, concurrency: int | None = None) -> None:
        self.rate, self.burst = rate, max(1, burst)
        self._tokens = float(self.burst)
        self._stamp = time.monotonic()
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(concurrency) if concurrency else None

    def wait_time(self) -> float:
        """Take a token if one is there (0.0) or say how long until one is."""
        with self._lock:
            if self.rate is None:
                return 0.0
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate

    def acquire(self) -> None:
        if self._slots is not None:
            self._slots.acquire()
        while (w := self.wait_time()) > 0:
            time.sleep(w)

    def release(self) -> None:
        if self._slots is not None:
            self._slots.release()


class ReplicaPool:
    """``n`` replicas with private state; :meth:`map` spreads items over them."""

    size: int = 1

    def map(self, fn: Callable[[dict[str, Any], Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(state, items[index]))`` as each finishes (any order).

        An item whose replica dies before answering is run again on another replica;
        an exception raised by ``fn`` itself is raised here.
        """
        raise NotImplementedError

    def close(self) -> None:
        pass


class _LocalPool(ReplicaPool):
    def __init__(self) -> None:
        self.state: dict[str, Any] = {}

    def map(self, fn: Callable[[dict[str, Any], Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for i, item in enumerate(items):
            yield i, fn(self.state, item)


class Executor:
    """Where fan-out work runs. Subclasses: in-process (default) and Ray."""

    name = "base"
    distributed = False
    """True if work leaves this process (the runner then ships rounds to replicas)."""

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        raise NotImplementedError

    def pool(self, key: str, n: int | None = None, *, num_cpus: float = 1, num_gpus: float = 0,
             env: dict[str, str] | None = None) -> ReplicaPool:
        """The pool ``key`` (made on first use; later calls with the same key reuse it).

        ``num_cpus``/``num_gpus`` are what each replica reserves on the cluster; ``env``
        are environment variables its process needs (a provider's API key).
        """
        raise NotImplementedError

    def limiter(self, key: str, *, rate: float | None = None, burst: int = 1,
                concurrency: int | None = None) -> Limiter:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name}

    def shutdown(self) -> None:
        pass


class InProcessExecutor(Executor):
    """Today's behaviour: everything in this process; one replica (the process's own models)."""

    name = "inprocess"

    def __init__(self, threads: int = 4) -> None:
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="modelcert-exec")
        self._pools: dict[str, _LocalPool] = {}
        self._limiters: dict[str, ThreadLimiter] = {}
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        return self._threads.submit(fn, *args, **kwargs)

    def pool(self, key: str, n: int | None = None, *, num_cpus: float = 1, num_gpus: float = 0,
             env: dict[str, str] | None = None) -> ReplicaPool:
        with self._lock:
            return self._pools.setdefault(key, _LocalPool())

    def limiter(self, key: str, *, rate: float | None = None, burst: int = 1,
                concurrency: int | None = None) -> Limiter:
        with self._lock:
            return self._limiters.setdefault(key, ThreadLimiter(rate, burst, concurrency))

    def shutdown(self) -> None:
        self._pools.clear()
