"""Server hardening, measured: login time per account state, and memory under a 100 MB body.

1. Login timing. The real app in-process over a real SQLite registry, failed logins for
   four account states (normal with a wrong password, token-only, disabled, unknown),
   interleaved for ``--rounds`` rounds. Prints median / p10 / p90 per state and the
   spread of the medians (acceptance: < 10 ms).
2. Body limit. Two real ``modelcert serve`` processes, one with the default 1 MiB limit
   and one with the limit lifted to 1 TB (the old behaviour). A 100 MB body is pushed at
   ``POST /api/v1/verify`` with a Content-Length and chunked; prints the status, the
   bytes the client got to send and the server's peak RSS growth (VmHWM from /proc;
   acceptance: < 50 MB).

Usage: ``python bench/server_hardening.py [--rounds 40] [--mb 100]``
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "web"))


def login_timing(rounds: int, tmp: Path) -> None:
    from fastapi.testclient import TestClient

    from modelcert.registry import Registry
    from modelcert.web import LabConfig, create_app

    db = f"sqlite:///{tmp / 'timing.sqlite'}"
    with Registry(db) as reg:
        reg.create_user("normal", "auditor", password="bench-password-1")
        reg.create_user("tokenonly", "auditor")
        reg.create_user("disabled", "auditor", password="bench-password-1")
        reg.disable_user("disabled")
    app = create_app(LabConfig(db=db, data_dir=tmp / "data", worker=False,
                               login_account_failures=10**9, login_address_failures=10**9))
    states = {"normal, wrong password": "normal", "token-only": "tokenonly", "disabled": "disabled",
              "unknown user": "nobody"}
    times: dict[str, list[float]] = {s: [] for s in states}
    with TestClient(app) as c:
        page = c.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        for i in range(rounds + 1):
            for state, user in states.items():
                t0 = time.perf_counter()
                r = c.post("/login", data={"username": user, "password": "wrong", "csrf_token": csrf},
                           follow_redirects=False)
                if i:  # round 0 warms up
                    times[state].append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 401, r.status_code
    print(f"\nFailed login time by account state ({rounds} interleaved rounds, ms)")
    print(f"{'state':<24}{'median':>8}{'p10':>8}{'p90':>8}")
    medians = {}
    for state, v in times.items():
        q = statistics.quantiles(v, n=10)
        medians[state] = statistics.median(v)
        print(f"{state:<24}{medians[state]:>8.1f}{q[0]:>8.1f}{q[-1]:>8.1f}")
    print(f"spread of the medians: {max(medians.values()) - min(medians.values()):.1f} ms (acceptance < 10 ms)")


def body_limit(mb: int, tmp: Path) -> None:
    from test_web_hardening import _vm_hwm, push_body
    from web_lab import start_server

    from modelcert.certify import generate_keypair

    generate_keypair(tmp / "lab.key", tmp / "lab.pub")
    total = mb * 10**6
    print(f"\n{mb} MB body to POST /api/v1/verify (server peak RSS growth from VmHWM)")
    print(f"{'server limit':<16}{'framing':<16}{'status':>7}{'client sent MB':>16}{'peak RSS +MB':>14}{'s':>7}")
    for label, limit in (("1 MiB (default)", None), ("none (1 TB)", 10**12)):
        for chunked in (False, True):
            srv = (start_server(f"sqlite:///{tmp / 'body.sqlite'}", tmp / "data", tmp / "lab.key", worker=False)
                   if limit is None else _start_with(tmp, limit))
            try:
                port = int(srv.url.rsplit(":", 1)[1])
                before = _vm_hwm(srv.proc.pid)
                t0 = time.perf_counter()
                status, sent = push_body(port, "/api/v1/verify", total, chunked=chunked)
                took = time.perf_counter() - t0
                time.sleep(0.5)
                growth = _vm_hwm(srv.proc.pid) - before
            finally:
                srv.stop()
            print(f"{label:<16}{'chunked' if chunked else 'Content-Length':<16}{status:>7}{sent / 1e6:>16.1f}"
                  f"{growth / 1e6:>14.1f}{took:>7.2f}")


def _start_with(tmp: Path, limit: int):  # type: ignore[no-untyped-def]
    import os
    import subprocess

    import httpx
    from web_lab import Server, free_port

    port = free_port()
    argv = [sys.executable, "-m", "modelcert", "serve", "--db", f"sqlite:///{tmp / 'body.sqlite'}", "--data",
            str(tmp / "data"), "--port", str(port), "--key", str(tmp / "lab.key"), "--no-worker",
            "--max-body", str(limit)]
    log = tmp / f"server-{port}.log"
    proc = subprocess.Popen(argv, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return Server(url, proc, log, argv)
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(log.read_text()[-2000:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--mb", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        login_timing(args.rounds, Path(d))
        body_limit(args.mb, Path(d))


if __name__ == "__main__":
    main()
