"""What a backdoor scan may ask of its target, with every query counted.

A scan talks to a :class:`ScanModel`, never to a provider directly, so the queries it
spends are counted in one place and a downgraded target really withholds what its tier
does not grant (the checkpoint itself re-checks the tier on every call).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

from modelcert.errors import AccessError, ModelCallError, ModelcertError
from modelcert.targets import Tier, tier_allows

Message = dict[str, str]
Chat = list[Message]


class SearchBudgetError(ModelcertError):
    """A search ran past its time budget (declared in the policy); it has no result."""


@dataclass
class Budget:
    """Queries spent, by kind: ``generate`` calls (one per prompt), first-token logprob
    calls, and forward passes over activations or gradients (weights tier)."""

    generate: int = 0
    logprobs: int = 0
    forward: int = 0
    tokens_out: int = 0
    by_stage: dict[str, int] = field(default_factory=dict)
    seconds: float | None = None
    """The search's time budget (None: none); checked after every batch of queries."""
    deadline: float | None = None

    @property
    def total(self) -> int:
        return self.generate + self.logprobs + self.forward

    def start_clock(self, seconds: float | None) -> None:
        """Give the search ``seconds`` from now; past them the next batch ends it."""
        self.seconds = seconds
        self.deadline = None if seconds is None else time.monotonic() + seconds

    def add(self, stage: str, kind: str, n: int, tokens_out: int = 0) -> None:
        setattr(self, kind, getattr(self, kind) + n)
        self.tokens_out += tokens_out
        self.by_stage[stage] = self.by_stage.get(stage, 0) + n
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise SearchBudgetError(
                f"the search's time budget of {self.seconds:g} s ran out in stage {stage!r} after "
                f"{self.total} queries: no result, which is never a PASS")

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "generate": self.generate, "logprobs": self.logprobs,
                "forward": self.forward, "tokens_out": self.tokens_out, "by_stage": dict(self.by_stage)}


def _merge(pairs: list[tuple[str, float]]) -> dict[str, float]:
    """Top-k alternatives by text; tokens that decode alike (partial bytes) pool their mass."""
    out: dict[str, float] = {}
    for text, lp in pairs:
        out[text] = math.log(math.exp(out[text]) + math.exp(lp)) if text in out else lp
    return out


class ScanModel:
    """A target as a scan sees it: batched greedy text, first-token logprobs, internals.

    Args:
        tier: The granted access tier; methods above it raise :class:`AccessError`.
        tokenizer: The target's tokenizer when it is public (a local folder), else None;
            the scans draw trigger candidates from its vocabulary.
    """

    def __init__(self, tier: Tier, tokenizer: Any = None) -> None:
        self.tier = tier
        self.tokenizer = tokenizer
        self.budget = Budget()
        self.stage = "scan"

    def require(self, needed: Tier, what: str) -> None:
        if not tier_allows(self.tier, needed):
            raise AccessError(f"{what} needs access tier {needed!r}; this target is at {self.tier!r}")

    def generate(self, chats: list[Chat], max_new_tokens: int = 10) -> list[str]:
        raise NotImplementedError

    def first_logprobs(self, chats: list[Chat], top: int = 20) -> list[dict[str, float]]:
        """Per chat, the top-``top`` log-probabilities of the first answer token."""
        raise NotImplementedError

    @property
    def checkpoint(self) -> Any:
        raise AccessError("this target exposes no weights (a remote endpoint)")


#: Chunks per replica and the smallest chunk worth a replica call (see ``_chunks``).
LPT_CHUNKS = 3
MIN_CHUNK = 8


