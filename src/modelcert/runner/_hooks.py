"""The bridge from Inspect's hooks to the runner that started an eval.

Inspect instantiates hook classes once per process, so the hook only routes: each
round passes a token in the eval's metadata, ``on_task_start`` maps the eval id to
the runner that owns that token, and per-sample events go to that runner alone.
Evals that are not ours (other code calling ``inspect_ai.eval``) are ignored.
"""

from __future__ import annotations

from typing import Any, Protocol

from inspect_ai.hooks import Hooks, ModelRetry, SampleEnd, TaskEnd, TaskStart, hooks

TOKEN_KEY = "modelcert_round"


class _Sink(Protocol):
    def _on_retry(self, data: ModelRetry) -> None: ...
    def _on_sample_end(self, data: SampleEnd) -> None: ...


_pending: dict[str, _Sink] = {}  # round token -> runner
_by_eval: dict[str, _Sink] = {}  # Inspect eval id -> runner


def expect(token: str, sink: Any) -> None:
    _pending[token] = sink


def forget(token: str) -> None:
    sink = _pending.pop(token, None)
    for eval_id in [e for e, s in _by_eval.items() if s is sink]:
        del _by_eval[eval_id]


@hooks(name="modelcert_evidence", description="Records each finished sample in the modelcert evidence log.")
class EvidenceHooks(Hooks):
    def enabled(self) -> bool:
        return bool(_pending)

    async def on_task_start(self, data: TaskStart) -> None:
        token = (data.spec.metadata or {}).get(TOKEN_KEY)
        if token in _pending:
            _by_eval[data.eval_id] = _pending[token]

    async def on_model_retry(self, data: ModelRetry) -> None:
        sink = _by_eval.get(data.eval_id or "")
        if sink is not None:
            sink._on_retry(data)

    async def on_sample_end(self, data: SampleEnd) -> None:
        sink = _by_eval.get(data.eval_id)
        if sink is not None:
            sink._on_sample_end(data)

    async def on_task_end(self, data: TaskEnd) -> None:
        _by_eval.pop(data.eval_id, None)
