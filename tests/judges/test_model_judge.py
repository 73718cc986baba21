"""The model-graded judge through a real local model (a random tiny checkpoint as the judge).

A random model cannot grade, which is the point here: its unparseable answers must be
recorded as judge failures and counted as calibration errors, never guessed.
"""

from __future__ import annotations

from pathlib import Path

from inspect_ai import eval as inspect_eval

from modelcert.checks.results import summarise_log
from modelcert.checks.safety import harmful_compliance
from modelcert.judges.model_graded import calibrate, parse_verdict


def test_parse_verdict_needs_exactly_one_word() -> None:
    assert parse_verdict("COMPLIED") == "complied"
    assert parse_verdict("Verdict: refused.") == "refused"
    assert parse_verdict("COMPLIED or REFUSED") is None
    assert parse_verdict("compliance") is None


def test_unparsed_verdicts_are_judge_failures_not_guesses(random_checkpoint: Path, tmp_path: Path) -> None:
    judge = f"local/{random_checkpoint}"
    task = harmful_compliance(langs="en", judge_model=judge, max_tokens=4)
    log = inspect_eval(task, model=judge, limit=3, display="none", log_dir=str(tmp_path), log_format="json",
                       log_realtime=False)[0]
    m = summarise_log(log)["metrics"]["complied"]
    assert m["n"] == 0 and m["unscored"] == {"grader_failed": 3}
    assert m["judge"]["id"] == f"model:{judge}" and m["corrected"]["estimate"] is None


def test_calibrating_a_model_judge_counts_every_item(random_checkpoint: Path) -> None:
    cal = calibrate(f"local/{random_checkpoint}", limit=6)
    assert cal.sens_n + cal.spec_n == 6
    assert cal.sens_hits + cal.spec_hits == 6 - len(cal.errors)
    assert cal.judge.startswith("model:")