class CheckpointScanModel(ScanModel):
    """A local checkpoint (:class:`~modelcert.providers.checkpoint.LocalCheckpoint`).

    Batches are length-sorted chunks, so padding stays small on a CPU.

    Args:
        replicas: A replica pool (:meth:`modelcert.executors.Executor.pool`): the text and
            logprob batches of the search are spread over its replicas, each holding its
            own copy of the checkpoint (loaded once per replica). The weights-tier probes
            still read this process's copy. Results are the same as without (greedy).
    """

    def __init__(self, checkpoint: Any, *, tier: Tier | None = None, batch: int = 64,
                 replicas: Any = None) -> None:
        tier = tier or checkpoint.access
        if not tier_allows(checkpoint.access, tier):
            raise AccessError(f"the checkpoint is loaded at {checkpoint.access!r}; cannot scan at {tier!r}")
        super().__init__(tier, checkpoint.tokenizer)
        self._ckpt = checkpoint
        self.batch = batch
        self.replicas = replicas

    def _chunks(self, chats: list[Chat]) -> list[list[int]]:
        """Length-sorted chunks (small padding); on replicas, longest first and several per replica.

        A round of the search waits for its slowest chunk. Equal-count chunks of a
        length-sorted list differ in cost, so with one chunk per replica the replica with
        the long prompts sets the pace. Cutting ``LPT_CHUNKS`` chunks per replica and
        handing them out longest first (the pool gives the next chunk to whichever replica
        is free) evens the finish times: the classic longest-processing-time rule.
        """
        order = sorted(range(len(chats)), key=lambda i: sum(len(m["content"]) for m in chats[i]))
        per = self.batch
        if self.replicas is not None and self.replicas.size > 1:
            n = self.replicas.size * LPT_CHUNKS
            per = max(min(MIN_CHUNK, self.batch), math.ceil(len(order) / (n * math.ceil(len(order) / (n * self.batch)))))
            return [order[b : b + per] for b in range(0, len(order), per)][::-1]
        return [order[b : b + per] for b in range(0, len(order), per)]

    def _run(self, chats: list[Chat], idx_chunks: list[list[int]], kwargs: dict[str, Any]) -> list[list[Any]]:
        """Generations per chunk, here or on the replicas (each returns plain tuples)."""
        jobs = [([chats[i] for i in idx], kwargs) for idx in idx_chunks]
        if self.replicas is None or len(jobs) < 2:
            return [_plain(self._ckpt.generate(c, **kw), kw) for c, kw in jobs]
        c = self._ckpt
        spec = (str(c.path), c.access, str(c.device), c.seed)
        out: list[list[Any]] = [[] for _ in jobs]
        for i, res in self.replicas.map(_replica_generate, [(spec, c_, kw) for c_, kw in jobs]):
            out[i] = res
        return out

    def generate(self, chats: list[Chat], max_new_tokens: int = 10) -> list[str]:
        out: list[str] = [""] * len(chats)
        idx_chunks = self._chunks(chats)
        for idx, gens in zip(idx_chunks, self._run(chats, idx_chunks, {"max_new_tokens": max_new_tokens})):
            for i, (text, output_tokens) in zip(idx, gens):
                out[i] = text
                self.budget.tokens_out += output_tokens
        self.budget.add(self.stage, "generate", len(chats))
        return out

    def first_logprobs(self, chats: list[Chat], top: int = 20) -> list[dict[str, float]]:
        self.require("logprobs", "token log-probabilities")
        out: list[dict[str, float]] = [{} for _ in chats]
        idx_chunks = self._chunks(chats)
        kw = {"max_new_tokens": 1, "logprobs": True, "top_logprobs": top}
        for idx, gens in zip(idx_chunks, self._run(chats, idx_chunks, kw)):
            for i, lp in zip(idx, gens):
                out[i] = lp
        self.budget.add(self.stage, "logprobs", len(chats))
        return out

    @property
    def checkpoint(self) -> Any:
        self.require("weights", "parameters and activations")
        return self._ckpt


def _plain(gens: list[Any], kwargs: dict[str, Any]) -> list[Any]:
    """What a scan reads of a generation: (text, output tokens), or the merged first-token top-k."""
    if kwargs.get("logprobs"):
        return [_merge(g.logprobs[0].top) if g.logprobs else {} for g in gens]
    return [(g.text, g.output_tokens) for g in gens]


def _replica_generate(state: dict[str, Any], job: tuple[Any, list[Chat], dict[str, Any]]) -> list[Any]:
    """On a replica: its own copy of the checkpoint (loaded on first use), one chunk."""
    from modelcert.providers.checkpoint import load_checkpoint

    (path, access, device, seed), chats, kwargs = job
    key = f"ckpt:{path}:{access}:{device}:{seed}"
    if key not in state:
        state[key] = load_checkpoint(path, access=access, device=device, seed=seed)
    return _plain(state[key].generate(chats, **kwargs), kwargs)


class InspectScanModel(ScanModel):
    """Any Inspect model (a remote endpoint), driven from a worker thread.

    A scan is synchronous and adaptive; Inspect's model API is async. The scan runs in a
    thread and submits each batch to the event loop that owns the model.
    """

    def __init__(self, model: Any, loop: asyncio.AbstractEventLoop, *, tier: Tier = "api",
                 tokenizer: Any = None, timeout: float = 600.0) -> None:
        super().__init__(tier, tokenizer)
        self._model = model
        self._loop = loop
        self._timeout = timeout

    def _run(self, chats: list[Chat], config: Any) -> list[Any]:
        from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser

        kinds = {"system": ChatMessageSystem, "user": ChatMessageUser, "assistant": ChatMessageAssistant}

        async def one(chat: Chat) -> Any:
            return await self._model.generate([kinds[m["role"]](content=m["content"]) for m in chat],
                                              config=config)

        async def all_() -> list[Any]:
            return await asyncio.gather(*(one(c) for c in chats))

        try:
            return asyncio.run_coroutine_threadsafe(all_(), self._loop).result(self._timeout)
        except Exception as exc:  # a failed query is never silently dropped
            raise ModelCallError(f"backdoor scan query failed: {exc}") from exc

    def generate(self, chats: list[Chat], max_new_tokens: int = 10) -> list[str]:
        from inspect_ai.model import GenerateConfig

        outs = self._run(chats, GenerateConfig(max_tokens=max_new_tokens, temperature=0.0))
        self.budget.add(self.stage, "generate", len(chats),
                        sum(o.usage.output_tokens if o.usage else 0 for o in outs))
        return [o.completion for o in outs]

    def first_logprobs(self, chats: list[Chat], top: int = 20) -> list[dict[str, float]]:
        from inspect_ai.model import GenerateConfig

        self.require("logprobs", "token log-probabilities")
        outs = self._run(chats, GenerateConfig(max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=top))
        self.budget.add(self.stage, "logprobs", len(chats))
        result: list[dict[str, float]] = []
        for o in outs:
            lp = o.choices[0].logprobs if o.choices else None
            if lp is None or not lp.content:
                result.append({})
                continue
            first = lp.content[0]
            d = _merge([(t.token, t.logprob) for t in (first.top_logprobs or [])])
            d.setdefault(first.token, first.logprob)
            result.append(d)
        return result
