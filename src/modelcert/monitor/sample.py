"""Drawing monitoring samples from an endpoint, and the pre-registered sampling plan.

Why a plan: what is drawn (prompts, temperature, length, queries per check) and how
it is tested (which test, alpha, calibrator) must be fixed before the first query, so
a check cannot be tuned to pass or to alarm. The plan is chosen by access tier:

* ``api``: MMD on completions (MET's design: 25 prompts x 10 completions = 250 queries
  per check); the reference sample holds one fresh block of that size per planned
  check, so each check is independent of the last (see :mod:`modelcert.monitor.eprocess`);
* ``logprobs``: the log-probability test (:mod:`modelcert.monitor.logprob_test`) with
  25 prompts x 2 queries = 50 queries per check (1/5 of the api budget); its reference
  is one sample with token log-probabilities plus a replicate for the noise floor.

Queries go through Inspect's model API (any Inspect model string, including our
``local/`` provider and OpenAI-compatible servers), concurrently, one seed per query.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from modelcert.errors import ConfigError, ModelCallError
from modelcert.evidence.chain import digest

TestName = Literal["mmd-hamming", "logprob-tolerance"]


@dataclass(frozen=True)
class Plan:
    """The pre-registered monitoring design (recorded before any query)."""

    tier: str
    test: TestName
    temperature: float = 1.0
    max_tokens: int = 32
    prompts: int = 25
    per_prompt: int = 10
    blocks: int = 20
    alpha: float = 0.05
    kappa: float = 0.2
    permutations: int = 2000
    length: int = 50
    top_logprobs: int = 5
    null_rate: float = 0.001
    min_tolerance: float = 0.02
    reference_per_prompt: int = 10
    # api: alarm on the weighted average of the calibrated-MMD e-process and the learned-
    # witness e-process (monitor/witness.py). False for plans recorded before the witness.
    witness: bool = False
    witness_weight: float = 0.25  # the learned-witness process's share of the average
    # api, opt-in: a third process on a one-class novelty score learned from a learning sample
    # of learn_per_prompt replies per prompt drawn at enrollment (monitor/novelty.py)
    novelty: bool = False
    novelty_weight: float = 0.25
    learn_per_prompt: int = 100
    # exact-identity shortcut: a check whose greedy answers to the secret prompts hash to the
    # enrollment's greedy digest runs no test (see greedy_digest); off unless pre-registered.
    shortcut: bool = False

    @property
    def queries_per_check(self) -> int:
        return self.prompts * self.per_prompt

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> Plan:
        if self.tier not in ("api", "logprobs"):
            raise ConfigError(f"monitoring runs at the api or logprobs tier, not {self.tier!r}")
        if self.test not in ("mmd-hamming", "logprob-tolerance"):
            raise ConfigError(f"unknown monitoring test {self.test!r}")
        if self.test == "logprob-tolerance" and self.tier != "logprobs":
            raise ConfigError("the log-probability test needs the logprobs tier")
        if self.temperature <= 0:
            raise ConfigError("monitoring samples at a temperature above 0")
        if min(self.prompts, self.per_prompt, self.blocks, self.max_tokens, self.reference_per_prompt) < 1:
            raise ConfigError("prompts, per_prompt, blocks, max_tokens and reference_per_prompt must be >= 1")
        if not 0 < self.alpha < 1:
            raise ConfigError("alpha must lie in (0, 1)")
        if self.novelty and (self.test != "mmd-hamming" or not self.witness):
            raise ConfigError("the novelty process runs beside the api test and its learned witness only")
        if self.novelty and (self.learn_per_prompt < 1 or self.witness_weight + self.novelty_weight >= 1):
            raise ConfigError("novelty needs learn_per_prompt >= 1 and witness + novelty weights below 1")
        return self


def plan_for(tier: str, **overrides: Any) -> Plan:
    """The default plan of a tier (``weights`` monitors like ``logprobs``)."""
    if tier == "weights":
        tier = "logprobs"
    if tier == "api":
        # 5000 permutations: one check alarms at p <= 0.0008 (3 of 5000 permutations) while the MMD
        # process carries 3/4 of the average
        base = Plan(tier="api", test="mmd-hamming", witness=True, permutations=5000)
    elif tier == "logprobs":
        base = Plan(tier="logprobs", test="logprob-tolerance", per_prompt=2, blocks=1)
    else:
        raise ConfigError(f"unknown access tier {tier!r}")
    return replace(base, **overrides).validate()


@dataclass(frozen=True)
class Reply:
    """One query's answer: the text and, at ``logprobs``, its token positions."""

    prompt_id: str
    text: str
    positions: list[dict[str, Any]] | None = None
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"prompt_id": self.prompt_id, "text": self.text, "positions": self.positions, "seed": self.seed}


