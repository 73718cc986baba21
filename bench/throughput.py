"""Throughput of every path from a prompt to a recorded sample, in one interleaved run.

Same organism, same prompts, greedy decoding, same max new tokens, batch 32, one torch
thread (the default on a small machine, ``modelcert.providers.cores``):

* plain batched ``model.generate`` loop in transformers, in the prompts' order and ordered
  by length (lm-eval and the round engine order by length: less padding per batch);
* the forward-pass limit: the same tokens (prompt + answer) in batched forward passes,
  as samples/s; no decoder can beat it, so it is the ceiling;
* ``local/`` through ``Model.generate`` (the provider and Inspect's model layer);
* ``local/`` through a full ``inspect_ai.eval`` with the engine's settings, no evidence;
* the same with the model served from a child process (``-M process=1``,
  :mod:`modelcert.providers.process`), so that the forward loop and Inspect's event
  loop run on two cores (its CPU columns add the child's CPU time);
* the same through the round engine with evidence on SQLite, and on PostgreSQL
  (``--pg-url`` or ``MODELCERT_TEST_PG_URL``): the evidence overhead;
* Inspect's stock ``hf/`` provider through a full eval, and lm-eval's ``generate_until``;
* under load: the engine + SQLite paths (in-process and model process) again while a
  second 2-thread torch job runs beside them, as a share of their idle throughput;
* the default ``modelcert audit`` (a subprocess): wall time and queries/s, in-process and
  with ``MODELCERT_MODEL_PROCESS=1`` (interleaved when ``--audits`` > 1).

Each timed path runs ``--repeats`` times, interleaved (one of each per repeat, in a
rotating order), so that a shared machine's load falls on all of them alike; the table
gives best and median samples/s and the median's ratio to the plain loop and to the
forward-pass limit, and the same from process CPU time (samples per CPU-second; all
paths run on one torch thread in this process, so on a loaded machine the CPU columns
show the work each path costs, which the wall-clock columns blur with waiting). The load average before and after is printed with the table.

Usage: ``python bench/throughput.py [--model zoo:clean] [--n 200] [--max-tokens 32]
[--repeats 3] [--audits 1] [--skip hf,lm-eval,pg,process,load,audit]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).parent))

from provider import BATCH, _model_generate_run, prompts

LOAD_JOB = "import torch\ntorch.set_num_threads(2)\na = torch.randn(512, 512)\nwhile True:\n    a @ a\n"


class Bench:
    """Everything loaded once; each method runs one timed pass and returns its seconds."""

    def __init__(self, path: Path, texts: list[str], max_tokens: int, tmp: Path, pg_url: str | None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from modelcert.providers.cores import apply_threads, default_threads
        from modelcert.targets import make_target

        self.threads = default_threads()
        apply_threads(self.threads)
        self.path, self.texts, self.max_tokens, self.tmp, self.pg_url = path, texts, max_tokens, tmp, pg_url
        self.n = len(texts)
        self.tok = AutoTokenizer.from_pretrained(path)
        self.tok.padding_side = "left"
        self.model = AutoModelForCausalLM.from_pretrained(path, use_safetensors=True).eval()
        self.rendered = [self.tok.apply_chat_template([{"role": "user", "content": t}], tokenize=False,
                                                      add_generation_prompt=True) for t in texts]
        self.target = make_target(f"local/{path}", "weights",
                                  generation={"temperature": 0.0, "max_tokens": max_tokens, "seed": 0})
        self.inspect_model = self.target.inspect_model(max_retries=3, attempt_timeout=120, timeout=600)
        self.process_model: object | None = None
        self.full_texts: list[str] = []
        self.runs = 0
        self._torch = torch

    # -- the paths ------------------------------------------------------------------------------

    def plain(self) -> float:
        torch, tok = self._torch, self.tok
        t0 = time.perf_counter()
        outs: list[str] = []
        with torch.inference_mode():
            for i in range(0, self.n, BATCH):
                enc = tok(self.rendered[i : i + BATCH], return_tensors="pt", padding=True, add_special_tokens=False)
                seq = self.model.generate(**enc, max_new_tokens=self.max_tokens, do_sample=False,
                                          pad_token_id=tok.pad_token_id)
                outs += tok.batch_decode(seq[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        elapsed = time.perf_counter() - t0
        self.full_texts = [r + o for r, o in zip(self.rendered, outs)]
        return elapsed

    def plain_sorted(self) -> float:
        """The plain loop over the prompts ordered by length (as lm-eval and the engine order them)."""
        torch, tok = self._torch, self.tok
        ordered = sorted(self.rendered, key=len)
        t0 = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, self.n, BATCH):
                enc = tok(ordered[i : i + BATCH], return_tensors="pt", padding=True, add_special_tokens=False)
                self.model.generate(**enc, max_new_tokens=self.max_tokens, do_sample=False,
                                    pad_token_id=tok.pad_token_id)
        return time.perf_counter() - t0

    def limit(self) -> float:
        """Forward passes over the same prompt + answer tokens, batched like the loop."""
        torch, tok = self._torch, self.tok
        texts = self.full_texts or self.rendered
        t0 = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, self.n, BATCH):
                enc = tok(texts[i : i + BATCH], return_tensors="pt", padding=True, add_special_tokens=False)
                self.model(**enc)
        return time.perf_counter() - t0

    def start_process_model(self) -> float:
        """The same model served from a child process; returns its start-up seconds."""
        from inspect_ai.model import GenerateConfig, get_model

        t0 = time.perf_counter()
        cfg = GenerateConfig(**self.target.generation, max_retries=3, attempt_timeout=120, timeout=600)
        self.process_model = get_model(self.target.model, config=cfg, **self.target.model_args(), process="1")
        return time.perf_counter() - t0

    def child_cpu(self) -> float:
        """CPU seconds of the model process so far (0 without one, or off Linux)."""
        if self.process_model is None:
            return 0.0
        pid = self.process_model.api.generator._proc.pid  # type: ignore[attr-defined]
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _with_process(self, fn: Callable[[], float]) -> float:
        saved, self.inspect_model = self.inspect_model, self.process_model
        try:
            return fn()
        finally:
            self.inspect_model = saved

    def process_eval(self) -> float:
        return self._with_process(self.local_eval)

    def process_sqlite(self) -> float:
        return self._with_process(self.sqlite)

    def local_generate(self) -> float:
        return _model_generate_run(self.inspect_model, self.texts, self.max_tokens)

    def local_eval(self) -> float:
        """A full Inspect eval with the engine's own settings, no evidence: GC thresholds, no
        per-sample ACP session, samples ordered by input length (``Runner._only``)."""
        import contextlib

        from inspect_ai import eval as inspect_eval

        from modelcert.runner.engine import no_acp_session, relaxed_gc

        task = self._task()
        task.dataset.sort()
        with tempfile.TemporaryDirectory(dir=self.tmp) as logs, contextlib.redirect_stdout(sys.stderr), \
                relaxed_gc(), no_acp_session():
            t0 = time.perf_counter()
            log = inspect_eval(task, model=self.inspect_model, display="none", log_dir=logs, fail_on_error=False,
                               score_display=False, retry_on_error=0, log_realtime=False, log_samples=False,
                               ctl_server=False)[0]
            elapsed = time.perf_counter() - t0
        assert log.status == "success", log.error
        return elapsed

    def evidence(self, url: str) -> float:
        """The round engine, evidence on: every sample recorded as it finishes."""
        from modelcert.evidence.store import EvidenceStore
        from modelcert.runner import Runner

        self.runs += 1
        with EvidenceStore(url) as store:
            runner = Runner(store, self.target, self._task(), check_id="bench.throughput", seed=self.runs)
            runner._model = self.inspect_model
            t0 = time.perf_counter()
            records = runner.run()
            elapsed = time.perf_counter() - t0
        assert len(records) == self.n and all(r.ok for r in records), "engine run incomplete"
        return elapsed

    def sqlite(self) -> float:
        return self.evidence(str(self.tmp / f"evidence-{self.runs}.sqlite"))

    def postgres(self) -> float:
        assert self.pg_url
        return self.evidence(self.pg_url)

    def _task(self):
        from inspect_ai import Task
        from inspect_ai.dataset import MemoryDataset, Sample
        from inspect_ai.scorer import includes
        from inspect_ai.solver import generate

        return Task(dataset=MemoryDataset([Sample(id=i, input=t, target="x") for i, t in enumerate(self.texts, 1)]),
                    solver=generate(), scorer=includes())

    def tokens_per_sample(self) -> float:
        texts = self.full_texts or self.rendered
        return statistics.mean(len(self.tok(t, add_special_tokens=False)["input_ids"]) for t in texts)


def hf_eval_factory(path: Path, texts: list[str], max_tokens: int) -> Callable[[], float]:
    from inspect_ai.model import get_model
    from provider import _inspect_run

    model = get_model(f"hf/{path}", device="cpu", batch_size=BATCH, do_sample=False)
    return lambda: _inspect_run(model, texts, max_tokens)


def lm_eval_factory(path: Path, texts: list[str], max_tokens: int) -> Callable[[], float]:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    lm = HFLM(pretrained=str(path), batch_size=BATCH, device="cpu", dtype="float32")
    # lm-eval passes max_length = prompt + max_gen_toks; the organism's generation_config
    # also sets max_new_tokens (48), which transformers lets win. Drop it so that lm-eval
    # generates at most the same 32 tokens as every other path.
    lm.model.generation_config.max_new_tokens = None
    reqs = [Instance(request_type="generate_until", doc={},
                     arguments=(tok.apply_chat_template([{"role": "user", "content": t}], tokenize=False,
                                                        add_generation_prompt=True),
                                {"until": [tok.eos_token], "max_gen_toks": max_tokens, "do_sample": False}),
                     idx=i) for i, t in enumerate(texts)]

    def run() -> float:
        t0 = time.perf_counter()
        lm.generate_until(reqs, disable_tqdm=True)
        return time.perf_counter() - t0

    return run


def audit_tokens(db: Path) -> int:
    """Prompt + answer tokens of every generated sample the audit recorded (its generation work)."""
    import sqlite3

    total = 0
    with sqlite3.connect(db) as conn:
        for (body,) in conn.execute("select body from evidence_records where kind = 'sample'"):
            for use in (json.loads(body)["data"].get("usage") or {}).values():
                total += int(use.get("input_tokens") or 0) + int(use.get("output_tokens") or 0)
    return total


def audit_answers(db: Path) -> list[tuple[str, str]]:
    """(check id, answers root) of every run the audit finished: equal answers give equal roots."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        starts = {run: json.loads(body)["data"]["check"]["id"] for run, body in
                  conn.execute("select run_id, body from evidence_records where kind = 'run_start'")}
        ends = [(starts.get(run, "?"), json.loads(body)["data"].get("answers_root", "")) for run, body in
                conn.execute("select run_id, body from evidence_records where kind = 'run_end'")]
    return sorted(ends)


