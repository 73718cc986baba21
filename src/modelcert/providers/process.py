"""A local checkpoint served from a child process, so its forward passes use a second core.

Inside one process, Inspect's event loop (transcripts, scoring, evidence records) and
the ``local/`` provider's forward loop share the GIL: on a 2-core machine the wall time
per sample is close to the *sum* of the two. With the model in a child process the two
run side by side, and the parent only sends chats and receives finished generations.

The price: the child holds its own copy of the weights (an audit whose weights-tier
analyzers load the model in the parent then holds two), and it starts by importing
torch and transformers (a few seconds, paid once per process and model). The child runs
the same :class:`~modelcert.providers.checkpoint.LocalCheckpoint` code with the same
thread count and seed, so it returns the same outputs as the in-process copy, and it
enforces the same access tier (its refusals come back as the same exceptions).
"""

from __future__ import annotations

import atexit
import os
import pickle
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from modelcert.errors import ConfigError, ModelCallError
from modelcert.targets import Tier, check_safetensors_only


def _send(conn: Connection, obj: Any) -> None:
    # plain pickle: torch registers shared-memory reducers with multiprocessing's pickler,
    # which need a multiprocessing parent; tensors here are small and travel inline
    conn.send_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def _recv(conn: Connection) -> Any:
    return pickle.loads(conn.recv_bytes())


def _serve(conn: Connection) -> None:
    """The child's loop: load once, then answer one call at a time until the pipe closes.

    Ends quietly when the parent goes away (closed pipe, or the parent was killed).
    """
    try:
        try:
            from modelcert.providers.checkpoint import LocalCheckpoint

            path, kwargs = _recv(conn)
            ckpt = LocalCheckpoint(path, **kwargs)
        except (EOFError, OSError):
            return
        except BaseException as exc:  # reported to the parent, which raises it
            _send(conn, ("error", _portable(exc)))
            return
        _send(conn, ("ready", {"threads": ckpt.threads}))
        while True:
            name, args, kwargs = _recv(conn)
            try:
                result = getattr(ckpt, name)(*args, **kwargs)
            except Exception as exc:
                _send(conn, ("error", _portable(exc)))
            else:
                _send(conn, ("ok", result))
    except (EOFError, OSError, KeyboardInterrupt):  # the parent is gone, closed the pipe, or was interrupted
        return


def _portable(exc: BaseException) -> BaseException:
    """The exception itself when it pickles, else a ConfigError with its message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return ConfigError(f"model process: {type(exc).__name__}: {exc}")


class ModelProcess:
    """A :class:`~modelcert.providers.checkpoint.LocalCheckpoint` living in a child process.

    Offers the parts of its interface the ``local/`` provider and the checks use:
    ``generate``, ``loglikelihood``, ``hidden_states`` (run in the child, one call at a
    time) and ``tokenizer`` (loaded in this process on first use, for token counting).
    ``parameters()`` is not offered: analyzers that read weights load their own copy.

    Args: as :class:`~modelcert.providers.checkpoint.LocalCheckpoint`.
    """

    def __init__(
        self, path: str | Path, *, access: Tier = "weights", device: str = "cpu", seed: int = 0,
        threads: int | None = None,
    ) -> None:
        from modelcert.providers.checkpoint import _gate

        self.path = Path(path)
        check_safetensors_only(self.path)
        _gate(self.path)  # refuse a flagged checkpoint here, before any process starts
        self.access, self.seed, self.device = access, seed, device
        # A fresh interpreter, not a fork (this process may hold torch's threads) and not
        # multiprocessing's spawn (which re-runs the caller's __main__ module).
        ours, theirs = socket.socketpair()
        root = str(Path(__file__).resolve().parents[2])  # the modelcert this process imported
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "modelcert.providers.process", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env,
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        _send(self._conn, (str(self.path), {"access": access, "device": device, "seed": seed, "threads": threads}))
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self.batches_run = 0
        self.prompts_run = 0
        status, info = self._receive()
        if status == "error":
            self.close()
            raise info
        self.threads: int = info["threads"]
        atexit.register(self.close)

    def _receive(self) -> tuple[str, Any]:
        try:
            return _recv(self._conn)
        except (EOFError, OSError):
            code = self._proc.poll()
            raise ModelCallError(f"the model process for {self.path} died (exit code {code})") from None

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._proc.poll() is not None:
                raise ModelCallError(f"the model process for {self.path} is not running")
            _send(self._conn, (name, args, kwargs))
            status, value = self._receive()
        if status == "error":
            raise value
        return value

    def generate(self, chats: list[list[dict[str, str]]], **kwargs: Any) -> Any:
        out = self._call("generate", chats, **kwargs)
        self.batches_run += 1
        self.prompts_run += len(chats)
        return out

    def loglikelihood(self, chats: list[list[dict[str, str]]], continuations: list[str]) -> list[float]:
        return self._call("loglikelihood", chats, continuations)

    def hidden_states(self, chats: list[list[dict[str, str]]], layers: list[int], *, pool: str = "last") -> Any:
        return self._call("hidden_states", chats, layers, pool=pool)

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from modelcert.providers.checkpoint import _load_tokenizer

            self._tokenizer = _load_tokenizer(self.path)
        return self._tokenizer

    def close(self) -> None:
        """End the child (closing its pipe ends its loop); idempotent."""
        try:
            self._conn.close()
        except OSError:
            pass
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


#: Environment switch for the default: "1" serves local/ models from a child process.
ENV = "MODELCERT_MODEL_PROCESS"

_SERVERS: dict[tuple[str, str, str, int, int | None], ModelProcess] = {}
_SERVERS_LOCK = threading.Lock()


def default_process() -> bool:
    """Whether ``local/`` serves its model from a child process when not told (``MODELCERT_MODEL_PROCESS``)."""
    import os

    value = os.environ.get(ENV, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{ENV} must be 1 or 0, not {value!r}")


def serve_checkpoint(
    path: str | Path, *, access: Tier = "weights", device: str = "cpu", seed: int = 0, threads: int | None = None
) -> ModelProcess:
    """Start (or reuse) the child process for this checkpoint: one per (path, tier, device, seed, threads)."""
    from modelcert.providers.cores import resolve_threads

    n = resolve_threads(threads)
    key = (str(Path(path).resolve()), access, device, seed, n)
    with _SERVERS_LOCK:
        server = _SERVERS.get(key)
        if server is None or server._proc.poll() is not None:
            server = _SERVERS[key] = ModelProcess(path, access=access, device=device, seed=seed, threads=n)
        return server


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
