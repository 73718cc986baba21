"""`modelcert judges show` and `calibrate`: the judge's figures on the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from modelcert.cli.app import app, register_subapps
from modelcert.errors import ConfigError
from modelcert.judges.calibration import rules_calibration


def _invoke(*args: str):
    register_subapps()
    return CliRunner().invoke(app, list(args))


def test_show_json_matches_the_calibration() -> None:
    out = _invoke("judges", "show", "--json")
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    first = next(r for r in rows if r["subset"] == "all" and r["context"] == "all")
    assert first["accuracy"] == rules_calibration("complied", "all").accuracy >= 0.95
    assert {r["subset"] for r in rows} == {"all", "heldout"}


def test_calibrate_rejects_bad_options_as_a_user_error(tmp_path: Path) -> None:
    out = _invoke("judges", "calibrate", "--judge-model", "local/x", "--out", str(tmp_path / "c.json"),
                  "--positive", "harmful")
    # the console entry point turns a ConfigError into one line and exit code 2
    assert isinstance(out.exception, ConfigError) and out.exception.exit_code == 2
    assert not (tmp_path / "c.json").exists()


def test_real_reports_the_rows_this_version_never_saw_or_says_there_are_none() -> None:
    from modelcert.judges.realset import current_judge, heldout_for

    out = _invoke("judges", "real", "--split", "dev", "--json")
    assert out.exit_code == 0, out.output
    harmful = next(r for r in json.loads(out.stdout) if r["slice"] == "harmful")
    assert harmful["judge"] == current_judge() and harmful["split"] == "dev" and harmful["sens_n"] > 0
    out = _invoke("judges", "real", "--json")
    assert out.exit_code == 0, out.output
    if not heldout_for():
        assert json.loads(out.stdout) == [] and "no held-out real answers" in out.stderr
    bad = _invoke("judges", "real", "--split", "mine")
    assert isinstance(bad.exception, ConfigError)
