"""Where fan-out work runs: in this process (the default) or on a Ray cluster.

The audit engine, the check runner and the backdoor search hand their parallel work to
an :class:`Executor`; none of them imports Ray. Two implementations:

* :class:`InProcessExecutor` (``inprocess``): today's behaviour; needs nothing installed.
* :class:`~modelcert.executors.ray_executor.RayExecutor` (``ray``): tasks and actors on a
  Ray cluster (``pip install 'modelcert[ray]'``; ``RAY_ADDRESS`` names the cluster, else
  a local head is started).

Pick one with ``--executor`` or ``MODELCERT_EXECUTOR``; :func:`get_executor` resolves it.
"""

from __future__ import annotations

import os

from modelcert.errors import ConfigError
from modelcert.executors._base import (
    Executor,
    InProcessExecutor,
    Limiter,
    ReplicaPool,
    ThreadLimiter,
)

ENV = "MODELCERT_EXECUTOR"
NAMES = ("inprocess", "ray")

_cache: dict[str, Executor] = {}


def get_executor(name: str | Executor | None = None) -> Executor:
    """The executor named ``name`` (default ``$MODELCERT_EXECUTOR``, else in-process).

    One instance per name and process, so replica actors are started once and reused by
    every runner and audit of the process.
    """
    if isinstance(name, Executor):
        return name
    key = (name or os.environ.get(ENV) or "inprocess").strip().lower()
    if key not in NAMES:
        raise ConfigError(f"unknown executor {key!r} (choose {', '.join(NAMES)})")
    if key not in _cache:
        if key == "ray":
            try:
                from modelcert.executors.ray_executor import RayExecutor
            except ImportError:
                raise ConfigError("the ray executor needs Ray: pip install 'modelcert[ray]'") from None

            _cache[key] = RayExecutor()
        else:
            _cache[key] = InProcessExecutor()
    return _cache[key]


def shutdown_all() -> None:
    """Release every cached executor's replicas (tests, server stop)."""
    for ex in list(_cache.values()):
        ex.shutdown()
    _cache.clear()


__all__ = ["ENV", "NAMES", "Executor", "InProcessExecutor", "Limiter", "ReplicaPool", "ThreadLimiter",
           "get_executor", "shutdown_all"]
