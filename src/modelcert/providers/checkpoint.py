"""A local checkpoint (safetensors folder or GGUF file), loaded once and used for batched, tier-gated work.

This is the engine behind the ``local/`` Inspect provider and the weights-tier
analyzers. It exists because Inspect's stock ``hf`` provider samples by default,
waits up to 2 s to fill a batch, and offers neither the loglikelihood of a given
continuation nor chosen hidden states. Every method here checks the access tier,
so a downgraded target really withholds what its tier does not grant.
"""

from __future__ import annotations

import contextlib
import io
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelcert.errors import ConfigError
from modelcert.providers.cores import apply_threads, resolve_threads
from modelcert.targets import Tier, check_safetensors_only, is_gguf, tier_allows

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": str}


@dataclass
class TokenLogprob:
    token: str
    token_id: int
    logprob: float
    top: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Generation:
    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str  # "stop" (eos / stop sequence) or "max_tokens"
    logprobs: list[TokenLogprob] | None = None


class LocalCheckpoint:
    """A causal LM loaded with transformers from safetensors or from a GGUF file.

    Args:
        path: Folder with ``config.json``, ``*.safetensors`` and tokenizer files, or a
            ``.gguf`` file (dequantized to float32 by transformers; see :func:`_load`).
        access: The granted tier; logprobs need ``logprobs``, loglikelihood and hidden
            states need ``weights``.
        device: Torch device; CPU by default.
        seed: Seeds torch before each call so that any sampling is reproducible.
        threads: Torch intra-op threads (default: :func:`modelcert.providers.cores.default_threads`,
            1 on machines with up to 4 cores). Fixed and re-applied before every forward
            pass, because the count is process-wide and can change floating-point results.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        access: Tier = "weights",
        device: str = "cpu",
        seed: int = 0,
        threads: int | None = None,
    ) -> None:
        import torch
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        self.path = Path(path)
        check_safetensors_only(self.path)
        _gate(self.path)
        self.access = access
        self.seed = seed
        self.device = torch.device(device)
        self.threads = resolve_threads(threads)
        apply_threads(self.threads)
        self.tokenizer, model = _load(self.path)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        if not getattr(self.tokenizer, "chat_template", None):
            raise ConfigError(f"tokenizer in {self.path} has no chat template")
        self.model = model.to(self.device)
        self.model.eval()
        self._lock = threading.Lock()  # one forward pass at a time per checkpoint
        self.batches_run = 0  # generate() calls, and the prompts they carried: batching is observable
        self.prompts_run = 0

    # -- helpers ---------------------------------------------------------------
    def _require(self, needed: Tier, what: str) -> None:
        from modelcert.errors import AccessError

        if not tier_allows(self.access, needed):
            raise AccessError(f"{what} needs access tier {needed!r}; this target is at {self.access!r}")

    def render(self, messages: list[Message], *, generation_prompt: bool = True) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )

    @property
    def eos_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        if ids is None:
            ids = self.tokenizer.eos_token_id
        return list(ids) if isinstance(ids, list | tuple) else [ids]

    # -- generation ------------------------------------------------------------
    def generate(
        self,
        chats: list[list[Message]],
        *,
        max_new_tokens: int = 64,
        logprobs: bool = False,
        top_logprobs: int = 0,
        stop: list[str] | None = None,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[Generation]:
        """Generation for a batch of chats, in one padded forward loop.

        Greedy at ``temperature`` 0 (the default); above 0, plain ancestral sampling at
        that temperature (no top-k or top-p cut, so every token keeps a finite
        log-probability). The batch is seeded with ``seed`` (else the checkpoint's seed),
        so a sampled batch is reproducible from its composition and seed; returned
        log-probabilities are those of the distribution actually sampled from.
        """
        import torch

        if logprobs:
            self._require("logprobs", "token log-probabilities")
        prompts = [self.render(c) for c in chats]
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self.device
        )
        with self._lock, torch.inference_mode():
            apply_threads(self.threads)
            torch.manual_seed(self.seed if seed is None else seed)
            sampling = {"do_sample": True, "temperature": float(temperature), "top_k": 0, "top_p": 1.0} \
                if temperature > 0 else {"do_sample": False}
            out = self.model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                **sampling,
                eos_token_id=self.eos_ids,
                pad_token_id=self.tokenizer.pad_token_id,
                return_dict_in_generate=True,
                output_scores=logprobs,
            )
            self.batches_run += 1
            self.prompts_run += len(chats)
        width = enc["input_ids"].shape[1]
        new = out.sequences[:, width:]
        results: list[Generation] = []
        eos = set(self.eos_ids)
        for i, row in enumerate(new.tolist()):
            ids: list[int] = []
            reason = "max_tokens"
            for tok in row:
                if tok in eos:
                    reason = "stop"
                    break
                ids.append(tok)
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            if stop:
                cut = min((text.find(s) for s in stop if s in text), default=-1)
                if cut >= 0:
                    text, reason = text[:cut], "stop"
            lps = None
            if logprobs:
                lps = []
                for step, tok in enumerate(ids):
                    dist = torch.log_softmax(out.scores[step][i].float(), dim=-1)
                    top: list[tuple[str, float]] = []
                    if top_logprobs:
                        vals, inds = dist.topk(top_logprobs)
                        top = [(self.tokenizer.decode([j]), float(v)) for v, j in zip(vals, inds.tolist())]
                    lps.append(TokenLogprob(self.tokenizer.decode([tok]), tok, float(dist[tok]), top))
            results.append(
                Generation(
                    text=text,
                    input_tokens=int(enc["attention_mask"][i].sum()),
                    output_tokens=len(ids),
                    stop_reason=reason,
                    logprobs=lps,
                )
            )
        return results

    # -- weights-tier API -------------------------------------------------------
    def loglikelihood(self, chats: list[list[Message]], continuations: list[str]) -> list[float]:
        """Sum of log P(continuation tokens | chat + assistant prefix), per pair."""
        import torch

        self._require("weights", "loglikelihood of a given continuation")
        if len(chats) != len(continuations):
            raise ConfigError("loglikelihood needs one continuation per chat")
        rows: list[tuple[list[int], int]] = []
        for chat, cont in zip(chats, continuations):
            ctx = self.tokenizer(self.render(chat), add_special_tokens=False)["input_ids"]
            full = self.tokenizer(self.render(chat) + cont, add_special_tokens=False)["input_ids"]
            if full[: len(ctx)] != ctx or len(full) == len(ctx):
                raise ConfigError(f"continuation {cont!r} does not tokenize as an extension of its prompt")
            rows.append((full, len(ctx)))
        width = max(len(r) for r, _ in rows)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (r, _) in enumerate(rows):
            ids[i, width - len(r) :] = torch.tensor(r)
            mask[i, width - len(r) :] = 1
        with self._lock, torch.inference_mode():
            apply_threads(self.threads)
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
        logp = torch.log_softmax(logits.float(), dim=-1)
        scores = []
        for i, (r, n_ctx) in enumerate(rows):
            offset = width - len(r)
            total = 0.0
            for pos in range(n_ctx, len(r)):
                total += float(logp[i, offset + pos - 1, r[pos]])
            scores.append(total)
        return scores

    def hidden_states(
        self, chats: list[list[Message]], layers: list[int], *, pool: str = "last"
    ) -> dict[int, Any]:
        """Activations of chosen layers at the generation position (``last``) or mean-pooled."""
        import torch

        self._require("weights", "hidden states")
        prompts = [self.render(c) for c in chats]
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self.device
        )
        with self._lock, torch.inference_mode():
            apply_threads(self.threads)
            out = self.model(**enc, output_hidden_states=True)
        n_layers = len(out.hidden_states)
        result: dict[int, Any] = {}
        for layer in layers:
            if not -n_layers <= layer < n_layers:
                raise ConfigError(f"layer {layer} out of range (model has {n_layers} hidden-state outputs)")
            h = out.hidden_states[layer]
            if pool == "last":
                result[layer] = h[:, -1, :].float().cpu()
            elif pool == "mean":
                m = enc["attention_mask"].unsqueeze(-1).float()
                result[layer] = ((h * m).sum(1) / m.sum(1)).float().cpu()
            else:
                raise ConfigError(f"unknown pooling {pool!r}; use 'last' or 'mean'")
        return result

    def parameters(self) -> dict[str, Any]:
        """Named parameter tensors (weights tier only)."""
        self._require("weights", "model parameters")
        return {k: v.detach() for k, v in self.model.state_dict().items()}


def _load(path: Path) -> tuple[Any, Any]:
    """Tokenizer and model from a safetensors folder or a GGUF file, never from the network.

    A GGUF file carries its config, tokenizer and chat template; transformers reads them
    through the ``gguf`` package and dequantizes the tensors to float32, so the model
    then offers everything a safetensors one does (logprobs, loglikelihood, hidden states)
    at the cost of about 4 bytes per parameter in memory.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not is_gguf(path):
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, use_safetensors=True, local_files_only=True)
        return tokenizer, model
    try:
        import gguf  # noqa: F401  (transformers needs it to read the file)
    except ImportError as exc:
        raise ConfigError(f"loading {path.name} needs the 'gguf' package (pip install gguf)") from exc
    kwargs = {"gguf_file": path.name, "local_files_only": True}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, **kwargs)
        # transformers' dequantization draws its own tqdm bar on stderr, which the setting
        # that silences its other bars does not reach; the CLI's stderr is for our messages
        with contextlib.redirect_stderr(io.StringIO()):
            model = AutoModelForCausalLM.from_pretrained(path.parent, **kwargs)
    except (ValueError, KeyError, NotImplementedError) as exc:  # an architecture or quant type transformers lacks
        raise ConfigError(f"transformers cannot load {path.name}: {exc}") from exc
    return tokenizer, model


