"""Time every README command as written, in an empty folder, against the 10-minute budget.

Runs the same commands, in the same order and environment, as ``tests/test_readme.py``
(which it imports), and prints one row per command: seconds, exit code, and whether it
is within the 10-minute budget for a README example and under the 60 s that keeps it in
the default test run (otherwise it belongs in the test's ``HEAVY_PREFIXES``).

    python bench/readme_times.py [--only PREFIX] [--skip PREFIX ...]

``make test`` is not run (it is the test suite). The load average is printed with each
row: on the lab's shared 2-core machine it changes the times by a factor of several.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 600
DEFAULT_RUN_S = 60


def _load_test_module():
    sys.path.insert(0, str(ROOT / "tests"))
    spec = importlib.util.spec_from_file_location("test_readme", ROOT / "tests" / "test_readme.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["test_readme"] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", default=[], help="run only commands starting with this")
    ap.add_argument("--skip", action="append", default=[], help="skip commands starting with this")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    t = _load_test_module()
    rows = []
    with tempfile.TemporaryDirectory(prefix="modelcert-readme-") as tmp:
        # like the test: a fresh user's home and data folders (serve writes its data there);
        # models already cached stay readable
        os.environ.setdefault("HF_HOME", str(Path.home() / ".cache" / "huggingface"))
        for var in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
            (Path(tmp) / var).mkdir()
            os.environ[var] = str(Path(tmp) / var)
        session = t.Session(Path(tmp))
        try:
            for cmd in t.readme_commands():
                if cmd.line in t.NOT_RUN or any(cmd.line.startswith(s) for s in args.skip):
                    continue
                if args.only and not any(cmd.line.startswith(o) for o in args.only) and not cmd.line.startswith(
                        ("export ", "modelcert keys init")):
                    continue
                load = os.getloadavg()[0]
                t0 = time.perf_counter()
                try:
                    proc = session.run(cmd)
                    rc = "-" if proc is None else str(proc.returncode)
                    ok = proc is None or proc.returncode == cmd.expect
                except BaseException as exc:  # pytest.skip raises; keep the row
                    rc, ok = f"({type(exc).__name__}: {str(exc)[:40]})", False
                secs = time.perf_counter() - t0
                rows.append((cmd.line, secs, rc, ok, load, cmd.heavy))
                print(f"{secs:7.1f} s  rc {rc:>3}  load {load:4.1f}  {cmd.line}", flush=True)
        finally:
            session.close()
    print()
    print(f"| command | seconds | exit | as documented | ≤ {BUDGET_S} s | default run (≤ {DEFAULT_RUN_S} s) "
          "| marked heavy | load avg |")
    print("| --- | ---: | ---: | --- | --- | --- | --- | ---: |")
    for line, secs, rc, ok, load, heavy in rows:
        print(f"| `{line[:80]}` | {secs:.1f} | {rc} | {'yes' if ok else 'NO'} | "
              f"{'yes' if secs <= BUDGET_S else 'NO'} | {'yes' if secs <= DEFAULT_RUN_S else 'no'} | "
              f"{'yes' if heavy else 'no'} | {load:.1f} |")
    return 0 if all(r[3] and r[1] <= BUDGET_S for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
