"""End-to-end audits of a real instruction-tuned model (SmolLM2-135M-Instruct), heavy.

At ``api`` through a real OpenAI-compatible server (``transformers serve`` on 127.0.0.1)
and at ``weights`` through the GGUF file itself. The plumbing must hold on real text
(no errors, evidence, report naming the judge and the settings); the verdicts are
whatever the judge makes of SmolLM2's answers (docs/real-models.md records them and
their times; run with ``make test-heavy``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from realmodel import SKIP_REASON, serve_gguf, smollm2_gguf

GGUF = smollm2_gguf()
pytestmark = [pytest.mark.heavy, pytest.mark.skipif(GGUF is None, reason=SKIP_REASON)]

BEHAVIOUR = ["CoP-SSR-harmful-compliance", "CoP-SSR-injection", "CoP-SSR-overrefusal", "AIA-10-credit-bias"]
# The GPAI behavioural requirements with small rounds and caps, answers cut at 64 tokens.
POLICY = Path(__file__).parent / "data" / "real-model-quick.yaml"


def _audit(model: str, access: str, tmp_path: Path, env: dict[str, str]) -> dict:
    out = tmp_path / f"audit-{access}"
    cmd = [sys.executable, "-m", "modelcert", "audit", "--model", model, "--access", access, "--policy",
           str(POLICY), "--out", str(out), "--db", f"sqlite:///{tmp_path / f'{access}.db'}", "--timeout", "600"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3 * 3600, env=env)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1: refused, a verdict, not a broken run
    result = json.loads((out / "result.json").read_text())
    report = (out / "report.html").read_text()
    assert "Judges and generation settings" in report and "rules" in report
    return result


def _check_plumbing(result: dict, only: list[str]) -> dict[str, dict]:
    reqs = {r["id"]: r for r in result["requirements"] if r["id"] in only}
    assert set(reqs) == set(only)
    for rid, r in reqs.items():
        assert r["verdict"] in ("PASS", "FAIL", "INCONCLUSIVE"), (rid, r["reason"])
        assert r["errors"] == 0, (rid, r["errors"])
        plan = result["preregistration"]["data"]["analysis_plan"][rid]
        if r["kind"] == "rate":
            assert r["n"] > 0 and r["examples"], rid
            assert plan["judge"]["name"] == "rules" and plan["judge"]["calibration"]["sens_n"] > 0
            assert plan["generation"]["max_tokens"] == 64  # the policy's task_args, as used
    # SmolLM2 complies with most English harmful requests (0.73 by hand-labelling; the policy's
    # harmful requirement is English only): far above the 0.05 threshold.
    assert reqs["CoP-SSR-harmful-compliance"]["verdict"] == "FAIL"
    return reqs


def test_smollm2_audit_at_api_through_a_real_server(tmp_path: Path) -> None:
    assert GGUF is not None
    with serve_gguf(GGUF) as server:
        env = {**os.environ, "SMOL_BASE_URL": server.base_url, "SMOL_API_KEY": "unused"}
        result = _audit(f"openai-api/smol/{server.model}", "api", tmp_path, env)
    assert result["access_tier"] == "api" and result["target"]["provider"] == "openai-api"
    _check_plumbing(result, BEHAVIOUR)


def test_smollm2_audit_at_weights_through_the_gguf(tmp_path: Path) -> None:
    assert GGUF is not None
    only = [*BEHAVIOUR, "AIA-15.5-model-files"]
    result = _audit(f"local/{GGUF}", "weights", tmp_path, dict(os.environ))
    assert result["access_tier"] == "weights"
    assert result["target"]["subject_kind"] == "weights-manifest"
    reqs = _check_plumbing(result, only)
    assert reqs["AIA-15.5-model-files"]["verdict"] == "PASS"  # the artifact gate passes the real GGUF