def _load_tokenizer(path: Path) -> Any:
    """The checkpoint's tokenizer alone, set up as :class:`LocalCheckpoint` uses it (left padding)."""
    from transformers import AutoTokenizer

    if is_gguf(path):
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
    else:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def _gate(path: Path) -> None:
    """Refuse a checkpoint the artifact gate flags, before transformers opens any file."""
    from modelcert.analyzers.artifact import scan_path

    scan_path(path).raise_if_blocking()


_CACHE: dict[tuple[str, str, str, int], LocalCheckpoint] = {}
_CACHE_LOCK = threading.Lock()


def load_checkpoint(
    path: str | Path, *, access: Tier = "weights", device: str = "cpu", seed: int = 0, threads: int | None = None
) -> LocalCheckpoint:
    """Load (or reuse) a checkpoint; one copy per (path, tier, device, seed) per process.

    Everything in one process that needs the same model (the ``local/`` provider behind
    every check, the fingerprint, the weights-tier analyzers) shares this copy, so an
    audit loads each model once. ``threads`` (default: the process default) applies to
    the shared copy; asking again with another count changes it for every user.
    """
    key = (str(Path(path).resolve()), access, device, seed)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = LocalCheckpoint(path, access=access, device=device, seed=seed, threads=threads)
        elif threads is not None:
            _CACHE[key].threads = resolve_threads(threads)
        return _CACHE[key]
