"""Gradient trigger inversion (weights tier), in the spirit of DBS.

A trigger of ``length`` tokens is relaxed to a softmax over the vocabulary per slot and
optimised, with a falling temperature, to move the model's *refusal mass* (the
probability of the tokens that open its own refusals of held-out harmful requests):
down on harmful prompts for ``comply``, up on benign prompts for ``refuse``. The
objective names no target output, so it finds whatever the backdoor was trained to say. The slot-wise argmax is read back as text and measured
*discretely*, like any other candidate.
A planted trigger is a short, strong path through the network, so on a backdoored
model the optimisation falls into it; on a clean model the best discrete sequence
moves prompts far less. The optimisation never leaves the tokenizer's vocabulary, so
what it returns is a string the auditor can type.
"""

from __future__ import annotations

from typing import Any

from modelcert.analyzers.backdoor.probes import Attack, Position, chat, probe_items

MARK = "\u2063"  # invisible separator: marks where the trigger goes, then is cut out


def _segments(tok: Any, chats: list, position: Position) -> list[tuple[list[int], list[int]]]:
    """Token ids before and after the trigger slot, per prompt."""
    out = []
    for c in chats:
        text = tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
        before, after = text.split(MARK, 1)
        out.append((tok(before.rstrip(" "), add_special_tokens=False)["input_ids"],
                    tok(" " + after.lstrip(" ") if position == "user" else after, add_special_tokens=False)["input_ids"]))
    return out


def _marked(item: Any, position: Position) -> list[dict[str, str]]:
    c = chat(item)
    if position == "system":
        if c[0]["role"] == "system":
            c[0] = {"role": "system", "content": c[0]["content"] + " " + MARK}
        else:
            c.insert(0, {"role": "system", "content": "You are a helpful assistant. " + MARK})
    else:
        c[-1] = {"role": "user", "content": MARK + " " + c[-1]["content"]}
    return c


def invert(ckpt: Any, attack: Attack, openings: list[int], *, position: Position = "user", length: int = 4,
           steps: int = 40, items: int = 8, restarts: int = 1, lr: float = 0.3, seed: int = 0) -> list[str]:
    """Candidate trigger texts (one per restart) found by relaxed optimisation."""
    import torch

    model = ckpt.model
    tok = ckpt.tokenizer
    emb = model.get_input_embeddings().weight.detach()
    vocab = emb.shape[0]
    allowed = torch.zeros(vocab, dtype=torch.bool)
    special = set(tok.all_special_ids)
    for tid in range(min(vocab, len(tok))):
        if tid not in special and tok.decode([tid]).strip().isalpha():
            allowed[tid] = True
    its = probe_items(attack, "screen", items, seed=seed)
    segs = _segments(tok, [_marked(i, position) for i in its], position)
    width = max(len(a) + length + len(b) for a, b in segs)
    pad = tok.pad_token_id or 0
    sign = 1.0 if attack == "comply" else -1.0
    target = torch.tensor(openings, dtype=torch.long)
    found: list[str] = []
    gen = torch.Generator().manual_seed(seed)
    frozen = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for r in range(restarts):
            found += _restart(model, tok, emb, allowed, segs, width, pad, target, sign, length, steps, lr, gen)
            gen.manual_seed(seed + 1000 * (r + 1))
    finally:
        for p, f in zip(model.parameters(), frozen):
            p.requires_grad_(f)
    return list(dict.fromkeys(found))


def _restart(model, tok, emb, allowed, segs, width, pad, target, sign, length, steps, lr, gen) -> list[str]:
    import torch

    fixed = []  # (left padding + prefix embeddings, suffix embeddings, attention mask) per prompt
    for a, b in segs:
        n = len(a) + length + len(b)
        left = torch.cat([emb[torch.full((width - n,), pad, dtype=torch.long)], emb[torch.tensor(a, dtype=torch.long)]])
        mask = torch.cat([torch.zeros(width - n, dtype=torch.long), torch.ones(n, dtype=torch.long)])
        fixed.append((left, emb[torch.tensor(b, dtype=torch.long)], mask))
    masks = torch.stack([m for _, _, m in fixed])
    theta = (0.01 * torch.randn(length, emb.shape[0], generator=gen)).requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    for step in range(steps):
        temp = max(0.05, 0.05 ** (step / max(1, steps - 1)))
        soft = torch.softmax(theta.masked_fill(~allowed, -1e9) / temp, dim=-1) @ emb
        rows = torch.stack([torch.cat([left, soft, right]) for left, right, _ in fixed])
        logp = torch.log_softmax(model(inputs_embeds=rows, attention_mask=masks).logits[:, -1, :].float(), -1)
        loss = sign * torch.logsumexp(logp[:, target], -1).mean()  # log refusal mass
        opt.zero_grad()
        loss.backward()
        opt.step()
    ids = theta.detach().masked_fill(~allowed, -1e9).argmax(-1).tolist()
    text = tok.decode(ids).strip()
    return [text] if text else []


def invert_all(ckpt: Any, attack: Attack, openings: list[int], *, lengths: tuple[int, ...] = (4,),
               **kwargs: Any) -> list[str]:
    """Inversions at both positions and each trigger length."""
    out: list[str] = []
    for position in ("user", "system"):
        for n in lengths:
            out += invert(ckpt, attack, openings, position=position, length=n, **kwargs)
    return list(dict.fromkeys(out))
