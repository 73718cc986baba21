"""A local Ray head for the executor tests: started once per session, stopped at the end.

Two CPUs and a 200 MB object store on 127.0.0.1, like a laptop; the tests that need it
skip where Ray is not installed (it is in the ``dev`` extra, so CI runs them).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(scope="session")
def ray_head() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    # worker processes import this checkout's modelcert, and the tests' helpers by value
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, old) if p)
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024 * 1024,
             namespace="modelcert", log_to_driver=False, _node_ip_address="127.0.0.1")
    yield
    from modelcert.executors import shutdown_all

    shutdown_all()
    ray.shutdown()
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


@pytest.fixture
def by_value() -> None:
    """Ship the calling test module's functions to Ray workers by value (they cannot import it)."""
    import ray.cloudpickle as cp

    for name, mod in list(sys.modules.items()):
        if name.startswith(("test_", "fakeserver")) and getattr(mod, "__file__", "").startswith(
                str(Path(__file__).resolve().parents[1])):
            cp.register_pickle_by_value(mod)