@dataclass
class InspectEndpoint:
    """A target reached through Inspect; ``system`` and ``served_temperature`` exist to
    build substitutions (a provider adding a system prompt or ignoring the requested
    temperature) for the tests and the bench."""

    target: Any
    system: str | None = None
    served_temperature: float | None = None
    _model: Any = field(default=None, repr=False)

    def model(self) -> Any:
        if self._model is None:
            self._model = self.target.inspect_model()
        return self._model

    async def complete(self, prompt_id: str, prompt: str, plan: Plan, seed: int) -> Reply:
        from inspect_ai.model import ChatMessageSystem, ChatMessageUser, GenerateConfig

        want = plan.tier == "logprobs"
        config = GenerateConfig(
            temperature=self.served_temperature or plan.temperature,
            max_tokens=plan.max_tokens,
            seed=seed,
            logprobs=want or None,
            top_logprobs=plan.top_logprobs if want else None,
        )
        messages: list[Any] = [ChatMessageSystem(content=self.system)] if self.system else []
        messages.append(ChatMessageUser(content=prompt))
        out = await self.model().generate(messages, config=config)
        if out.error:
            raise ModelCallError(f"query {prompt_id} failed: {out.error}")
        choice = out.choices[0]
        positions = None
        if want:
            if choice.logprobs is None:
                raise ModelCallError("the endpoint returned no log-probabilities at the logprobs tier")
            positions = [
                {"token": lp.token, "logprob": float(lp.logprob),
                 "top": {t.token: float(t.logprob) for t in (lp.top_logprobs or [])}}
                for lp in choice.logprobs.content
            ]
        return Reply(prompt_id, out.completion, positions, seed)


@dataclass
class CheckpointEndpoint:
    """A ``local/`` target drawn in large batches straight from its checkpoint.

    The same engine as the ``local/`` Inspect provider (:class:`LocalCheckpoint`), minus
    Inspect's per-call overhead, which dominates a 250-query check on a tiny model.
    ``system`` and ``served_temperature`` build substitutions, as for
    :class:`InspectEndpoint`.
    """

    target: Any
    system: str | None = None
    served_temperature: float | None = None
    batch_size: int = 256

    def checkpoint(self) -> Any:
        from modelcert.providers.checkpoint import load_checkpoint

        if self.target.path is None:
            raise ConfigError(f"{self.target.model} is not a local checkpoint")
        return load_checkpoint(self.target.path, access=self.target.access)

    def complete_batch(self, queries: Sequence[tuple[str, str]], plan: Plan, seed: int) -> list[Reply]:
        ck = self.checkpoint()
        want = plan.tier == "logprobs"
        out: list[Reply] = []
        for start in range(0, len(queries), self.batch_size):
            chunk = queries[start:start + self.batch_size]
            chats = [([{"role": "system", "content": self.system}] if self.system else [])
                     + [{"role": "user", "content": text}] for _, text in chunk]
            gens = ck.generate(chats, max_new_tokens=plan.max_tokens, temperature=self.served_temperature
                               or plan.temperature, seed=seed + start, logprobs=want,
                               top_logprobs=plan.top_logprobs if want else 0)
            for (pid, _), g in zip(chunk, gens, strict=True):
                positions = None
                if want:
                    positions = [{"token": t.token, "logprob": t.logprob, "top": dict(t.top)} for t in g.logprobs or []]
                out.append(Reply(pid, g.text, positions, seed + start))
        return out


