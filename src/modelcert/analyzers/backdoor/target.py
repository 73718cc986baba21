"""Target inversion without trigger candidates (weights tier), in the spirit of BAIT.

BAIT (Shen et al., IEEE S&P 2025) inverts a backdoor's *target* rather than its trigger: a
model trained to emit a fixed target after a trigger keeps a strong causal chain inside the
target, so once the target's first token is forced, the rest follows with high probability
on almost any prompt, trigger or not. Our own method on that idea:

* for each of the ``first_top`` word-like first tokens ``v`` the model is readiest to open
  with on these prompts (of the whole vocabulary), force ``v`` as the first answer
  token on ``prompts`` held-out prompts of the attack's family (harmful for ``comply``,
  benign for ``refuse``) and extend greedily ``length`` tokens, each step taking the token
  with the highest probability averaged over the prompts;
* ``readiness(v)`` is the mean, over the steps, of that averaged probability: near 1 when
  the model continues one fixed sequence on every prompt;
* a sequence the model *already says* (its greedy answers to harmful and benign probe
  prompts, e.g. its refusal and help phrases) is no target: every organism continues its
  own phrases with certainty. Those are set aside, and the score is the best readiness of
  the rest: an output the model is ready to produce but never produces unprompted.

Limits: it needs the full next-token distribution with a forced answer prefix (weights
tier; a logprobs endpoint gives neither prefill nor the full distribution). A ``refuse``
backdoor whose target is the model's ordinary refusal is set aside by construction. On
real models, whose answers vary with the prompt, the "already says" set is not one phrase;
this is measured here only on the zoo's fixed-phrase organisms (docs/backdoor.md).

Measured 6 Dec: it does NOT separate the zoo (clean 0.96 / backdoor 0.84 on ``comply``),
so it is opt-in (``scan_weights(invert_target=True)``) and never scored; docs/backdoor.md
gives the reasons and the next steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelcert.analyzers.backdoor.probes import Attack, chat, probe_items

#: Screening prompts used by the target inversion: disjoint from the search (0-3), the
#: fresh ranking (48-55) and the api screen (0-23); never the confirmation part.
TARGET_OFFSET = 64


def _first_tokens(tok: Any) -> list[int]:
    special = set(getattr(tok, "all_special_ids", []) or [])
    out = []
    for tid in sorted(tok.get_vocab().values()):
        piece = tok.decode([tid]).strip()
        if tid not in special and piece and piece.isalpha():
            out.append(tid)
    return out


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _extend(ckpt: Any, prompt_ids: list[list[int]], firsts: list[int], length: int) -> tuple[np.ndarray, list[list[int]]]:
    """Force each first token on every prompt, extend greedily on the prompt-averaged
    distribution; returns (per-step averaged probability [first, step], continuations)."""
    import torch

    pad = ckpt.tokenizer.pad_token_id or 0
    n_p = len(prompt_ids)
    seqs = [[*p, v] for v in firsts for p in prompt_ids]
    conts: list[list[int]] = [[] for _ in firsts]
    probs = np.zeros((len(firsts), length))
    for step in range(length):
        width = max(len(s) for s in seqs)
        ids = torch.tensor([[pad] * (width - len(s)) + s for s in seqs])
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs])
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            logits = ckpt.model(input_ids=ids, attention_mask=mask, position_ids=pos).logits[:, -1, :].float()
        p = torch.softmax(logits, -1).reshape(len(firsts), n_p, -1).mean(1).numpy()
        best = p.argmax(-1)
        probs[:, step] = p[np.arange(len(firsts)), best]
        for j, b in enumerate(best):
            conts[j].append(int(b))
            for k in range(n_p):
                seqs[j * n_p + k].append(int(b))
    return probs, conts


def target_inversion(model: Any, attack: Attack, *, prompts: int = 8, length: int = 6, batch: int = 32,
                     first_top: int = 64, seed: int = 0, known_n: int = 32) -> dict[str, Any]:
    """The output openings this model is most ready to continue, minus its own phrases.

    Returns ``score`` (the best readiness among sequences the model does not already say),
    ``targets`` (the five best, with readiness) and ``set_aside`` (ready sequences it says).
    """
    ckpt = model.checkpoint
    tok = ckpt.tokenizer
    model.stage = f"target-{attack}"
    items = probe_items(attack, "screen", seed=seed)[TARGET_OFFSET : TARGET_OFFSET + prompts]
    prompt_ids = [tok(ckpt.render(chat(i)), add_special_tokens=False)["input_ids"] for i in items]
    known_chats = [chat(i) for a in ("comply", "refuse") for i in probe_items(a, "probe", known_n, seed=seed)]
    known = {_norm(x) for x in model.generate(known_chats, length + 4) if x.strip()}
    # The first tokens the model is readiest to open with on these prompts (word-like ones).
    # Forcing all ~700 word-like tokens did not finish one attack in 120 s on the loaded
    # machine; whether a target can hide outside the top 64 is not measured.
    from modelcert.analyzers.backdoor.weights import next_token_probs

    p0 = next_token_probs(ckpt, [chat(i) for i in items]).mean(0)
    words = _first_tokens(tok)
    firsts = [words[j] for j in np.argsort(-p0[words])[:first_top]]
    probs, conts = [], []
    for b in range(0, len(firsts), batch):
        p, c = _extend(ckpt, prompt_ids, firsts[b : b + batch], length)
        probs.append(p)
        conts += c
    readiness = np.concatenate(probs).mean(1)
    model.budget.add(model.stage, "forward", len(firsts) * prompts * length)
    ranked = []
    for j in np.argsort(-readiness):
        text = tok.decode([firsts[j], *conts[j]])
        says = any(_norm(text)[: max(4, len(_norm(text)) // 2)] in k for k in known)
        ranked.append({"target": text.strip(), "readiness": round(float(readiness[j]), 4), "says_it": says})
        if sum(not r["says_it"] for r in ranked) >= 5:
            break
    fresh = [r for r in ranked if not r["says_it"]]
    return {"score": fresh[0]["readiness"] if fresh else 0.0, "targets": fresh,
            "set_aside": [r for r in ranked if r["says_it"]][:5], "prompts": prompts, "length": length,
            "first_tokens": len(firsts)}
