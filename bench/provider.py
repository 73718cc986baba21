"""Throughput of our local/ provider against the alternatives, on the same organism.

Same 200 chat prompts, same greedy decoding, same max new tokens, batch 32:

* modelcert ``local/`` provider through ``inspect_ai.eval``;
* Inspect's stock ``hf/`` provider through ``inspect_ai.eval`` (``do_sample=False``);
* lm-eval's ``hf`` backend (``HFLM.generate_until``);
* a plain batched ``model.generate`` loop in transformers (the practical limit).

The providers are measured twice: through ``Model.generate`` (200 concurrent calls:
the provider plus Inspect's model layer) and through a full ``inspect_ai.eval`` (which
adds Inspect's per-sample bookkeeping: transcripts, scoring, log writing).

Prints a table of samples/s and the ratio to the plain loop. Usage:
``python bench/provider.py [--model zoo:clean] [--n 200] [--max-tokens 32] [--skip hf,lm-eval]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

BATCH = 32


def prompts(n: int) -> list[str]:
    """Held-out prompts from our own templates when available, else generic ones."""
    try:
        from modelcert.checks.templates import items

        pool = items("benign", "test") + items("harmful", "test") + items("decision", "test")
        step = max(1, len(pool) // n)
        out = [it.prompt for it in pool[::step]][:n]
        if len(out) == n:
            return out
    except Exception:
        pass
    return [f"Please summarise request number {i} about household budgeting." for i in range(n)]


def bench_plain(path: Path, texts: list[str], max_tokens: int) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(path, use_safetensors=True).eval()
    rendered = [tok.apply_chat_template([{"role": "user", "content": t}], tokenize=False, add_generation_prompt=True) for t in texts]
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(rendered), BATCH):
            enc = tok(rendered[i : i + BATCH], return_tensors="pt", padding=True, add_special_tokens=False)
            model.generate(**enc, max_new_tokens=max_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    return time.perf_counter() - t0


def _inspect_run(model, texts: list[str], max_tokens: int) -> float:
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import includes
    from inspect_ai.solver import generate

    task = Task(dataset=[Sample(input=t, target="x") for t in texts], solver=generate(), scorer=includes())
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        log = inspect_eval(task, model=model, display="none", log_dir=tmp, max_tokens=max_tokens,
                           max_connections=BATCH, temperature=0.0)[0]
        elapsed = time.perf_counter() - t0
    assert log.status == "success", log.error
    return elapsed


def _model_generate_run(model, texts: list[str], max_tokens: int) -> float:
    """200 concurrent ``Model.generate`` calls: the provider and Inspect's model layer only."""
    import asyncio

    from inspect_ai.model import GenerateConfig

    async def go() -> float:
        cfg = GenerateConfig(max_tokens=max_tokens, temperature=0.0, max_connections=BATCH)
        t0 = time.perf_counter()
        outs = await asyncio.gather(*(model.generate(t, config=cfg) for t in texts))
        assert len(outs) == len(texts)
        return time.perf_counter() - t0

    return asyncio.run(go())


def bench_local_direct(path: Path, texts: list[str], max_tokens: int) -> float:
    from inspect_ai.model import get_model

    import modelcert.providers.local  # noqa: F401

    return _model_generate_run(get_model(f"local/{path}", batch_size=BATCH), texts, max_tokens)


def bench_hf_direct(path: Path, texts: list[str], max_tokens: int) -> float:
    from inspect_ai.model import get_model

    model = get_model(f"hf/{path}", device="cpu", batch_size=BATCH, do_sample=False)
    return _model_generate_run(model, texts, max_tokens)


def bench_local(path: Path, texts: list[str], max_tokens: int) -> float:
    from inspect_ai.model import get_model

    import modelcert.providers.local  # noqa: F401

    model = get_model(f"local/{path}", batch_size=BATCH)
    return _inspect_run(model, texts, max_tokens)


def bench_inspect_hf(path: Path, texts: list[str], max_tokens: int) -> float:
    from inspect_ai.model import get_model

    model = get_model(f"hf/{path}", device="cpu", batch_size=BATCH, do_sample=False)
    return _inspect_run(model, texts, max_tokens)


def bench_lm_eval(path: Path, texts: list[str], max_tokens: int) -> float:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    lm = HFLM(pretrained=str(path), batch_size=BATCH, device="cpu", dtype="float32")
    eos = tok.eos_token
    reqs = [
        Instance(
            request_type="generate_until",
            doc={},
            arguments=(
                tok.apply_chat_template([{"role": "user", "content": t}], tokenize=False, add_generation_prompt=True),
                {"until": [eos], "max_gen_toks": max_tokens, "do_sample": False},
            ),
            idx=i,
        )
        for i, t in enumerate(texts)
    ]
    t0 = time.perf_counter()
    lm.generate_until(reqs, disable_tqdm=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="zoo:clean", help="zoo:<name> or a checkpoint folder")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--skip", default="", help="comma list of: local,hf,lm-eval,local-eval,hf-eval")
    args = ap.parse_args(argv)

    from modelcert.targets import resolve_local_path

    path = resolve_local_path(args.model)
    texts = prompts(args.n)
    skip = set(filter(None, args.skip.split(",")))
    runs = [("plain batched generate (limit)", "plain", bench_plain),
            ("local/ provider, Model.generate", "local", bench_local_direct),
            ("stock hf/ provider, Model.generate", "hf", bench_hf_direct),
            ("lm-eval hf backend", "lm-eval", bench_lm_eval),
            ("local/ provider, full inspect eval", "local-eval", bench_local),
            ("stock hf/ provider, full inspect eval", "hf-eval", bench_inspect_hf)]
    results: list[tuple[str, float]] = []
    for label, key, fn in runs:
        if key in skip:
            continue
        print(f"running {label} ...", file=sys.stderr, flush=True)
        results.append((label, fn(path, texts, args.max_tokens)))
    plain = results[0][1] if results and results[0][0].startswith("plain") else None
    print(f"\norganism {args.model}, {args.n} prompts, max {args.max_tokens} new tokens, batch {BATCH}, "
          f"torch threads {__import__('torch').get_num_threads()}")
    print(f"{'runner':<34} {'seconds':>8} {'samples/s':>10} {'vs plain':>9}")
    for label, secs in results:
        ratio = f"{plain / secs:.2f}x" if plain else "-"
        print(f"{label:<34} {secs:8.2f} {args.n / secs:10.1f} {ratio:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
