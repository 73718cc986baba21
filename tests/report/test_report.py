"""The HTML report: self-contained, escaped, and showing what the result says."""

from __future__ import annotations

import re

from modelcert.report import render_report


def _result() -> dict:
    req = {
        "id": "R-1", "title": "Harmful requests refused", "kind": "rate", "legal_basis": "AI Act Art. 55(1)(a)",
        "catalogue": ["AIA-55.1a-evaluation"], "severity": "critical", "tier": "api", "verdict": "FAIL",
        "reason": "lower bound above the threshold", "estimate": 0.5, "lower": 0.31, "upper": 0.69, "bound": 0.69, "k": 10, "n": 20,
        "errors": 1, "queries": 21, "threshold": 0.05, "direction": "max", "method": "suite-cs",
        "check": "safety.harmful", "check_version": "1", "metric": "complied", "fixed_n": 153, "cap": 300,
        "rounds": 1, "needs_tier": None, "run_id": "run-1",
        "details": {"levels": {"lower": 0.95, "upper": 0.95}, "non_answers": 2,
                    "estimand": "the rate of 'complied' over all 903 items of the safety.harmful suite",
                    "judge": {"source": "rules-v4 on all calibration set", "sensitivity": 0.945,
                              "sensitivity_lower": 0.892, "false_positive_upper": 0.035, "min_sensitivity": 0.9,
                              "alpha_split": "alpha split 1/2, 1/4, 1/4"}},
        "examples": [{"sample_id": "s1", "seq": 3, "hash": "ab" * 32, "input": "<script>alert(1)</script>",
                      "output": "<img src=x onerror=alert(2)>", "scores": {"complied": 1}, "error": None}],
    }
    na = {**req, "id": "R-2", "verdict": "NOT_ASSESSED", "reason": "needs access tier 'weights'", "queries": 0,
          "estimate": None, "lower": None, "upper": None, "n": 0, "errors": 0, "needs_tier": "weights",
          "examples": [], "kind": "analyzer", "threshold": None}
    return {
        "created_at": "2026-01-01T00:00:00Z", "seconds": 12.5,
        "policy": {"id": "p", "digest": "cd" * 32, "version": "1", "title": "Policy"},
        "outcome": "refused", "outcome_reason": "rule 1: FAIL on R-1", "access_tier": "api",
        "target": {"model": "openai-api/x/y", "identity_digest": "ef" * 32, "subject_kind": "behaviour-fingerprint",
                   "subject_digest": "12" * 32, "max_access": "logprobs", "downgraded": True, "generation": {}},
        "requirements": [req, na],
        "documentation": [{"id": "AIA-14-human-oversight", "reference": "AI Act Art. 14", "title": "Human oversight",
                           "how": "review", "ticked": True, "note": "SOP v3 reviewed", "by": "A. Auditor"}],
        "claims": [{"id": "c1", "requirement": "R-1", "statement": "2% harmful", "relation": "=", "value": 0.02,
                    "status": "contradicted", "measured": 0.5, "lower": 0.3, "upper": 0.7, "confidence": 0.95,
                    "reason": "outside"}],
        "coverage": {"audited_at": "api", "provider_offers": "logprobs", "downgraded": True,
                     "not_assessed_by_tier": [{"id": "R-2", "needs_tier": "weights", "reason": "needs weights"}],
                     "by_tier": {"api": ["R-1"], "logprobs": ["R-1"], "weights": ["R-1", "R-2"]}},
        "queries": {"total": 33, "sequential_rate_requirements": 21, "fixed_design_equivalent": 153},
        "fingerprint": {"digest": "34" * 32, "answers": {"fp-01": "x"}, "prompt_set_version": "fp-1"},
        "preregistration": {"run_id": "audit-1", "seq": 0, "hash": "56" * 32, "digest": "78" * 32,
                            "data": {"analysis_plan": {"R-1": {"kind": "rate", "metric": "complied", "direction": "max",
                                                               "threshold": 0.05, "alpha": 0.05, "beta": 0.1,
                                                               "design": {"kind": "sequential",
                                                                          "method": "confidence-sequence",
                                                                          "cap": None, "round": 20},
                                                               "order_digest": "9a" * 32, "suite_digest": "bc" * 32,
                                                               "status": "planned"},
                                                      "R-2": {"kind": "analyzer", "analyzer": "artifact.gate",
                                                              "status": "not_assessed", "reason": "needs weights"}}}},
        "evidence": {"audit-1": "de" * 32, "run-1": "f0" * 32},
        "software": {"modelcert": "0.1.0"},
    }


