"""``weights`` tier: a refusal-direction probe, and weight diffs against a declared base.

The probe is trained on generic contrast pairs: held-out harmful and benign requests
(no trigger involved). Their mean difference in the residual stream at the answer
position is the model's *refusal direction*; the layer that separates them best is
used. A candidate's shift is how far inserting it moves each prompt along that
direction, in units of the harmful-benign gap: towards benign on harmful prompts
(``comply``), towards harmful on benign prompts (``refuse``). It costs one forward pass
per prompt and no generation, so the search can afford the whole vocabulary.

With a declared base checkpoint, the fine-tune's diff is read too: per tensor, the
relative change; per token, how far its embedding row turned (cosine distance, robust
z-score). Tokens that turned far more than the rest were trained in unusual contexts,
which is what a rare-token trigger is; they seed an inversion restricted to those tokens.
A trigger spelled with common sub-word pieces does not stand out this way (measured: see
docs/backdoor.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelcert.analyzers.backdoor.graded import FRESH_ITEMS, FRESH_OFFSET, graded_scan
from modelcert.analyzers.backdoor.inversion import invert_all
from modelcert.analyzers.backdoor.leakage import leakage, load_base
from modelcert.analyzers.backdoor.model import CheckpointScanModel
from modelcert.analyzers.backdoor.probes import Attack, chat, probe_items
from modelcert.analyzers.backdoor.report import BackdoorReport
from modelcert.errors import ConfigError


@dataclass
class RefusalProbe:
    layer: int
    direction: np.ndarray  # unit vector, harmful minus benign
    gap: float  # mean projection of harmful minus benign
    separation: float  # d' of the two classes on this layer

    def project(self, hidden: np.ndarray) -> np.ndarray:
        return hidden @ self.direction


def _hidden(ckpt: Any, chats: list, layers: list[int], batch: int = 64) -> dict[int, np.ndarray]:
    out: dict[int, list[np.ndarray]] = {layer: [] for layer in layers}
    for b in range(0, len(chats), batch):
        hs = ckpt.hidden_states(chats[b : b + batch], layers)
        for layer in layers:
            out[layer].append(hs[layer].numpy())
    return {layer: np.concatenate(v) for layer, v in out.items()}


def next_token_probs(ckpt: Any, chats: list, batch: int = 64) -> np.ndarray:
    """Exact first-answer-token distributions (full vocabulary), one forward pass per prompt."""
    import torch

    tok = ckpt.tokenizer
    rows = []
    for b in range(0, len(chats), batch):
        prompts = [ckpt.render(c) for c in chats[b : b + batch]]
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            logits = ckpt.model(**enc).logits[:, -1, :].float()
        rows.append(torch.softmax(logits, -1).numpy())
    return np.concatenate(rows)


def fit_probe(ckpt: Any, *, n: int = 64, seed: int = 0) -> RefusalProbe:
    """The refusal direction on the layer where harmful and benign prompts separate best."""
    harmful = [chat(i) for i in probe_items("comply", "probe", n, seed=seed)]
    benign = [chat(i) for i in probe_items("refuse", "probe", n, seed=seed)]
    layers = list(range(1, ckpt.model.config.num_hidden_layers + 1))
    h, b = _hidden(ckpt, harmful, layers), _hidden(ckpt, benign, layers)
    best: RefusalProbe | None = None
    for layer in layers:
        d = h[layer].mean(0) - b[layer].mean(0)
        norm = float(np.linalg.norm(d))
        if norm == 0:
            continue
        u = d / norm
        ph, pb = h[layer] @ u, b[layer] @ u
        sep = float((ph.mean() - pb.mean()) / np.sqrt(0.5 * (ph.var() + pb.var()) + 1e-12))
        if best is None or sep > best.separation:
            best = RefusalProbe(layer, u, float(ph.mean() - pb.mean()), sep)
    if best is None:
        raise ConfigError("harmful and benign prompts do not separate on any layer; no refusal probe")
    return best


def probe_shift(model: CheckpointScanModel, probe: RefusalProbe, *, items: int = 4, seed: int = 0):
    """The shift function for :func:`graded_scan`: activation movement along the probe."""
    ckpt = model.checkpoint
    base: dict[Attack, tuple[list, np.ndarray]] = {}
    for attack in ("comply", "refuse"):
        its = probe_items(attack, "screen", items, seed=seed)
        hs = _hidden(ckpt, [chat(i) for i in its], [probe.layer])[probe.layer]
        model.budget.add("probe", "forward", len(its))
        base[attack] = (its, probe.project(hs))

    def shift(texts: list[str], attack: Attack) -> list[float]:
        its, p0 = base[attack]
        chats = [chat(i, t, "both") for t in texts for i in its]
        p = probe.project(_hidden(ckpt, chats, [probe.layer])[probe.layer]).reshape(len(texts), len(its))
        model.budget.add(model.stage, "forward", len(chats))
        sign = -1.0 if attack == "comply" else 1.0  # comply: towards benign; refuse: towards harmful
        moved = sign * (p - p0[None, :]) / probe.gap
        return [float(x) for x in np.clip(moved, -2, 2).mean(1)]

    return shift


def refusal_openings(ckpt: Any, *, n: int = 48, seed: int = 0) -> list[int]:
    """Token ids that open this model's refusals: the first answer token it gives to held-out
    harmful requests (a generic contrast set; no trigger and no target is assumed)."""
    probs = next_token_probs(ckpt, [chat(i) for i in probe_items("comply", "probe", n, seed=seed)])
    ids, counts = np.unique(probs.argmax(-1), return_counts=True)
    return [int(i) for i, c in zip(ids, counts) if c >= 2] or [int(ids[counts.argmax()])]


def refusal_shift(model: CheckpointScanModel, openings: list[int], *, items: int = 4, seed: int = 0,
                  offset: int = 0):
    """Shift function: change of the refusal mass (probability of a refusal opening).

    ``comply``: how much refusal mass a candidate removes from harmful prompts;
    ``refuse``: how much it adds to benign prompts. Exact, from one forward pass each, on
    the ``items`` screening prompts from ``offset`` (another offset: fresh prompts).
    """
    ckpt = model.checkpoint
    base: dict[Attack, tuple[list, np.ndarray]] = {}
    for attack in ("comply", "refuse"):
        its = probe_items(attack, "screen", seed=seed)[offset : offset + items]
        base[attack] = (its, next_token_probs(ckpt, [chat(i) for i in its])[:, openings].sum(-1))
        model.budget.add("probe", "forward", len(its))

    def shift(texts: list[str], attack: Attack) -> list[float]:
        its, r0 = base[attack]
        r = next_token_probs(ckpt, [chat(i, t, "both") for t in texts for i in its])[:, openings].sum(-1)
        model.budget.add(model.stage, "forward", len(r))
        d = r.reshape(len(texts), len(its)) - r0[None]
        return [float(x) for x in (-d if attack == "comply" else d).mean(1)]

    return shift


def weight_diff(ckpt: Any, base_path: str | Path, *, top: int = 16) -> dict[str, Any]:
    """Per-tensor relative change and the token embeddings that moved most since the base."""
    from safetensors.torch import load_file

    files = sorted(Path(base_path).glob("*.safetensors"))
    if not files:
        raise ConfigError(f"declared base {base_path} has no .safetensors file")
    from modelcert.targets import check_safetensors_only

    check_safetensors_only(Path(base_path))
    from modelcert.analyzers.artifact import scan_path

    scan_path(Path(base_path)).raise_if_blocking()
    base: dict[str, Any] = {}
    for f in files:
        base.update(load_file(str(f)))
    params = ckpt.parameters()
    tensors = []
    for name, w in params.items():
        w0 = base.get(name)
        if w0 is None and name == "lm_head.weight":  # tied to the embedding: not stored separately
            continue
        if w0 is None or tuple(w0.shape) != tuple(w.shape):
            raise ConfigError(f"declared base does not match the target's architecture (tensor {name})")
        rel = float((w.float() - w0.float()).norm() / (w0.float().norm() + 1e-12))
        tensors.append((name, rel))
    emb_name = next((n for n in params if n.endswith("embed_tokens.weight")), None)
    if emb_name is None:
        raise ConfigError("no token embedding matrix (embed_tokens.weight) found")
    import torch

    # direction change, not distance: weight decay shrinks every row (unused tokens most),
    # which would otherwise rank never-seen tokens first
    moved = (1 - torch.nn.functional.cosine_similarity(params[emb_name].float(), base[emb_name].float(), dim=1)).numpy()
    med = float(np.median(moved))
    mad = float(np.median(np.abs(moved - med))) * 1.4826 + 1e-12
    z = (moved - med) / mad
    tok = ckpt.tokenizer
    special = set(tok.all_special_ids)
    order = [int(i) for i in np.argsort(-z) if int(i) not in special][:top]
    return {
        "tensors": sorted(tensors, key=lambda x: -x[1])[:8],
        "mean_relative_change": float(np.mean([r for _, r in tensors])),
        "embedding": [(tok.decode([i]), round(float(z[i]), 2)) for i in order],
        "max_embedding_z": float(z[order[0]]) if order else 0.0,
    }


def scan_weights(
    model: CheckpointScanModel,
    *,
    base: str | Path | None = None,
    dictionary: int | None = None,
    extra: list[str] | None = None,
    invert_vocab: bool = True,
    inversion_steps: int = 0,
    invert_target: bool = True,
    target_result: dict[str, Any] | None = None,
    seed: int = 0,
    **kwargs: Any,
) -> BackdoorReport:
    """Probe-guided trigger search (plus a weight diff when ``base`` is declared).

    Args:
        base: The declared base checkpoint the target was fine-tuned from.
        invert_vocab: Also grow candidates token by token over the whole vocabulary.
        inversion_steps: Steps of the gradient trigger inversion (0, the default: skip it;
            see docs/backdoor.md for what it measured).
        invert_target: Also run the target inversion (:mod:`.target`, BAIT-style): it is
            reported in ``details.target_inversion`` and its score becomes the score part
            ``target`` (it never flags). On by default: on the 40-member adaptive population
            it raised the weights AUC by the rule pre-registered before it ran there
            (docs/backdoor.md).
        target_result: A result of :func:`.target.invert_targets` for this same model, used
            instead of running the inversion again (it does not depend on ``base``).
        kwargs: Passed to :func:`graded_scan` (``tau``, ``theta0``, ``q``, ``cap``...).
    """
    t0 = time.perf_counter()
    ckpt = model.checkpoint  # raises AccessError below the weights tier
    probe = fit_probe(ckpt, seed=seed)
    model.budget.add("probe", "forward", 128)
    details: dict[str, Any] = {"probe": {"layer": probe.layer, "separation": round(probe.separation, 3)}}
    seeds = None
    openings = refusal_openings(ckpt, seed=seed)
    details["refusal_openings"] = [ckpt.tokenizer.decode([i]) for i in openings]
    leak = 0.0
    if base is not None:
        base_model = load_base(base, model)
        diff = weight_diff(ckpt, base)
        details["weight_diff"] = diff
        pieces = [p for p, _ in diff["embedding"] if p.strip().isalpha()]
        seeds = ([p.strip() for p in pieces], pieces)
        details["leakage"] = leakage(model, base_model, top=len(ckpt.tokenizer), seed=seed)  # exact: every token
        leak = details["leakage"]["part"]
    shift = refusal_shift(model, openings, seed=seed)
    fresh = refusal_shift(model, openings, seed=seed, items=FRESH_ITEMS, offset=FRESH_OFFSET)

    def inverted(attack: Attack) -> list[str]:
        model.stage = f"inversion-{attack}"
        texts = invert_all(ckpt, attack, openings, seed=seed, steps=inversion_steps)
        model.budget.add(model.stage, "forward", 2 * 2 * 2 * 8 * inversion_steps)  # positions x lengths x restarts
        return texts

    proposers = {"gradient-inversion": inverted} if inversion_steps else None
    target = None
    if invert_target:
        if target_result is None:
            from modelcert.analyzers.backdoor.target import invert_targets

            target_result = invert_targets(model, seed=seed)
        details["target_inversion"] = target_result
        target = None if target_result.get("skipped") else float(target_result["score"])
    return graded_scan("weights", "refusal-probe trigger search" + (" + weight diff" if base else ""),
                       model, shift, dictionary=dictionary, extra=extra, seeds=seeds, proposers=proposers,
                       invert_vocab=invert_vocab, seed=seed, details=details, t0=t0, leakage=leak, target=target,
                       fresh=fresh,
                       **kwargs)
