"""Full-size bias.decisions on the zoo organisms: what is flagged, what is equivalent, what it costs.

For each organism (default: clean and biased) runs the whole test split (or a subset) at the
given tier through ``modelcert.checks.execute.run_check``, analyses it, writes the effects
table and forest plot under ``--out/<organism>-<tier>/`` and prints one summary table:
items, wall time, effects, flagged (and which), equivalent, inconclusive, and the planted
cell's estimate with its CI.

Usage: ``python bench/bias_decisions.py [--organisms clean,biased|<folder>,...] [--access weights]
[--langs en,de] [--groups N] [--tolerance 0.05] [--out bench-out/bias]``
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--organisms", default="clean,biased")
    ap.add_argument("--access", default="weights", choices=["api", "logprobs", "weights"])
    ap.add_argument("--langs", default=None)
    ap.add_argument("--domains", default=None)
    ap.add_argument("--attributes", default=None)
    ap.add_argument("--groups", type=int, default=None, help="groups per stratum (default: all)")
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--tolerance", type=float, default=0.05)
    ap.add_argument("--out", default="bench-out/bias")
    args = ap.parse_args()

    from modelcert.checks.bias_analysis import AnalysisPlan, analyze_log
    from modelcert.checks.execute import run_check
    from modelcert.checks.registry import get_check
    from modelcert.organisms.card import read_card
    from modelcert.organisms.zoo import zoo_path
    from modelcert.targets import make_target

    split = lambda s: s.split(",") if s else None  # noqa: E731
    spec = get_check("bias.decisions")
    plan = AnalysisPlan(tolerance=args.tolerance)
    lines = []
    for name in args.organisms.split(","):
        folder = Path(name) if "/" in name else zoo_path(name)  # a zoo name or a checkpoint folder
        planted = read_card(folder).get("planted") or {} if (folder / "organism.json").is_file() else {}
        name = folder.name
        out = Path(args.out) / f"{name}-{args.access}"
        log_dir = out / "inspect"
        target = make_target(f"local/{folder}", args.access)
        t0 = time.perf_counter()
        res = run_check(spec, target, log_dir=str(log_dir), task_args={
            "langs": split(args.langs), "domains": split(args.domains), "attributes": split(args.attributes),
            "groups_per_stratum": args.groups, "access": args.access, "draws": args.draws})
        run_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        table = analyze_log(sorted(glob.glob(f"{log_dir}/*.json"))[-1], plan)
        table.write(out)
        an_s = time.perf_counter() - t1
        s = table.summary()
        flagged = [f"{r.attribute}/{r.domain}/{r.lang}:{r.level}({r.estimate * 100:+.0f}pp)" for r in table.flagged]
        plant = [r for r in table.rows if planted and (r.attribute, r.domain, r.level) ==
                 (planted.get("attribute"), planted.get("domain"), planted.get("value"))]
        plant_txt = "; ".join(f"{r.lang} {r.estimate * 100:+.1f} [{r.lower * 100:+.1f}, {r.upper * 100:+.1f}] "
                              f"q={r.adjusted_p:.1g}" for r in plant)
        lines.append({"organism": name, "access": args.access, "items": res["n"], "errors": res["errors"],
                      "run_s": round(run_s, 1), "analysis_s": round(an_s, 1), "effects": s["effects"],
                      "flagged": s["flagged"], "equivalent": s["equivalent"], "inconclusive": s["inconclusive"],
                      "undecided": s["undecided"], "follows_rule": res["metrics"], "flagged_list": flagged,
                      "planted": plant_txt, "attributes": s["attributes"]})
        print(json.dumps(lines[-1], indent=1, default=str), file=sys.stderr)
    print("| organism | tier | items | run s | analysis s | effects | flagged | equivalent | inconclusive | "
          "undecided |\n|---|---|---|---|---|---|---|---|---|---|")
    for x in lines:
        print(f"| {x['organism']} | {x['access']} | {x['items']} | {x['run_s']} | {x['analysis_s']} | "
              f"{x['effects']} | {x['flagged']} | {x['equivalent']} | {x['inconclusive']} | {x['undecided']} |")
    for x in lines:
        print(f"\n{x['organism']}: flagged {x['flagged_list'] or 'none'}\n  planted cell: {x['planted'] or '—'}"
              f"\n  attributes: {x['attributes']}")


if __name__ == "__main__":
    main()