def run_audit(tmp: Path, *, process: bool = False) -> tuple[float, int, dict]:
    """The default ``modelcert audit`` in a fresh process: wall seconds, queries, result.json."""
    exe = Path(sys.executable).with_name("modelcert")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "modelcert"]
    work = Path(tempfile.mkdtemp(dir=tmp))
    env = {**os.environ, "MODELCERT_DB": str(work / "audit.sqlite"), "MODELCERT_MODEL_PROCESS": "1" if process else "0"}
    t0 = time.perf_counter()
    out = subprocess.run([*cmd, "audit", "--out", str(work / "audit")], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if out.returncode not in (0, 1):
        raise RuntimeError(f"modelcert audit failed: {out.stderr[-1500:]}")
    result = json.loads((work / "audit" / "result.json").read_text())
    result["generated_tokens"] = audit_tokens(work / "audit.sqlite")
    result["answers"] = audit_answers(work / "audit.sqlite")
    return elapsed, int(result["queries"]["total"]), result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="zoo:clean", help="zoo:<name> or a checkpoint folder")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pg-url", default=os.environ.get("MODELCERT_TEST_PG_URL"),
                    help="PostgreSQL URL for the evidence row (default MODELCERT_TEST_PG_URL)")
    ap.add_argument("--audits", type=int, default=1,
                    help="default audits per mode (in-process, model process), interleaved")
    ap.add_argument("--skip", default="", help="comma list of: hf,lm-eval,pg,process,load,audit")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="modelcert-throughput-"))
    try:
        return _bench(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _stats(times: list[float], n: int) -> tuple[float, float]:
    return n / min(times), n / statistics.median(times)


def _bench(args: argparse.Namespace, tmp: Path) -> int:
    from modelcert.targets import resolve_local_path

    load_before = os.getloadavg()
    skip = set(filter(None, args.skip.split(",")))
    path = resolve_local_path(args.model)
    texts = prompts(args.n)
    b = Bench(path, texts, args.max_tokens, tmp, None if "pg" in skip else args.pg_url)
    paths: list[tuple[str, Callable[[], float]]] = [
        ("plain batched generate loop", b.plain),
        ("plain loop, prompts ordered by length", b.plain_sorted),
        ("forward-pass limit", b.limit),
        ("local/ Model.generate", b.local_generate),
        ("local/ full inspect eval (no evidence)", b.local_eval),
        ("local/ eval + evidence on SQLite", b.sqlite),
    ]
    if b.pg_url:
        paths.append(("local/ eval + evidence on PostgreSQL", b.postgres))
    startup = None
    if "process" not in skip:
        startup = b.start_process_model()
        paths += [("local/ full inspect eval, model process (no evidence)", b.process_eval),
                  ("local/ eval + evidence on SQLite, model process", b.process_sqlite)]
    if "hf" not in skip:
        paths.append(("stock hf/ full inspect eval", hf_eval_factory(path, texts, args.max_tokens)))
    if "lm-eval" not in skip:
        paths.append(("lm-eval HFLM.generate_until", lm_eval_factory(path, texts, args.max_tokens)))

    # warm every path once (first-call costs: imports, kernels, caches), untimed
    b.plain()
    for label, fn in paths:
        print(f"warm-up: {label} ...", file=sys.stderr, flush=True)
        fn()
    times: dict[str, list[float]] = {label: [] for label, _ in paths}
    cpu: dict[str, list[float]] = {label: [] for label, _ in paths}
    for rep in range(args.repeats):
        order = paths[rep % len(paths):] + paths[: rep % len(paths)]
        for label, fn in order:
            print(f"repeat {rep + 1}/{args.repeats}: {label} ...", file=sys.stderr, flush=True)
            c0 = time.process_time() + b.child_cpu()
            times[label].append(fn())
            cpu[label].append(time.process_time() + b.child_cpu() - c0)

    loaded: dict[str, list[float]] = {}
    if "load" not in skip:
        print("under load: a 2-thread torch job beside the engine + SQLite paths ...", file=sys.stderr, flush=True)
        under = [("local/ eval + evidence on SQLite", b.sqlite)]
        if b.process_model is not None:
            under.append(("local/ eval + evidence on SQLite, model process", b.process_sqlite))
        job = subprocess.Popen([sys.executable, "-c", LOAD_JOB])
        try:
            time.sleep(1.0)
            for rep in range(args.repeats):
                for label, fn in under[rep % len(under):] + under[: rep % len(under)]:
                    loaded.setdefault(label, []).append(fn())
        finally:
            job.kill()
            job.wait()

    audits: dict[bool, list[tuple[float, int, dict]]] = {}
    if "audit" not in skip:
        modes = [False] + ([True] if "process" not in skip else [])
        for k in range(args.audits):
            for process in modes[k % len(modes):] + modes[: k % len(modes)]:
                print(f"default audit (modelcert audit, model process {int(process)}) ...", file=sys.stderr,
                      flush=True)
                try:
                    audits.setdefault(process, []).append(run_audit(tmp, process=process))
                except RuntimeError as exc:  # report it with the table instead of losing the run
                    print(f"default audit (model process {int(process)}) failed: {exc}", file=sys.stderr)
    load_after = os.getloadavg()

    import torch

    best = {label: _stats(t, args.n) for label, t in times.items()}
    plain = best["plain batched generate loop"][1]
    limit = best["forward-pass limit"][1]
    print(f"\n{platform.node()}: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
          f"torch {torch.__version__}, {b.threads} torch thread(s); load average "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"organism {args.model}, {args.n} prompts, max {args.max_tokens} new tokens, batch {BATCH}, "
          f"{args.repeats} interleaved repeats; forward-pass limit at {b.tokens_per_sample():.0f} tokens/sample")
    cpu_rate = {label: args.n / statistics.median(c) for label, c in cpu.items()}
    cplain, climit = cpu_rate["plain batched generate loop"], cpu_rate["forward-pass limit"]
    print("\n| path | samples/s best | samples/s median | × plain loop | × forward limit "
          "| samples per CPU-s | × plain (CPU) | × limit (CPU) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, (bst, med) in best.items():
        c = cpu_rate[label]
        print(f"| {label} | {bst:.1f} | {med:.1f} | {med / plain:.2f} | {med / limit:.2f} "
              f"| {c:.1f} | {c / cplain:.2f} | {c / climit:.2f} |")
    print("\n| evidence overhead (median run time vs the same eval without evidence) | % wall | ms CPU per sample |")
    print("|---|---:|---:|")
    for label, ref in (("local/ eval + evidence on SQLite", "local/ full inspect eval (no evidence)"),
                       ("local/ eval + evidence on PostgreSQL", "local/ full inspect eval (no evidence)"),
                       ("local/ eval + evidence on SQLite, model process",
                        "local/ full inspect eval, model process (no evidence)")):
        if label in times and ref in times:
            base, cbase = statistics.median(times[ref]), statistics.median(cpu[ref])
            print(f"| {label.removeprefix('local/ eval + ')} | {100 * (statistics.median(times[label]) - base) / base:+.1f} "
                  f"| {1000 * (statistics.median(cpu[label]) - cbase) / args.n:+.2f} |")
    if startup is not None:
        print(f"\nmodel process start-up (spawn, imports, load): {startup:.1f} s")
    for label, runs in loaded.items():
        idle = statistics.median(times[label])
        print(f"under load (2-thread torch job beside it): {label.removeprefix('local/ eval + ')} "
              f"{args.n / statistics.median(runs):.1f} samples/s median = {idle / statistics.median(runs):.2f}× "
              "its idle median")
    if audits.get(False) and audits.get(True):
        same = audits[False][0][2]["answers"] == audits[True][0][2]["answers"]
        print(f"default audit: the same answers in both modes (answers roots of all "
              f"{len(audits[False][0][2]['answers'])} runs): {'yes' if same else 'NO'}")
    for process, runs in audits.items():
        if not runs:
            continue
        secs = [r[0] for r in runs]
        _, queries, result = runs[0]
        med = statistics.median(secs)
        print(f"default audit{' (model process)' if process else ''}: {', '.join(f'{x:.1f}' for x in secs)} s wall, "
              f"{queries} queries, {queries / med:.1f} queries/s = {queries / med / plain:.2f}× plain loop, "
              f"{queries / med / limit:.2f}× forward limit (audit queries differ in length from the bench prompts)")
        tokens = result["generated_tokens"]
        rate = limit * b.tokens_per_sample()
        print(f"  its generated samples hold {tokens} prompt + answer tokens: {tokens / rate:.1f} s at the "
              f"forward-pass limit ({rate:.0f} tokens/s), before the backdoor scan's and the probes' own "
              f"forward passes; the audit process reported {result['seconds']:.1f} s")
        for r in result["requirements"]:
            print(f"  {r['id']}: {r['queries']} queries, {r['details'].get('seconds', 0):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
