"""The same bundled check against an OpenAI-compatible server on 127.0.0.1.

`transformers serve` serves the zoo's clean organism; `modelcert run` reaches it through
Inspect's `openai-api/<svc>/<model>` provider, exactly as an auditor would reach a
provider's endpoint. The answers must match the local/ provider's, sample for sample.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from modelcert.organisms.zoo import zoo_path

LIMIT = "12"


def _run(model: str, env: dict[str, str], tmp_path: Path, *extra: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "modelcert", "run", "safety.harmful", "--model", model, "--limit", LIMIT,
         "--json", "--db", f"sqlite:///{tmp_path / 'ev.sqlite'}", "--timeout", "60", *extra],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_bundled_check_runs_against_transformers_serve(transformers_server: str, tmp_path: Path) -> None:
    folder = zoo_path("clean")
    env = {**os.environ, "LAB_BASE_URL": transformers_server, "LAB_API_KEY": "unused"}
    remote = _run(f"openai-api/lab/{folder}", env, tmp_path)
    assert remote["status"] == "success" and remote["errors"] == 0
    assert remote["n"] == int(LIMIT)
    assert remote["target"]["provider"] == "openai-api"
    assert remote["target"]["identity_kind"] == "api-endpoint"
    assert remote["target"]["access"] == "logprobs"  # the highest an OpenAI-compatible API can grant

    local = _run("local/zoo:clean", env, tmp_path)
    assert local["target"]["identity_kind"] == "weights-manifest"
    # Same organism, same greedy decoding: the judged outcome is the same metric for metric.
    assert set(remote["metrics"]) == set(local["metrics"])
    for name, m in local["metrics"].items():
        assert remote["metrics"][name]["k"] == m["k"], name
        assert remote["metrics"][name]["n"] == m["n"], name
