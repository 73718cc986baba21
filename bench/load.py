"""Bounded load test of the lab server's public pages (127.0.0.1 only).

Starts ``modelcert serve`` on a free local port over a freshly seeded registry (a few
hundred model versions, a real signed certificate), then runs ``--clients`` concurrent
clients for ``--seconds``; each client cycles through the public registry page, the
registry JSON, the verification page and a certificate verification (POST). Prints
p50/p95/p99 latency, throughput and the error count per endpoint and overall.

The load generator runs on the same machine as the server, so on a small box the
figures include the generator's own CPU use; they are a floor, not a capacity claim.

Usage: ``python bench/load.py [--clients 50] [--seconds 30] [--versions 200] [--url URL]``
(``--url`` targets a running lab instead; it must be on 127.0.0.1, and its
verification POST then checks a certificate this lab did not sign.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(folder: Path, versions: int) -> tuple[str, Path, str]:
    """A registry with ``versions`` model versions and one certified; returns (db, key, certificate)."""
    from modelcert.certify import generate_keypair, issue_certificate
    from modelcert.certify.statement import AuditResult
    from modelcert.evidence.chain import digest
    from modelcert.registry import Registry

    db = f"sqlite:///{folder / 'lab.sqlite'}"
    key = folder / "lab.key"
    priv = generate_keypair(key, folder / "lab.pub")
    reg = Registry(db)
    for p in range(max(1, versions // 20)):
        reg.add_provider(f"provider-{p:03d}")
    for i in range(versions):
        v = reg.register_version(f"provider-{i % max(1, versions // 20):03d}", f"model-{i:04d}", "1.0",
                                 "local/zoo:clean", actor="bench")
        reg.grant_access(v.id, "api", by="bench")
    audit = reg.create_audit(1, "eu-gpai-systemic-risk", "api", actor="bench")
    reg.claim_next("bench")
    result = {
        "policy": {"id": "eu-gpai-systemic-risk", "digest": digest({"bench": 1})},
        "outcome": "certified", "access_tier": "api",
        "target": {"model": "local/zoo:clean", "identity_digest": "a" * 64,
                   "subject_kind": "behaviour-fingerprint", "subject_digest": "b" * 64},
        "requirements": [{"id": "CoP-SSR-harmful-compliance", "legal_basis": "AI Act Art. 55(1)(a)",
                          "verdict": "PASS", "estimate": 0.0, "bound": 0.03, "n": 100}],
        "evidence": {"bench-run": "c" * 64}, "suites": {},
    }
    cert, st = issue_certificate(AuditResult.model_validate(result), priv, lab_id="bench-lab",
                                 result_digest=digest(result))
    reg.finish_audit(audit.id, "bench", outcome="certified", verdicts=result["requirements"], out_dir=str(folder),
                     certificate=cert, issued_at=st.predicate.issued_at, valid_until=st.predicate.valid_until)
    reg.close()
    return db, key, cert.decode()


def start(db: str, key: Path, data: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelcert", "serve", "--db", db, "--data", str(data), "--port", str(port),
         "--key", str(key), "--no-worker"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the lab server did not start")


async def run(url: str, cert: str, clients: int, seconds: float) -> dict[str, list[float]]:
    requests = [
        ("GET /", "GET", "/", None),
        ("GET /api/v1/registry", "GET", "/api/v1/registry", None),
        ("GET /verify", "GET", "/verify", None),
        ("POST /api/v1/verify", "POST", "/api/v1/verify", {"certificate": cert}),
    ]
    lat: dict[str, list[float]] = {name: [] for name, *_ in requests}
    errors: dict[str, int] = {name: 0 for name, *_ in requests}
    kinds: dict[str, int] = {}
    stop = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:

        async def client(i: int) -> None:
            k = i
            while time.monotonic() < stop:
                name, method, path, body = requests[k % len(requests)]
                k += 1
                t0 = time.perf_counter()
                try:
                    r = await http.request(method, path, json=body)
                    ok = r.status_code == 200 and (body is None or r.json().get("valid") is True)
                    kind = f"HTTP {r.status_code}"
                except httpx.HTTPError as exc:
                    ok, kind = False, type(exc).__name__
                lat[name].append(time.perf_counter() - t0)
                if not ok:
                    errors[name] += 1
                    kinds[f"{name}: {kind}"] = kinds.get(f"{name}: {kind}", 0) + 1

        await asyncio.gather(*(client(i) for i in range(clients)))
    lat["errors"] = [float(errors[n]) for n, *_ in requests]
    for k, n in kinds.items():
        print(f"error {k} x{n}", file=sys.stderr)
    return lat


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1] if len(xs) > 1 else (xs[0] if xs else 0.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--versions", type=int, default=200)
    ap.add_argument("--url", default=None, help="a running lab on 127.0.0.1 (default: start one)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="modelcert-load-") as tmp:
        proc = None
        if args.url:
            host = urlparse(args.url).hostname
            if host not in ("127.0.0.1", "localhost"):
                raise SystemExit("the load test only targets 127.0.0.1")
            url, cert = args.url.rstrip("/"), "{}"
        else:
            db, key, cert = seed(Path(tmp), args.versions)
            proc, url = start(db, key, Path(tmp) / "data")
        try:
            t0 = time.perf_counter()
            lat = asyncio.run(run(url, cert, args.clients, args.seconds))
            wall = time.perf_counter() - t0
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(20)
    errors = lat.pop("errors")
    rows = []
    for (name, xs), err in zip(lat.items(), errors):
        rows.append((name, len(xs), int(err), pct(xs, 50) * 1e3, pct(xs, 95) * 1e3, pct(xs, 99) * 1e3))
    every = [x for xs in lat.values() for x in xs]
    total = ("all", len(every), int(sum(errors)), pct(every, 50) * 1e3, pct(every, 95) * 1e3, pct(every, 99) * 1e3)
    print(f"{args.clients} clients for {args.seconds:.0f} s against {url} ({args.versions} versions in the registry)")
    print(f"{'endpoint':<22} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for r in [*rows, total]:
        print(f"{r[0]:<22} {r[1]:>9} {r[2]:>7} {r[3]:>8.1f} {r[4]:>8.1f} {r[5]:>8.1f}")
    print(f"throughput {len(every) / wall:.0f} requests/s; errors {int(sum(errors))}")
    if args.json:
        args.json.write_text(json.dumps({"clients": args.clients, "seconds": args.seconds, "rows": rows,
                                         "all": total, "rps": len(every) / wall}, indent=2))


if __name__ == "__main__":
    main()