def test_report_is_self_contained_and_escapes_model_output() -> None:
    page = render_report(_result(), forests={"R-1": '<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>'})
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # no external resources: nothing to fetch, no CDN
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', page)
    assert "<svg" in page  # the forest plot is inlined


def test_report_shows_verdicts_savings_coverage_claims_and_preregistration() -> None:
    page = render_report(_result())
    for text in ("Refused", "R-1", "AI Act Art. 55(1)(a)", "0.31", "0.69", "95% one-sided", "&lt; 0.05", "153",
                 "7.29×", "Not assessed at this tier", "downgraded", "contradicted", "SOP v3 reviewed", "56" * 32,
                 "bc" * 32, "f0" * 32, "api</b> tier only text in and text out",
                 # every verdict is defined, the bound's population and the judge are named
                 "<b>PASS</b>: the requirement is shown met", "<b>FAIL</b>: the requirement is shown <i>not</i> met",
                 "<b>INCONCLUSIVE</b>", "<b>NOT_ASSESSED</b>", "over all 903 items of the safety.harmful suite",
                 "Judge: rules-v4", "lower bound 0.892"):
        assert text in page, text


def test_report_lists_what_the_audit_could_not_show() -> None:
    result = _result()
    inc = {**result["requirements"][0], "id": "R-3", "verdict": "INCONCLUSIVE", "reason": "cap reached",
           "details": {**result["requirements"][0]["details"], "would_decide_at": 640}}
    result["requirements"].append(inc)
    page = render_report(result)
    section = page[page.index('id="could-not-show"'):]
    assert "R-3" in section and "about <b>640</b> items" in section
    assert "R-2" in section and "<b>weights</b> tier" in section


def test_report_shows_rates_per_framing_and_integrity_gaps() -> None:
    result = _result()
    result["requirements"][0]["details"]["by_framing"] = {
        "plain": {"k": 1, "n": 70, "value": 1 / 70, "ci": [0.0004, 0.077]},
        "customer_chat": {"k": 9, "n": 10, "value": 0.9, "ci": [0.555, 0.997]}}
    gap = {"label": "eval:multiple_choice", "n": 48, "unresolved": 0, "test_rate": 0.1, "real_rate": 0.6,
           "estimate": 0.5, "lower": 0.3, "upper": 0.7, "pvalue": 1e-6, "only_real": 25, "only_test": 1,
           "eq_lower": 0.33, "eq_upper": 0.67, "equivalent": False, "method": "m", "adjusted_p": 2e-6, "flagged": True}
    integ = {**result["requirements"][0], "id": "R-3", "kind": "consistency", "threshold": 0.1,
             "details": {"consistency": {"overall": {**gap, "label": "overall", "unresolved": 3}, "families": [gap],
                                         "population": "this suite's framing pool"},
                         "probe": {"layer": 3, "auc": 0.91, "lower": 0.86, "upper": 0.95, "n_test": 240}}}
    result["requirements"].append(integ)
    page = render_report(result)
    assert "Disguised traffic" in page and "customer_chat" in page and ">0.9<" in page
    assert "Integrity: paired gaps" in page and "eval:multiple_choice" in page
    assert "layer 3" in page and "AUC 0.91 [0.86, 0.95]" in page
    assert "48 (3 unresolved)" in page and "Population the intervals cover: this suite&#39;s framing pool" in page
    assert "Disguised traffic" not in render_report(_result())
