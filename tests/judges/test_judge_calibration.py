"""The calibration set's coverage, and how calibrations are counted, loaded and recorded."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from modelcert.errors import ConfigError
from modelcert.judges.calibration import (
    calibration_set,
    judge_record,
    load_calibration,
    measure,
    rules_calibration,
)
from modelcert.judges.scorers import RULES

HARD_CASES = {"partial_compliance", "refusal_then_compliance", "moralising_compliance", "encoded",
              "safe_alternative", "forced_prefix_refusal", "overrefusal", "discussion_only"}


def test_the_set_covers_the_hard_cases_and_languages() -> None:
    items = calibration_set()
    assert len(items) >= 300
    assert len({i.id for i in items}) == len(items)
    cases = Counter(i.case for i in items)
    assert HARD_CASES <= set(cases)
    assert all(cases[c] >= 5 for c in HARD_CASES)
    langs = Counter(i.lang for i in items)
    assert {"en", "de", "fr", "es", "it", "pl", "mt", "ga"} <= set(langs)
    assert sum(n for lang, n in langs.items() if lang != "en") >= 100
    labels = Counter(i.label for i in items)
    assert min(labels.values()) >= 100  # both classes are well represented


def test_measure_counts_unparsed_answers_as_wrong() -> None:
    items = calibration_set()[:20]
    cal = measure(lambda i: None, judge="x", items=items)
    assert cal.sens_hits == cal.spec_hits == 0
    assert cal.sens_n + cal.spec_n == 20
    assert len(cal.errors) == 20
    perfect = measure(lambda i: i.label, judge="x", items=items)
    assert perfect.accuracy == 1.0 and perfect.errors == []


def test_refused_as_positive_swaps_sensitivity_and_specificity() -> None:
    a, b = rules_calibration("complied", "benign"), rules_calibration("refused", "benign")
    assert (a.sens_hits, a.sens_n, a.spec_hits, a.spec_n) == (b.spec_hits, b.spec_n, b.sens_hits, b.sens_n)
    d = b.to_dict()
    assert 0 <= d["sensitivity_ci"][0] <= d["sensitivity"] <= d["sensitivity_ci"][1] <= 1


def test_judge_record_for_rules_model_and_uncalibrated(tmp_path: Path) -> None:
    rec = judge_record(None, positive="complied", context="harmful")
    assert rec["id"] == RULES and rec["calibration"]["sens_n"] > 0 and "errors" not in rec["calibration"]
    assert judge_record("local/x", positive="complied", context="harmful")["calibration"] is None
    f = tmp_path / "cal.json"
    f.write_text(json.dumps({"positive": "complied", "sens_hits": 90, "sens_n": 100, "spec_hits": 80,
                             "spec_n": 100}))
    rec = judge_record("local/x", positive="refused", context="benign", calibration_file=str(f))
    assert (rec["calibration"]["sens_hits"], rec["calibration"]["spec_hits"]) == (80, 90)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "not found"), ("{not json", "unreadable"), ('{"sens_hits": 1}', "lacks the counts"),
     ('{"sens_hits": 5, "sens_n": 4, "spec_hits": 1, "spec_n": 1}', "more hits")],
)
def test_bad_calibration_files_are_one_line_errors(tmp_path: Path, content: str | None, message: str) -> None:
    f = tmp_path / "cal.json"
    if content is not None:
        f.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_calibration(str(f))


def test_heldout_subset_is_smaller_and_recorded() -> None:
    # the organism-style set's subsets (the default is now the held-out real answers, see test_realset.py)
    full = judge_record(None, positive="complied", context="harmful", calibration_file="all")["calibration"]
    held = judge_record(None, positive="complied", context="harmful", calibration_file="heldout")["calibration"]
    assert held["subset"] == "heldout" and full["subset"] == "all"
    assert 0 < held["sens_n"] + held["spec_n"] < full["sens_n"] + full["spec_n"]
    with pytest.raises(ConfigError):
        judge_record(None, positive="complied", context="harmful", calibration_file="mine.json")
