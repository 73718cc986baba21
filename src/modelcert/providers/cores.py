"""How many torch intra-op threads a local model gets.

Torch defaults to one thread per core. On a small machine shared with other jobs that
oversubscribes the cores: measured on 2 cores at load 4-7, a batched ``generate`` ran
8-15x slower with 2 threads than with 1, and its times swung wildly. Throughput scales
by batching and by more processes, not by more threads per process, so the default is
1 thread on machines with at most 4 cores and half the cores (at most 8) above that.

``MODELCERT_THREADS`` overrides the default for every load in the process; a model
argument (``-M threads=N`` on ``local/``) overrides it for one model. The count in use
is recorded in each run's ``run_start`` (``runtime.threads``), because a different
count can change floating-point results.
"""

from __future__ import annotations

import os

from modelcert.errors import ConfigError

ENV = "MODELCERT_THREADS"


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """``MODELCERT_THREADS`` if set, else 1 on <= 4 cores, else half the cores (at most 8)."""
    value = os.environ.get(ENV, "").strip()
    if value:
        return parse_threads(value, source=ENV)
    cores = available_cores()
    return 1 if cores <= 4 else min(8, cores // 2)


def parse_threads(value: object, *, source: str = "threads") -> int:
    """A positive thread count, or a :class:`ConfigError` naming where the bad value came from."""
    try:
        n = int(str(value))
    except ValueError:
        raise ConfigError(f"{source} must be a positive whole number of threads, not {value!r}") from None
    if n < 1:
        raise ConfigError(f"{source} must be a positive whole number of threads, not {value!r}")
    return n


def resolve_threads(value: object | None) -> int:
    """An explicit count (validated) or the default."""
    return default_threads() if value is None else parse_threads(value)


def apply_threads(n: int) -> None:
    """Set torch's intra-op thread count for this process if it differs (it is process-wide)."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
