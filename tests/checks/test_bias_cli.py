"""``modelcert bias``: run writes the effects table and plot with the run's log; analyze and power."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
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


def test_modelcert_run_writes_the_effects_table_and_forest_plot(random_checkpoint: Path, tmp_path: Path) -> None:
    """Issue 6 item 5: whatever path runs the check, its effects table and plot come with the results."""
    from modelcert.checks.bias_analysis import analyze_run
    from modelcert.evidence.store import SAMPLE, SAMPLE_ERROR, EvidenceStore

    db, out = f"sqlite:///{tmp_path / 'ev.db'}", tmp_path / "res"
    # --limit 20: a seeded draw of whole counterfactual groups spread over languages, domains and
    # attributes (not the suite's first 20 items, which are one English credit scenario)
    proc = _run("run", "bias.decisions", "-m", f"local/{random_checkpoint}", "--limit", "20", "--db", db,
                "-o", str(out), "--json", "--full")  # the full suite's order, not the quick design
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert 0 < result["n"] <= 20 and result["errors"] == 0
    assert result["files"] == {"json": str(out / "effects.json"), "markdown": str(out / "effects.md"),
                               "forest": str(out / "forest.svg")}
    effects = json.loads((out / "effects.json").read_text())
    assert effects["summary"]["items"] == result["n"] and effects["effects"]
    ET.fromstring((out / "forest.svg").read_text())

    # the analysis reads the evidence alone: an error later retried successfully counts once, as a success
    with EvidenceStore(db) as store:
        src = result["run_id"]
        copy = store.create_run()
        store.append(copy, "preregistration", {"copy_of": src})
        samples = [r.data for r in store.records(src, kinds=(SAMPLE,))]
        store.append(copy, SAMPLE_ERROR, {**samples[0], "scores": {}, "error": {"message": "timeout"}})
        for data in samples:
            store.append(copy, SAMPLE, data)
        again = analyze_run(store, copy)
        assert again.to_json() == analyze_run(store, src).to_json()
        assert again.summary()["errors"] == 0
        failed = store.create_run()  # an error that was never retried is counted, not dropped
        store.append(failed, "preregistration", {})
        store.append(failed, SAMPLE_ERROR, {**samples[0], "scores": {}, "error": {"message": "timeout"}})
        for data in samples[1:]:
            store.append(failed, SAMPLE, data)
        assert analyze_run(store, failed).summary()["errors"] == 1
        with pytest.raises(ConfigError, match="no recorded samples"):
            analyze_run(store, store.create_run())
