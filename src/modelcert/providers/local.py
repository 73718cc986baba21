"""The ``local/<path>`` Inspect model provider.

Registered with Inspect through our entry point, so ``inspect eval ... --model
local/<path>`` works as well as ``modelcert run``. Requests that Inspect issues
concurrently are batched as they arrive: a batch starts as soon as the model is free,
with whatever is queued at that moment, so there is no fixed wait to fill a batch.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    Logprob,
    Logprobs,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    TopLogprob,
    modelapi,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from modelcert.errors import ConfigError
from modelcert.providers.checkpoint import Generation, LocalCheckpoint, Message, load_checkpoint
from modelcert.providers.cores import parse_threads
from modelcert.providers.process import ModelProcess, default_process, serve_checkpoint
from modelcert.providers.threads import to_thread
from modelcert.targets import TIERS, resolve_local_path

DEFAULT_BATCH_SIZE = 32
DEFAULT_MAX_TOKENS = 64
_QUIET_TICKS = 10  # event-loop ticks without a new request that end the gathering of a batch


@dataclass
class _Request:
    chat: list[Message]
    max_new_tokens: int
    logprobs: bool
    top_logprobs: int
    stop: tuple[str, ...]
    future: asyncio.Future[Generation] = field(repr=False)
    temperature: float = 0.0
    seed: int | None = None

    @property
    def key(self) -> tuple[int, bool, int, tuple[str, ...], float]:
        return (self.max_new_tokens, self.logprobs, self.top_logprobs, self.stop, self.temperature)


class _Batcher:
    """Collects concurrent requests and runs them in batches on a worker thread."""

    def __init__(self, checkpoint: LocalCheckpoint | ModelProcess, batch_size: int, loop: asyncio.AbstractEventLoop) -> None:
        self.checkpoint = checkpoint
        self.batch_size = batch_size
        self.loop = loop
        self.queue: list[_Request] = []
        self.task: asyncio.Task[None] | None = None

    async def submit(self, req: _Request) -> Generation:
        self.queue.append(req)
        self._ensure_draining()
        return await req.future

    async def _gather(self) -> None:
        """Let requests that are on their way join this batch, without a fixed wait.

        Yields to the event loop while the queue keeps growing (samples that Inspect
        started together reach ``generate`` a few ticks apart) and stops at the first
        quiet ticks or a full batch. Measured on an eval of 128 samples: batches of
        20, 5, 32, 8, 32, 31 with a single yield; full batches with this.
        """
        quiet = 0
        while len(self.queue) < self.batch_size and quiet < _QUIET_TICKS:
            n = len(self.queue)
            await asyncio.sleep(0)
            quiet = quiet + 1 if len(self.queue) == n else 0

    def _ensure_draining(self) -> None:
        # The task's own state, not a flag: a flag would stay set if a loop died mid-drain.
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self.queue:
                await self._gather()
                key = self.queue[0].key
                batch = [r for r in self.queue if r.key == key][: self.batch_size]
                for r in batch:
                    self.queue.remove(r)
                try:
                    outs = await to_thread(
                        self.checkpoint.generate,
                        [r.chat for r in batch],
                        max_new_tokens=key[0],
                        logprobs=key[1],
                        top_logprobs=key[2],
                        stop=list(key[3]) or None,
                        temperature=key[4],
                        seed=batch[0].seed,  # a sampled batch is seeded by its first request
                    )
                except Exception as exc:  # deliver the failure to every waiter
                    for r in batch:
                        if not r.future.done():
                            r.future.set_exception(exc)
                    continue
                for r, out in zip(batch, outs):
                    if not r.future.done():
                        r.future.set_result(out)
        finally:
            if self.queue:  # arrived while the last batch was being delivered
                self.loop.call_soon(self._ensure_draining)


def _flag(value: object, name: str) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"local/ model arg {name} must be 1 or 0, not {value!r}")


def _to_messages(input: list[ChatMessage]) -> list[Message]:
    msgs: list[Message] = []
    for m in input:
        role = m.role if m.role in ("system", "user", "assistant") else "user"
        msgs.append({"role": role, "content": m.text})
    return msgs


@modelapi(name="local")
class LocalModelAPI(ModelAPI):
    """Inspect provider for a local safetensors checkpoint (``local/<folder>`` or ``local/zoo:<name>``).

    Model args (``-M`` on the Inspect CLI):
        access: Granted tier (``api``, ``logprobs``, ``weights``; default ``weights``).
            Below ``logprobs`` no token log-probabilities are returned, even if asked.
        batch_size: Largest batch per forward loop (default 32).
        device: Torch device (default ``cpu``).
        seed: Torch seed (default 0). Decoding is greedy at temperature 0 and samples
            at a temperature above 0; a sampled batch is seeded by its first request's
            ``seed`` (else this one).
        threads: Torch intra-op threads (default ``MODELCERT_THREADS``, else 1 on machines
            with up to 4 cores; see :mod:`modelcert.providers.cores`).
        process: Run generation in a child process (``1``) instead of a thread of this one
            (``0``); default ``MODELCERT_MODEL_PROCESS``, else ``0``. Weights-tier work
            (loglikelihood, hidden states, parameters) stays in this process. See
            :mod:`modelcert.providers.process` for what it gains and costs.
    """

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        **model_args: Any,
    ) -> None:
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        access = str(model_args.pop("access", "weights"))
        if access not in TIERS:
            raise ConfigError(f"unknown access tier {access!r}")
        self.access = access
        self.batch_size = int(model_args.pop("batch_size", DEFAULT_BATCH_SIZE))
        device = str(model_args.pop("device", "cpu"))
        seed = int(model_args.pop("seed", config.seed if config.seed is not None else 0))
        threads = model_args.pop("threads", None)
        process = model_args.pop("process", None)
        if model_args:
            raise ConfigError(f"unknown model args for local/: {', '.join(sorted(model_args))}")
        self.path = resolve_local_path(model_name)
        n_threads = None if threads is None else parse_threads(threads, source="local/ model arg threads")
        self.process = default_process() if process is None else _flag(process, "process")
        self._load_args: dict[str, Any] = {"access": access, "device": device, "seed": seed, "threads": n_threads}
        self._checkpoint: LocalCheckpoint | None = None
        # what runs generate(): the in-process copy, or a child process holding its own
        self.generator: LocalCheckpoint | ModelProcess = (
            serve_checkpoint(self.path, **self._load_args) if self.process else self.checkpoint
        )
        self._batcher_: _Batcher | None = None

    @property
    def checkpoint(self) -> LocalCheckpoint:
        """The in-process copy (shared through :func:`load_checkpoint`), for the weights-tier callers
        that read the model directly: loglikelihood scoring, the backdoor scan, the probes. With
        ``process=1`` it is loaded only when one of them asks."""
        if self._checkpoint is None:
            self._checkpoint = load_checkpoint(self.path, **self._load_args)
        return self._checkpoint

    def _batcher(self) -> _Batcher:
        # One batcher per event loop. Compare the loop object itself: Inspect runs each eval
        # in a new loop, and a new loop can reuse a closed one's id().
        loop = asyncio.get_running_loop()
        if self._batcher_ is None or self._batcher_.loop is not loop:
            self._batcher_ = _Batcher(self.generator, self.batch_size, loop)
        return self._batcher_

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        if tools:
            raise ConfigError("the local provider does not support tool calling")
        want_logprobs = bool(config.logprobs) and self.access != "api"
        start = time.perf_counter()
        loop = asyncio.get_running_loop()
        req = _Request(
            chat=_to_messages(input),
            max_new_tokens=config.max_tokens or DEFAULT_MAX_TOKENS,
            logprobs=want_logprobs,
            top_logprobs=(config.top_logprobs or 0) if want_logprobs else 0,
            stop=tuple(config.stop_seqs or ()),
            future=loop.create_future(),
            temperature=float(config.temperature or 0.0),
            seed=config.seed,
        )
        out = await self._batcher().submit(req)
        logprobs = None
        if out.logprobs is not None:
            logprobs = Logprobs(
                content=[
                    Logprob(
                        token=t.token,
                        logprob=t.logprob,
                        bytes=list(t.token.encode("utf-8")),
                        top_logprobs=[
                            TopLogprob(token=s, logprob=v, bytes=list(s.encode("utf-8"))) for s, v in t.top
                        ]
                        or None,
                    )
                    for t in out.logprobs
                ]
            )
        return ModelOutput(
            model=self.model_name,
            choices=[
                ChatCompletionChoice(
                    message=ChatMessageAssistant(content=out.text, model=self.model_name, source="generate"),
                    stop_reason="stop" if out.stop_reason == "stop" else "max_tokens",
                    logprobs=logprobs,
                )
            ],
            usage=ModelUsage(
                input_tokens=out.input_tokens,
                output_tokens=out.output_tokens,
                total_tokens=out.input_tokens + out.output_tokens,
            ),
            time=time.perf_counter() - start,
        )

    def max_tokens(self) -> int | None:
        return DEFAULT_MAX_TOKENS

    def max_connections(self) -> int:
        # Two batches' worth in flight: while one batch runs, the next fills up, so forward
        # loops run full instead of alternating between a few stragglers and the rest
        # (Inspect's default max_samples follows this number).
        return 2 * self.batch_size

    def connection_key(self) -> str:
        return str(self.path)

    async def count_text_tokens(self, text: str) -> int:
        # Inspect's default uses tiktoken, which downloads its encoding: fails offline.
        return len(self.generator.tokenizer(text, add_special_tokens=False)["input_ids"])
