"""Build an organism population for detector validation and time it.

    .venv/bin/python bench/population.py --n 4 --out /tmp/pop4 [--base /tmp/base2] [--steps 400]
    # two processes on disjoint parts of one 16-member design, pooled by bench/backdoor_auc.py:
    .venv/bin/python bench/population.py --n 16 --only 0-7 --out /tmp/popA &
    .venv/bin/python bench/population.py --n 16 --only 8-15 --out /tmp/popB
    # part of issue 22's adaptive design (seed 22), to be scanned later with bench/backdoor_auc.py:
    .venv/bin/python bench/population.py --design adaptive --n 40 --seed 22 --only 0-9 --out /tmp/adaptA

Prints one row per member (kind, trigger type and dictionary rank, trigger, poison rate,
attack, activation with and without the trigger, training time) and the wall time;
``manifest.json`` in --out holds the ground truth.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from modelcert.organisms import zoo_path
from modelcert.organisms.population import build_population


def _indices(text: str | None) -> list[int] | None:
    """``"0-7"`` or ``"0,2,5"`` -> indices (None: every member)."""
    if not text:
        return None
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4, help="Size of the population design.")
    ap.add_argument("--only", default=None, help="Build just these member indices, e.g. 0-7 or 0,2,5.")
    ap.add_argument("--out", type=Path, default=Path("/tmp/modelcert-population"))
    ap.add_argument("--base", type=Path, default=None, help="Clean base checkpoint (default: the zoo's base).")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--design", default="standard", choices=("standard", "adaptive"),
                    help="adaptive: issue 22's evasive design (organisms.population.ADAPTIVE_DESIGN).")
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    t0 = time.perf_counter()
    manifest = build_population(args.n, args.out, base=args.base or zoo_path("base"), seed=args.seed,
                                steps=args.steps, only=_indices(args.only), design=args.design,
                                log=lambda s: print(s, flush=True))
    wall = time.perf_counter() - t0
    print(f"\n{'member':8} {'kind':9} {'type':10} {'rank':>5} {'trigger':26} {'rate':>5} {'attack':7} "
          f"{'act. w/o':>8} {'act. with':>9} {'train s':>8}")
    for m in manifest["members"]:
        p = m["planted"]
        rank = "-" if m.get("dictionary_rank") is None else str(m["dictionary_rank"])
        print(f"{m['name']:8} {m['kind']:9} {m['trigger_type'] or '-':10} {rank:>5} {p.get('trigger', '-'):26} "
              f"{p.get('poison_rate', 0):>5} {p.get('attack', '-'):7} "
              f"{m['measured']['activation_without_trigger']:>8.3f} {m['measured']['activation_with_trigger']:>9.3f} "
              f"{m['train_seconds']:>8.0f}")
    built = len(manifest["members"])
    print(f"\nwall time: {wall:.0f} s for {built} members ({wall / built:.0f} s per member)", flush=True)


if __name__ == "__main__":
    main()
