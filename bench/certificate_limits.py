"""Cost of hostile certificates, before and after the 256 KiB cap (issue 17).

    .venv/bin/python bench/certificate_limits.py

Prints one table: for a normal certificate, the red team's 1 MB certificate (5,718 copies
of the signature) and a 100 MB file, the time ``verify_bytes`` (what the server's
``/api/v1/verify`` runs) takes in-process, and the wall time and peak memory of
``modelcert verify`` on the file in a fresh process. Also times the transparency log:
appending an entry (with its signed head) and building proofs at a given log size.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_WRAP = (
    "import resource, subprocess, sys, time; t0 = time.perf_counter(); "
    "rc = subprocess.run(sys.argv[1:], capture_output=True).returncode; "
    "print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)"
)


def _child_run(args: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB and exit code of one command, measured by its own parent."""
    out = subprocess.run([sys.executable, "-c", _WRAP, *args], capture_output=True, text=True, check=True)
    wall, kb, rc = out.stdout.split()
    return float(wall), int(kb) / 1024, int(rc)


def main() -> None:
    from modelcert.certify import issue_certificate, keys
    from modelcert.certify.statement import AuditResult
    from modelcert.registry import Registry
    from modelcert.translog import TransparencyLog
    from modelcert.web.service import verify_bytes

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "certify"))
    from certify_fixtures import audit_result

    tmp = Path(tempfile.mkdtemp(prefix="certlimits-"))
    key = keys.generate_keypair(tmp / "lab.key", tmp / "lab.pub")
    data, _ = issue_certificate(AuditResult.model_validate(audit_result("api")), key, lab_id="bench")
    obj = json.loads(data)
    obj["signatures"] = obj["signatures"] * 5718
    big = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    files = {"normal": tmp / "normal.json", "1 MB, 5,718 signatures": tmp / "sigs.json",
             "100 MB file": tmp / "huge.json"}
    files["normal"].write_bytes(data)
    files["1 MB, 5,718 signatures"].write_bytes(big)
    with files["100 MB file"].open("wb") as fh:
        fh.write(data[:-2] + b" " * (100 * 1024 * 1024))
    reg = Registry(f"sqlite:///{tmp / 'reg.sqlite'}")
    pub = key.public_key()
    # baseline child process: import cost and memory of a trivial command
    base_wall, base_rss, _ = _child_run([sys.executable, "-m", "modelcert", "keys", "show", str(tmp / "lab.pub")])
    print(f"{'certificate':<26} {'bytes':>11} {'verify_bytes ms':>16} {'CLI s':>7} {'CLI peak MB':>12} {'CLI exit':>9}  "
          f"(a bare 'modelcert keys show': {base_wall:.2f} s, {base_rss:.0f} MB)")
    for name, path in files.items():
        blob = path.read_bytes()
        t0 = time.perf_counter()
        reps = 20
        for _ in range(reps):
            out = verify_bytes(reg, pub, blob)
        ms = (time.perf_counter() - t0) / reps * 1000
        del blob
        wall, rss, rc = _child_run([sys.executable, "-m", "modelcert", "verify", str(path), "--key",
                                    str(tmp / "lab.pub")])
        print(f"{name:<26} {path.stat().st_size:>11,} {ms:>16.2f} {wall:>7.2f} {rss:>12.0f} {rc:>9}  "
              f"{'genuine' if out.genuine else out.reason}")
    reg.close()

    print(f"\n{'log size':>9} {'append ms':>10} {'inclusion ms':>13} {'consistency ms':>15}")
    with TransparencyLog(f"sqlite:///{tmp / 'log.sqlite'}") as tlog:
        n = 0
        for target in (100, 1000, 5000):
            t0 = time.perf_counter()
            while n < target:
                tlog.append({"kind": "result", "subject": f"{n:064x}"}, key)
                n += 1
            append_ms = (time.perf_counter() - t0) / max(1, target) * 1000
            t0 = time.perf_counter()
            tlog.inclusion(n // 3)
            inc = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            tlog.consistency(n // 2)
            con = (time.perf_counter() - t0) * 1000
            print(f"{n:>9} {append_ms:>10.2f} {inc:>13.1f} {con:>15.1f}")


if __name__ == "__main__":
    main()
