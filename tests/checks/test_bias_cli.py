"""``modelcert bias``: run writes the effects table and plot with the run's log; analyze and power."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from modelcert.cli.bias_cmd import app as bias_app
from modelcert.errors import ConfigError

MODELCERT = [sys.executable, "-m", "modelcert"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MODELCERT, *args], capture_output=True, text=True, timeout=300)


def test_bias_run_then_analyze(random_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _run("bias", "run", "-m", f"local/{random_checkpoint}", "--access", "weights", "--langs", "en",
                "--domains", "credit", "--attributes", "sex,nationality", "--groups", "1", "-o", str(out), "--json")
    assert proc.returncode in (0, 1), proc.stderr  # 1 would mean a flagged effect; both write the files
    summary = json.loads(proc.stdout)
    assert summary["summary"]["items"] == 8 + 24  # sex: 2 values x 2 signals x 2 qualifications; nationality: 6 x 2 x 2
    assert summary["summary"]["cells"] == 2 and summary["summary"]["errors"] == 0
    for name in ("effects.json", "effects.md", "forest.svg"):
        assert (out / name).stat().st_size > 0
    log = Path(summary["files"]["inspect_log"])
    assert log.parent == out / "inspect"
    ET.fromstring((out / "forest.svg").read_text())  # well-formed, self-contained SVG

    again = tmp_path / "again"
    runner = CliRunner()
    res = runner.invoke(bias_app, ["analyze", str(log), "-o", str(again), "--reference", "nationality=polish",
                                   "--json"])
    assert res.exit_code in (0, 1), res.output
    effects = json.loads((again / "effects.json").read_text())["effects"]
    assert {e["reference"] for e in effects if e["attribute"] == "nationality"} == {"polish"}
    assert {e["level"] for e in effects if e["attribute"] == "nationality"} == {
        "romanian", "bulgarian", "german", "french", "dutch"}


def test_bias_power_and_one_line_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(bias_app, ["power", "--delta", "0.1", "--rho", "0.5", "--base-rate", "0.4"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["pairs"] == 195  # docs/statistics.md: 0.10 at 0.4, rho 0.5
    res = runner.invoke(bias_app, ["power", "--delta", "0.1", "--rho", "0.5", "--base-rate", "0.4", "--cells", "100"])
    more = json.loads(res.stdout)
    assert more["pairs"] > 195 and more["alpha_per_test"] == 0.0005
    bad = _run("bias", "analyze", str(tmp_path / "none.json"))
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "not found" in bad.stderr
    res = runner.invoke(bias_app, ["analyze", str(tmp_path / "none.json"), "--reference", "nationality"])
    assert isinstance(res.exception, ConfigError) and "ATTRIBUTE=VALUE" in str(res.exception)
