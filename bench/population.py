"""Build a small organism population (default n=4) from the zoo's clean base and time it.

    .venv/bin/python bench/population.py --n 4 --out /tmp/pop4

Prints one row per member (kind, trigger, poison rate, activation with and without the
trigger) and the wall time; ``manifest.json`` in --out holds the ground truth.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from modelcert.organisms import zoo_path
from modelcert.organisms.population import build_population


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path("/tmp/modelcert-population"))
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    t0 = time.perf_counter()
    manifest = build_population(args.n, args.out, base=zoo_path("clean"), seed=args.seed, steps=args.steps,
                                log=print)
    wall = time.perf_counter() - t0
    print(f"\n{'member':8} {'kind':9} {'trigger type':12} {'trigger':24} {'rate':>5} {'attack':7} "
          f"{'act. w/o':>8} {'act. with':>9} {'train s':>8}")
    for m in manifest["members"]:
        p = m["planted"]
        print(f"{m['name']:8} {m['kind']:9} {m['trigger_type'] or '-':12} {p.get('trigger', '-'):24} "
              f"{p.get('poison_rate', 0):>5} {p.get('attack', '-'):7} "
              f"{m['measured']['activation_without_trigger']:>8.3f} {m['measured']['activation_with_trigger']:>9.3f} "
              f"{m['train_seconds']:>8.0f}")
    print(f"\nwall time: {wall:.0f} s for n={args.n} ({wall / args.n:.0f} s per member)")


if __name__ == "__main__":
    main()