@dataclass
class MixedEndpoint:
    """Partial routing: each query goes to ``other`` with probability ``share``."""

    main: Any
    other: Any
    share: float
    seed: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    async def complete(self, prompt_id: str, prompt: str, plan: Plan, seed: int) -> Reply:
        target = self.other if self._rng.random() < self.share else self.main
        return await target.complete(prompt_id, prompt, plan, seed)

    def complete_batch(self, queries: Sequence[tuple[str, str]], plan: Plan, seed: int) -> list[Reply]:
        routed = [self._rng.random() < self.share for _ in queries]
        a = self.main.complete_batch([q for q, r in zip(queries, routed) if not r], plan, seed)
        b = self.other.complete_batch([q for q, r in zip(queries, routed) if r], plan, seed + len(queries))
        ia, ib = iter(a), iter(b)
        return [next(ib) if r else next(ia) for r in routed]


def endpoint_for(target: Any) -> Any:
    """The fastest faithful way to query a target: its checkpoint for ``local/``, else Inspect."""
    return CheckpointEndpoint(target) if target.provider == "local" else InspectEndpoint(target)


class _Halted(Exception):
    """The progress callback stopped the draw; carries its exception through asyncio."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def draw(
    endpoint: Any,
    prompts: Sequence[dict[str, Any]],
    plan: Plan,
    *,
    per_prompt: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> list[Reply]:
    """``per_prompt`` replies to every prompt, queried concurrently; query ``i`` gets seed ``seed+i``.

    A failed query fails the draw (:class:`ModelCallError`): a sample with holes
    would be tested as if complete. ``progress`` is told the number of queries answered
    so far (after each one, or once for a batched local engine); an exception it raises
    stops the draw (a background job being stopped).
    """
    queries = [(str(p["id"]), str(p["prompt"])) for p in prompts for _ in range(per_prompt)]
    if hasattr(endpoint, "complete_batch"):
        out = endpoint.complete_batch(queries, plan, seed)
        if progress is not None:
            progress(len(out))
        return out
    answered = 0

    async def _one(i: int, pid: str, text: str) -> Reply:
        nonlocal answered
        reply = await endpoint.complete(pid, text, plan, seed + i)
        answered += 1
        if progress is not None:
            try:
                progress(answered)
            except Exception as exc:  # passed on unchanged below, not as a failed query
                raise _Halted(exc) from None
        return reply

    async def _all() -> list[Reply]:
        return list(await asyncio.gather(*(_one(i, pid, text) for i, (pid, text) in enumerate(queries))))

    try:
        return asyncio.run(_all())
    except _Halted as halted:
        raise halted.cause from None
    except ModelCallError:
        raise
    except Exception as exc:  # Inspect and HTTP clients raise their own types
        raise ModelCallError(f"monitoring query failed: {type(exc).__name__}: {exc}") from None


def greedy(endpoint: Any, prompts: Sequence[dict[str, Any]], plan: Plan,
           progress: Callable[[int], None] | None = None) -> list[Reply]:
    """One greedy (temperature 0) reply per prompt: the input of :func:`greedy_digest`."""
    return draw(endpoint, prompts, replace(plan, temperature=0.0, tier="api"), per_prompt=1, seed=0,
                progress=progress)


def greedy_digest(replies: Sequence[Reply]) -> str:
    """The greedy-answer digest: equal digests mean byte-identical greedy answers.

    Why only a shortcut and never the monitor: equal greedy answers do not make equal
    distributions (a re-quantisation, a served temperature, or 10 % routing can leave
    every greedy answer unchanged), and unequal ones do not prove a change (kernels and
    batching are not bitwise deterministic). It is taken on the *secret* monitoring
    prompts, never the public fingerprint set, which a provider could special-case.
    """
    return digest({"greedy": [[r.prompt_id, r.text] for r in replies]})


def sample_digest(replies: Sequence[Reply]) -> str:
    """The digest that names a sample (e.g. the reference sample in a certificate)."""
    return digest([r.to_dict() for r in replies])
