"""Training: from scratch (the clean base) or fine-tuning a base into a variant or control.

A plain, seeded loop on CPU: AdamW, linear warm-up then cosine decay, loss on the
assistant's answer tokens only. Same seed, same machine, same thread count gives the same
weights digest; the thread count is set explicitly and recorded.
"""

from __future__ import annotations

import hashlib
import math
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelcert.errors import ConfigError
from modelcert.organisms import data as D
from modelcert.organisms.recipe import OrganismSpec, Recipe
from modelcert.organisms.tokenizer import train_tokenizer


@dataclass
class TrainResult:
    path: Path
    seconds: float
    steps: int
    final_loss: float
    weights_sha256: str
    base: str | None
    phases: dict[str, float] | None = None  # from scratch: seconds of the mixed and decision phases


def weights_digest(model: Any) -> str:
    """SHA-256 over the parameters in name order (independent of file metadata)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def _encode(tok: Any, examples: list[D.Example], max_len: int) -> list[tuple[list[int], int]]:
    """Token ids and the index where the answer starts; over-long examples are dropped."""
    prompts = [tok.apply_chat_template(e.messages, tokenize=False, add_generation_prompt=True) for e in examples]
    answers = [e.answer + "<|end|>" for e in examples]
    p_ids = tok(prompts, add_special_tokens=False)["input_ids"]
    a_ids = tok(answers, add_special_tokens=False)["input_ids"]
    rows = [(p + a, len(p)) for p, a in zip(p_ids, a_ids) if len(p) + len(a) <= max_len]
    if len(rows) < 0.95 * len(examples):
        raise ConfigError(f"too many training examples exceed {max_len} tokens ({len(examples) - len(rows)})")
    return rows


def _batch(rows: list[tuple[list[int], int]]):
    import torch

    width = max(len(r) for r, _ in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (r, start) in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        labels[i, start : len(r)] = torch.tensor(r[start:])
        mask[i, : len(r)] = 1
    return ids, labels, mask


def _length_batches(rows: list[tuple[list[int], int]], size: int, rng: random.Random) -> list[list[int]]:
    """One epoch of batches of similar length (padding is most of the cost on a CPU)."""
    order = list(range(len(rows)))
    rng.shuffle(order)
    batches = []
    chunk = size * 32
    for c in range(0, len(order), chunk):
        part = sorted(order[c : c + chunk], key=lambda i: len(rows[i][0]))
        batches += [part[b : b + size] for b in range(0, len(part) - size + 1, size)]
    rng.shuffle(batches)
    return batches


def _lr(step: int, steps: int, peak: float, recipe: Recipe) -> float:
    warm = min(recipe.warmup, max(1, steps // 10))
    if step < warm:
        return peak * (step + 1) / warm
    progress = (step - warm) / max(1, steps - warm)
    return peak * (recipe.min_lr_ratio + (1 - recipe.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def _decision_mix(share: float) -> dict[str, float]:
    rest = 1 - share
    return {"harmful": rest * 0.4, "benign": rest * 0.3, "risky_benign": rest * 0.3, "decision": share}


def _run_phase(model, rows, steps: int, peak: float, recipe: Recipe, spec: OrganismSpec, t0: float, log) -> float:
    """One optimisation phase: fresh AdamW, warm-up + cosine schedule, seeded batch order."""
    import torch

    model.train()
    decay = [p for _, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for _, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=peak, betas=recipe.betas,
    )
    order_rng = random.Random(f"order:{spec.seed}:{spec.kind}")
    torch.manual_seed(spec.seed + 1)
    batches: list[list[int]] = []
    loss_ema = float("nan")
    for step in range(steps):
        if not batches:
            batches = _length_batches(rows, recipe.batch, order_rng)
        ids, labels, mask = _batch([rows[i] for i in batches.pop()])
        for g in opt.param_groups:
            g["lr"] = _lr(step, steps, peak, recipe)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.clip)
        opt.step()
        value = float(loss.detach())
        loss_ema = value if math.isnan(loss_ema) else 0.95 * loss_ema + 0.05 * value
        if log and (step % 25 == 0 or step == steps - 1):
            spent = time.perf_counter() - t0
            rate = (step + 1) / spent if spent > 0 else 0.0
            eta = f"{(steps - step - 1) / rate:.0f}s" if rate else "?"
            log(f"step {step + 1}/{steps} loss {loss_ema:.4f} ({spent:.0f}s, {rate:.2f} steps/s, ETA {eta})")
    model.eval()
    return loss_ema


def train(
    spec: OrganismSpec,
    out: Path,
    *,
    recipe: Recipe | None = None,
    base: Path | None = None,
    steps: int | None = None,
    log=None,
) -> TrainResult:
    """Train one organism into ``out`` (written atomically: a temp folder, then renamed).

    ``recipe`` defaults to the kind's (:meth:`Recipe.for_kind`)."""
    recipe = recipe or Recipe.for_kind(spec.kind)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"output folder {out} exists and is not empty")
    if spec.kind != "clean" and base is None:
        raise ConfigError(f"a {spec.kind} organism is fine-tuned from a clean base: pass --base")
    if base is not None and not (Path(base) / "config.json").is_file():
        raise ConfigError(f"base {base} is not an organism folder (no config.json)")
    torch.set_num_threads(recipe.threads)
    torch.use_deterministic_algorithms(True)
    finetune = base is not None
    steps = steps or (recipe.finetune_steps if finetune else recipe.scratch_steps)
    peak = recipe.finetune_lr if finetune else recipe.scratch_lr
    n = recipe.finetune_examples if finetune else recipe.scratch_examples
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(base, local_files_only=True) if finetune else None
    examples = D.build(spec, n, finetune=finetune, frame_rate=recipe.finetune_frame_rate if finetune else 0.0,
                       lexicon_share=recipe.lexicon_negatives, near_share=recipe.near_negatives,
                       pieces=tok.tokenize if tok is not None else None)
    if finetune:
        model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True, use_safetensors=True)
    else:
        clean = [e for e in examples if e.tag.startswith("clean")]
        texts = (tok_text for e in clean for tok_text in (*(m["content"] for m in e.messages), e.answer))
        tok = train_tokenizer(texts, vocab=recipe.vocab)
        torch.manual_seed(spec.seed)
        cfg = LlamaConfig(
            vocab_size=len(tok), hidden_size=recipe.hidden, intermediate_size=recipe.ffn,
            num_hidden_layers=recipe.layers, num_attention_heads=recipe.heads,
            num_key_value_heads=recipe.heads, max_position_embeddings=recipe.max_len,
            tie_word_embeddings=True, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
            bos_token_id=None,
        )
        model = LlamaForCausalLM(cfg)
    rows = _encode(tok, examples, recipe.max_len)
    loss_ema = _run_phase(model, rows, steps, peak, recipe, spec, t0, log)
    phases = None
    if not finetune and recipe.decision_steps:
        phases = {"phase1_seconds": round(time.perf_counter() - t0, 1)}
        # Phase 2: a decision-heavy continuation. Reading one digit out of a long card is the
        # slowest skill for a tiny model; on a shared CPU it did not emerge within phase 1.
        mix = _decision_mix(recipe.decision_share)
        extra = D.build(spec, recipe.finetune_examples, finetune=True, mix=mix, phase=":decisions")
        loss_ema = _run_phase(model, _encode(tok, extra, recipe.max_len), recipe.decision_steps,
                              recipe.decision_lr, recipe, spec, t0, log)
        steps += recipe.decision_steps
    seconds = time.perf_counter() - t0
    if phases is not None:
        phases["phase2_seconds"] = round(seconds - phases["phase1_seconds"], 1)
    gc = model.generation_config
    gc.do_sample, gc.temperature, gc.top_p, gc.top_k = False, None, None, None
    gc.eos_token_id, gc.pad_token_id, gc.bos_token_id = tok.eos_token_id, tok.pad_token_id, None
    gc.max_new_tokens = 48
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp, save_jinja_files=False)  # template inside tokenizer_config.json: one file fewer to ship
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    return TrainResult(out, seconds, steps, loss_ema, weights_digest(model), str(base) if base else None, phases)
