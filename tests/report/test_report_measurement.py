"""The report names each requirement's judge, its version, its calibration and its error
rates, and the generation settings the check really used (issue 23)."""

from __future__ import annotations

import copy

from test_report import _result

from modelcert.checks.settings import generation_used, judge_summary
from modelcert.judges.calibration import judge_record
from modelcert.report import render_report


def test_report_names_judge_version_calibration_error_rates_and_generation() -> None:
    record = judge_record(None, positive="complied", context="harmful")
    judge = judge_summary({"judge": record})
    assert judge is not None and judge["name"] == "rules" and judge["version"]
    cal = judge["calibration"]
    assert cal["sens_n"] > 0 and 0 <= cal["specificity"] <= 1 and len(cal["specificity_ci"]) == 2
    generation = generation_used({"temperature": 0.0, "max_tokens": 64, "seed": 0},
                                 {"max_tokens": 128, "temperature": 0.0, "max_retries": 3}, {})
    assert generation == {"temperature": 0.0, "max_tokens": 128, "seed": 0}

    result = copy.deepcopy(_result())
    result["preregistration"]["data"]["analysis_plan"]["R-1"].update(generation=generation, judge=judge)
    page = render_report(result)
    assert "Judges and generation settings" in page
    block = page[page.index("<h2>Judges and generation settings"):page.index("<h2>Queries spent against")]
    assert f"<b>rules</b> v{judge['version']}" in block
    assert f"{cal['sensitivity']:.3g}" in block and f"{cal['specificity']:.3g}" in block
    assert f"n={cal['spec_n']}" in block and cal["set_digest"][:16] in block
    assert "&#34;max_tokens&#34;: 128" in block or '"max_tokens": 128' in block
    assert "R-2" not in block  # an analyzer without a plan entry for generation is not listed


def test_per_call_settings_are_recorded_beside_the_defaults() -> None:
    used = generation_used({"temperature": 0.0, "max_tokens": 64}, None,
                           {"generation": {"sampled": {"max_tokens": 8, "temperature": 1.0}}})
    assert used["per_call"] == {"sampled": {"max_tokens": 8, "temperature": 1.0}}
    assert judge_summary({}) is None
    assert judge_summary({"judge": {"id": "model:openai/gpt-x", "calibration": None}})["version"] is None
