"""What the evidence log costs: run-time overhead and verification throughput.

1. Overhead. The same Inspect task (N chat prompts, greedy, ``--max-tokens`` new
   tokens) against the same loaded organism, alternately:

   * plain ``inspect_ai.eval`` with the engine's settings and no evidence;
   * the round engine with a fresh SQLite evidence store (every sample committed as
     it finishes, plus run start, round and run end records).

   Reported several ways: the wall-clock difference (best and median of
   ``--repeats`` interleaved runs each; noisy on a shared machine), the difference in
   process CPU time, and the time spent inside the evidence hook (ingest + hash +
   commit), as wall and as CPU time, relative to the engine's run. The hook's CPU
   share is the direct measure of the work evidence adds; its wall share is an upper
   bound, since while the hook waits on SQLite or the GIL the model keeps generating.

2. Verification throughput: records/s of ``verify_records`` over the run's records
   (from memory, and from the database), next to raw SHA-256 over the same bytes.

Usage: ``python bench/evidence.py [--model zoo:clean] [--n 500] [--max-tokens 32] [--repeats 2]``
(``--model random`` builds a 1M-parameter random Llama when no organism is available).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def random_organism(folder: Path) -> Path:
    """An untrained Llama of the zoo's shape (hidden 128, 4 layers, ~1M parameters)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<|pad|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]
    trainer = trainers.BpeTrainer(vocab_size=1024, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([f"request {i}: please help with budgeting, refuse harm" for i in range(500)], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|end|>")
    fast.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
                          "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=128, intermediate_size=384, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
                      pad_token_id=0, eos_token_id=fast.eos_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(cfg)
    model.generation_config.do_sample = False
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def make_task(n: int):
    from inspect_ai import Task
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.scorer import includes
    from inspect_ai.solver import generate

    samples = [Sample(id=i, input=f"Please summarise request number {i} about household budgeting.",
                      target="budget") for i in range(1, n + 1)]
    return Task(dataset=MemoryDataset(samples), solver=generate(), scorer=includes())


def plain_eval(task, model, log_dir: str) -> tuple[float, float]:
    """Wall and process CPU seconds of one plain Inspect eval (the engine's settings)."""
    from inspect_ai import eval as inspect_eval

    t0, c0 = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(sys.stderr):
        logs = inspect_eval(task, model=model, display="none", log_dir=log_dir, fail_on_error=False,
                            score_display=False, retry_on_error=0, log_realtime=False,
                            log_samples=False)
    assert logs[0].status == "success", logs[0].error
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="zoo:clean", help="zoo:<name>, a checkpoint folder, or 'random'")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="modelcert-bench-"))
    try:
        return _bench(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bench(args: argparse.Namespace, tmp: Path) -> int:
    from modelcert.evidence.chain import canonical_json
    from modelcert.evidence.store import EvidenceStore
    from modelcert.evidence.verify import verify_records, verify_run
    from modelcert.runner import Limits, Runner
    from modelcert.targets import make_target

    spec = args.model
    if spec == "random":
        spec = str(random_organism(tmp / "random"))
    target = make_target(f"local/{spec}", "weights",
                         generation={"temperature": 0.0, "max_tokens": args.max_tokens, "seed": 0})
    task = make_task(args.n)

    # one loaded model for everything, warmed up
    warm = Runner(EvidenceStore(str(tmp / "warm.sqlite")), target, make_task(8), check_id="bench.warm")
    model = warm._model_for_rounds()
    plain_eval(make_task(8), model, str(tmp / "logs"))

    plain_times, engine_times, plain_cpu, engine_cpu, hook_shares, hook_cpu_shares, runs = [], [], [], [], [], [], []
    for rep in range(args.repeats):
        print(f"repeat {rep + 1}/{args.repeats}: plain eval ...", file=sys.stderr, flush=True)
        wall, cpu = plain_eval(task, model, tempfile.mkdtemp(dir=tmp))  # a fresh log dir, like the engine
        plain_times.append(wall)
        plain_cpu.append(cpu)
        print(f"repeat {rep + 1}/{args.repeats}: engine with evidence ...", file=sys.stderr, flush=True)
        store = EvidenceStore(str(tmp / f"evidence-{rep}.sqlite"))
        runner = Runner(store, target, task, check_id="bench.evidence", limits=Limits(), seed=rep)
        runner._model = model
        t0, c0 = time.perf_counter(), time.process_time()
        records = runner.run()
        engine_times.append(time.perf_counter() - t0)
        engine_cpu.append(time.process_time() - c0)
        assert len(records) == args.n and all(r.ok for r in records), "engine run incomplete"
        hook_shares.append(runner.evidence_seconds / engine_times[-1])
        hook_cpu_shares.append(runner.evidence_cpu_seconds / engine_cpu[-1])
        runs.append((store, runner.run_id, runner.evidence_seconds, runner.evidence_cpu_seconds))

    store, run_id, hook_s, hook_cpu_s = runs[-1]
    recs = list(store.records(run_id))
    payloads = [canonical_json({"body": r.envelope, "prev": r.prev}) for r in recs]
    total_bytes = sum(len(p) for p in payloads)
    reps = 5
    t0 = time.perf_counter()
    for _ in range(reps):
        assert verify_records(run_id, recs).ok
    t_verify_mem = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for _ in range(reps):
        assert verify_run(store, run_id).ok
    t_verify_db = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for _ in range(reps):
        for p in payloads:
            hashlib.sha256(p).digest()
    t_sha = (time.perf_counter() - t0) / reps

    best_plain, best_engine = min(plain_times), min(engine_times)
    print(f"\norganism {args.model}, {args.n} samples, max {args.max_tokens} new tokens, "
          f"{len(recs)} records ({total_bytes / len(recs):.0f} bytes each on average), SQLite WAL")
    print("\nrun-time overhead")
    print(f"{'measure':<52} {'value':>12}")
    print(f"{'plain inspect eval, best of ' + str(args.repeats) + ' (s)':<52} {best_plain:12.2f}")
    print(f"{'engine + evidence, best of ' + str(args.repeats) + ' (s)':<52} {best_engine:12.2f}")
    print(f"{'wall-clock overhead (best vs best)':<52} {100 * (best_engine - best_plain) / best_plain:11.1f}%")
    med_plain, med_engine = statistics.median(plain_times), statistics.median(engine_times)
    print(f"{'wall-clock overhead (median vs median)':<52} {100 * (med_engine - med_plain) / med_plain:11.1f}%")
    cpu_p, cpu_e = statistics.mean(plain_cpu), statistics.mean(engine_cpu)
    print(f"{'process CPU seconds, plain / engine (mean)':<52} {cpu_p:6.1f} / {cpu_e:<5.1f}")
    print(f"{'CPU overhead (mean vs mean)':<52} {100 * (cpu_e - cpu_p) / cpu_p:11.1f}%")
    print(f"{'evidence hook wall time per sample (ms)':<52} {1000 * hook_s / args.n:12.3f}")
    print(f"{'evidence hook CPU time per sample (ms)':<52} {1000 * hook_cpu_s / args.n:12.3f}")
    print(f"{'evidence hook wall time / engine wall time (mean)':<52} {100 * statistics.mean(hook_shares):11.2f}%")
    print(f"{'evidence hook CPU time / engine CPU time (mean)':<52} {100 * statistics.mean(hook_cpu_shares):11.2f}%")
    print("\nverification throughput")
    print(f"{'method':<52} {'records/s':>12} {'MB/s':>8}")
    for label, secs in (("verify_records (from memory)", t_verify_mem),
                        ("verify_run (read from SQLite + verify)", t_verify_db),
                        ("raw sha256 over the same bytes", t_sha)):
        print(f"{label:<52} {len(recs) / secs:12,.0f} {total_bytes / secs / 1e6:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
