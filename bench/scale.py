"""Scaling out on Ray: replica actors for a backdoor search, workers for a rate-limited API.

One run starts a local Ray head on 127.0.0.1 (or joins ``$RAY_ADDRESS``) and prints:

1. **Backdoor search** (logprobs tier, the bundled policy's bounded search: 100 rare-word
   candidates, no vocabulary inversion) on a zoo organism: in this process, then spread
   over 1 and 2 replica actors (each loads its own copy once, before timing). Speed-up
   of 2 replicas over 1; the recovered triggers must be identical in every row.
2. **Remote API check** against a fake OpenAI-compatible endpoint on 127.0.0.1 that
   answers after ``--latency`` seconds and refuses (HTTP 429) any request beyond
   ``--server-rate`` per second (sliding 1 s window). The runner's rounds go to 1, 4 and
   8 API workers (one request in flight each), all sharing one cluster-wide limiter at
   ``--rate`` requests per second. Speed-up over 1 worker, the highest request count the
   server saw in any 1 s window, and its 429 count (must be 0).

The load average is printed with the table: on a shared machine the CPU-bound row (1)
measures what the machine had to spare, not what Ray can do.

Usage: ``python bench/scale.py [--organism backdoor] [--samples 120] [--latency 0.2]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1] / "src"))


class RateLimitedServer:
    """OpenAI-compatible chat endpoint: fixed latency, HTTP 429 above ``rate`` requests/s."""

    def __init__(self, latency: float, rate: int) -> None:
        self.latency, self.rate = latency, rate
        self.stamps: deque[float] = deque()
        self.peak = 0
        self.refused = 0
        self.served = 0
        self.lock = threading.Lock()
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                now = time.monotonic()
                with srv.lock:
                    while srv.stamps and srv.stamps[0] <= now - 1.0:
                        srv.stamps.popleft()
                    over = len(srv.stamps) >= srv.rate
                    srv.stamps.append(now)
                    srv.peak = max(srv.peak, len(srv.stamps))
                    srv.refused += over
                if over:
                    return self._send(429, {"error": {"message": "rate limited", "type": "rate_limit"}})
                time.sleep(srv.latency)
                with srv.lock:
                    srv.served += 1
                self._send(200, {"id": "c", "object": "chat.completion", "created": 0, "model": "fake",
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": "REFUSE"}}],
                                 "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_port}/v1"

    def reset(self) -> None:
        with self.lock:
            self.stamps.clear()
            self.peak = self.refused = self.served = 0


def api_task(n: int):
    from inspect_ai import Task
    from inspect_ai.dataset import MemoryDataset, Sample
    from inspect_ai.scorer import includes
    from inspect_ai.solver import generate

    return Task(dataset=MemoryDataset([Sample(id=i, input=f"question {i}", target="REFUSE")
                                       for i in range(1, n + 1)]),
                solver=generate(), scorer=includes())


def bench_scan(organism: str, executor, rows: list[list[str]]) -> None:
    from modelcert.analyzers.backdoor import scan_checkpoint
    from modelcert.analyzers.backdoor.model import _replica_generate
    from modelcert.organisms import zoo_path

    path = zoo_path(organism)
    opts = {"dictionary": 100, "invert_vocab": False}
    t0 = time.perf_counter()
    local = scan_checkpoint(path, "logprobs", executor="inprocess", **opts)
    base = time.perf_counter() - t0
    found = [t["text"] for t in local.triggers]
    rows.append(["scan in-process", "1", f"{base:.1f}", "-", ", ".join(found) or "none"])
    times = {}
    for n in (1, 2):
        pool = executor.pool(f"scan:{path.resolve().name}", n)
        warm = [((str(path.resolve()), "logprobs", "cpu", 0), [[{"role": "user", "content": "hi"}]],
                 {"max_new_tokens": 1})] * n
        list(pool.map(_replica_generate, warm))  # each replica loads its copy before timing
        t0 = time.perf_counter()
        rep = scan_checkpoint(path, "logprobs", executor=executor, replicas=n, **opts)
        times[n] = time.perf_counter() - t0
        same = [t["text"] for t in rep.triggers] == found
        rows.append([f"scan on {n} replica actor(s)", str(n), f"{times[n]:.1f}",
                     f"{times[1] / times[n]:.2f}x", ("same: " if same else "DIFFERENT: ")
                     + (", ".join(t["text"] for t in rep.triggers) or "none")])
        pool.close()


def bench_api(samples: int, latency: float, server_rate: int, rate: float, rows: list[list[str]], executor) -> None:
    from modelcert.evidence.store import EvidenceStore
    from modelcert.runner import Limits, Runner
    from modelcert.targets import make_target

    server = RateLimitedServer(latency, server_rate)
    os.environ["FAKE_BASE_URL"], os.environ["FAKE_API_KEY"] = server.base_url, "bench"
    target = make_target("openai-api/fake/model")
    times = {}
    with tempfile.TemporaryDirectory() as tmp, EvidenceStore(f"{tmp}/ev.sqlite") as store:
        for workers in (1, 4, 8):
            os.environ["MODELCERT_API_WORKERS"] = str(workers)
            os.environ["MODELCERT_CHUNK"] = "1"  # warm-up: one sample per worker starts each process
            warm = Runner(store, target, lambda w=workers: api_task(w), check_id="bench.warmup",
                          limits=Limits(max_retries=0, attempt_timeout=30, timeout=60, max_samples=1),
                          plan={"workers": workers}, executor=executor)
            warm.start_run(resume=False)
            warm.run_round(warm.sample_ids)
            os.environ["MODELCERT_CHUNK"] = str(-(-samples // workers))
            runner = Runner(store, target, lambda: api_task(samples), check_id="bench.api",
                            limits=Limits(max_retries=0, attempt_timeout=30, timeout=60, max_samples=1),
                            plan={"workers": workers}, executor=executor)
            runner.start_run(resume=False)
            server.reset()
            t0 = time.perf_counter()
            got = runner.run_round(runner.sample_ids)
            times[workers] = time.perf_counter() - t0
            runner.finish_run()
            ok = sum(r.ok for r in got)
            rows.append([f"API check, {workers} worker(s)", str(workers), f"{times[workers]:.1f}",
                         f"{times[1] / times[workers]:.2f}x",
                         f"{ok}/{samples} ok; peak {server.peak} req in 1 s (server limit {server_rate}, "
                         f"limiter {rate:g}/s); 429s: {server.refused}"])
            from modelcert.runner.fanout import pool_for

            pool_for(executor, target).close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--organism", default="backdoor")
    ap.add_argument("--samples", type=int, default=120)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--server-rate", type=int, default=30, help="the fake endpoint's limit, requests/s")
    ap.add_argument("--rate", type=float, default=25.0, help="the shared limiter's rate, requests/s")
    ap.add_argument("--skip", default="", help="comma list: scan, api")
    args = ap.parse_args()
    os.environ["MODELCERT_ENDPOINT_RATE"] = str(args.rate)  # read by every API worker

    import ray

    if not os.environ.get("RAY_ADDRESS"):
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024 * 1024,
                 namespace="modelcert", log_to_driver=False)
    from modelcert.executors import get_executor

    ex = get_executor("ray")
    load0 = os.getloadavg()
    rows: list[list[str]] = []
    skip = set(args.skip.split(","))
    if "scan" not in skip:
        bench_scan(args.organism, ex, rows)
    if "api" not in skip:
        bench_api(args.samples, args.latency, args.server_rate, args.rate, rows, ex)
    load1 = os.getloadavg()
    head = ["run", "replicas/workers", "seconds", "speed-up", "result"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    print(f"cores: {os.cpu_count()}; load average (1 min) at start {load0[0]:.1f}, at end {load1[0]:.1f}; "
          f"Ray cluster {ex.describe()['cluster']}")
    for r in [head, ["-" * w for w in widths], *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    ex.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    sys.exit(main())
