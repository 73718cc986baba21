"""The bias metric code on synthetic decisions with known injected effects.

Effects are injected in two cells and in opposite directions; every other cell is null and
must not be flagged, and with enough pairs must pass the equivalence test.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from scipy.stats import t as student_t

from modelcert.checks.bias_analysis import (
    AnalysisPlan,
    Decision,
    analyze,
    analyze_log,
    analyze_samples,
    decisions_from_samples,
)
from modelcert.errors import ConfigError

VALUES = {
    "nationality": ["romanian", "bulgarian", "german", "dutch"],
    "sex": ["female", "male"],
    "religion": ["christian", "muslim", "none"],
}
CELLS = [("credit", "en"), ("health", "de")]
# (attribute, domain, lang, value) -> injected effect on the log-odds scale
LOGODDS_EFFECTS = {("nationality", "credit", "en", "romanian"): -2.0, ("sex", "health", "de", "female"): +1.5}
RATE_EFFECTS = {("nationality", "credit", "en", "romanian"): -0.35, ("sex", "health", "de", "female"): +0.30}


def _groups(scenarios: int = 12):
    for domain, lang in CELLS:
        for attribute, values in VALUES.items():
            for s in range(scenarios):
                for qualified in (True, False):
                    group = f"{lang}/{domain}/s{s:02d}/{attribute}/explicit/{'q' if qualified else 'u'}"
                    yield domain, lang, attribute, values, f"{domain}/s{s:02d}", group, qualified


def logodds_decisions(seed: int = 1, noise: float = 0.3) -> list[Decision]:
    rng = np.random.default_rng(seed)
    out = []
    for domain, lang, attribute, values, scenario, group, qualified in _groups():
        base = (2.0 if qualified else -2.0) + rng.normal(0, 1.0)  # the group's own level
        for v in values:
            lo = base + LOGODDS_EFFECTS.get((attribute, domain, lang, v), 0.0) + rng.normal(0, noise)
            out.append(Decision(f"{group}/{v}", lang, domain, scenario, attribute, v, "explicit", group,
                                qualified, "loglikelihood", logodds=float(lo)))
    return out


def sampled_decisions(seed: int = 2, draws: int = 15) -> list[Decision]:
    rng = np.random.default_rng(seed)
    out = []
    for domain, lang, attribute, values, scenario, group, qualified in _groups():
        base = 0.6 if qualified else 0.35
        for v in values:
            p = min(max(base + RATE_EFFECTS.get((attribute, domain, lang, v), 0.0), 0.0), 1.0)
            yes = int(rng.binomial(draws, p))
            out.append(Decision(f"{group}/{v}", lang, domain, scenario, attribute, v, "explicit", group,
                                qualified, "sampled", yes=yes, draws=draws))
    return out


def _by_key(table):
    return {(r.attribute, r.domain, r.lang, r.level): r for r in table.rows}


@pytest.fixture(scope="module")
def logodds_table():
    return analyze(logodds_decisions(), AnalysisPlan(scale="logodds", tolerance=0.5))


def test_injected_logodds_effects_are_found_with_sign_and_covering_ci(logodds_table):
    rows = _by_key(logodds_table)
    flagged = {k for k, r in rows.items() if r.flagged}
    assert flagged == set(LOGODDS_EFFECTS)
    for key, true in LOGODDS_EFFECTS.items():
        r = rows[key]
        # the 95% CI brackets the truth up to sampling luck; 3.3 SE (99.9%) must always hold
        assert abs(r.estimate - true) < 3.3 * r.se, (key, r.estimate, r.se)
        assert r.df == (r.pairs - 1) * (len(VALUES[key[0]]) - 1)  # t reference: the balanced design's residual df
        assert r.upper - r.lower == pytest.approx(2 * student_t.ppf(0.975, r.df) * r.se, rel=0.01)
        assert math.copysign(1, r.estimate) == math.copysign(1, true)  # one negative, one positive
        assert r.reference == {"nationality": "german", "sex": "male"}[key[0]]
        assert not r.equivalent  # a real effect never passes the equivalence test
        assert r.paired["estimate"] == pytest.approx(r.estimate, abs=0.05)  # balanced pairs: same contrast
        assert r.pairs == 24
        assert "mixed LM" in r.method


def test_null_attributes_are_not_flagged_and_pass_equivalence(logodds_table):
    nulls = [r for k, r in _by_key(logodds_table).items() if k not in LOGODDS_EFFECTS]
    assert len(nulls) == len(logodds_table.rows) - 2 == 10
    assert not any(r.flagged for r in nulls)
    assert all(r.equivalent for r in nulls), [(r.label, r.tost_lower, r.tost_upper) for r in nulls if not r.equivalent]
    s = logodds_table.summary()
    assert s["attributes"] == {"nationality": "biased", "religion": "fair", "sex": "biased"}
    assert s["flagged"] == s["significant"] == 2 and s["equivalent"] == 10 and s["inconclusive"] == 0


def test_adjusted_p_values_are_benjamini_hochberg_across_all_cells(logodds_table):
    from statsmodels.stats.multitest import multipletests

    p = [r.pvalue for r in logodds_table.rows]
    expected = multipletests(p, method="fdr_bh")[1]
    assert np.allclose([r.adjusted_p for r in logodds_table.rows], expected)


def test_equivalence_fails_when_tolerance_is_below_the_noise():
    ds = [d for d in logodds_decisions(noise=1.0) if d.attribute == "religion"]
    table = analyze(ds, AnalysisPlan(scale="logodds", tolerance=0.05))
    nulls = [r for k, r in _by_key(table).items() if k not in LOGODDS_EFFECTS]
    assert not any(r.equivalent for r in nulls)  # not significant is not the same as fair
    assert table.summary()["attributes"]["religion"] == "inconclusive"


def test_sampled_decisions_rate_gaps_mcnemar_and_parity():
    table = analyze(sampled_decisions(), AnalysisPlan(tolerance=0.12))
    assert table.mode == "sampled"
    rows = _by_key(table)
    assert {k for k, r in rows.items() if r.flagged} == set(RATE_EFFECTS)
    for key, true in RATE_EFFECTS.items():
        r = rows[key]
        assert abs(r.estimate - true) < 3.3 * r.se
        assert r.mcnemar["pvalue"] < 0.05  # the binary (majority) decisions flip too
        assert np.sign(r.rates["gap"]) == np.sign(true)
        assert (r.mcnemar["only_level"] > r.mcnemar["only_reference"]) == (true > 0)
    cells = {(c.attribute, c.domain, c.lang): c for c in table.cells}
    assert cells[("nationality", "credit", "en")].dpd >= 0.3
    assert cells[("religion", "credit", "en")].dpd < cells[("nationality", "credit", "en")].dpd
    with pytest.raises(ConfigError, match="log-odds"):
        analyze(sampled_decisions(), AnalysisPlan(scale="logodds"))


def test_identical_outcomes_are_no_effect_not_a_numerical_artefact():
    """A deterministic model that ignores the attribute must give p = 1, not p ~ 0 from float noise."""
    ds = [d for d in logodds_decisions() if d.attribute == "religion"]
    for d in ds:
        d.logodds = 3.0 if d.qualified else -3.0
    table = analyze(ds, AnalysisPlan(scale="logodds", tolerance=0.1))
    assert all(r.estimate == 0 and r.pvalue == 1 and not r.flagged and r.equivalent for r in table.rows)
    assert all(r.method == "identical outcomes in every pair" for r in table.rows)


def test_a_tiny_consistent_effect_is_significant_but_inside_the_tolerance_so_not_flagged():
    """Deterministic scoring makes a 0.2-point difference detectable; the declared tolerance calls it fair."""
    rng = np.random.default_rng(5)
    ds = []
    for domain, lang, attribute, values, scenario, group, qualified in _groups():
        if attribute != "sex" or domain != "credit":
            continue
        base = (2.0 if qualified else -2.0) + rng.normal(0, 1.0)
        for v in values:
            lo = base + (0.02 if v == "female" else 0.0) + rng.normal(0, 0.002)
            ds.append(Decision(f"{group}/{v}", lang, domain, scenario, attribute, v, "explicit", group,
                               qualified, "loglikelihood", logodds=float(lo)))
    table = analyze(ds, AnalysisPlan(scale="logodds", tolerance=0.5))
    (r,) = table.rows
    assert r.significant and r.lower > 0 and r.equivalent and not r.flagged
    assert table.summary()["attributes"] == {"sex": "fair"}
    assert table.summary()["significant_within_tolerance"] == 1
    assert "significant, inside tolerance" in table.to_markdown()


def _record(d: Decision, *, error: bool = False, logodds: float | None = None) -> dict:
    """The shape of an evidence-store sample record (see evidence/ingest.py)."""
    meta = {"lang": d.lang, "domain": d.domain, "scenario": d.scenario, "attribute": d.attribute,
            "value": d.value, "signal": d.signal, "group": d.group, "qualified": d.qualified}
    lo = d.logodds if logodds is None else logodds
    score = {"value": 1 if lo > 0 else 0, "metadata": {"mode": "loglikelihood", "logodds": lo}}
    return {"sample_id": d.sample_id, "epoch": 1, "metadata": meta,
            "scores": {} if error else {"bias_decision": score},
            "error": {"message": "timeout"} if error else None}


def test_evidence_records_errors_and_undecided_are_counted_not_dropped():
    ds = [d for d in logodds_decisions() if d.attribute == "sex"]
    records = [_record(d) for d in ds]
    records[0] = _record(ds[0], error=True)
    records[1]["scores"]["bias_decision"]["metadata"]["logodds"] = "NaN"  # as the evidence store writes it
    table = analyze_samples(records, AnalysisPlan(scale="logodds", tolerance=0.5))
    s = table.summary()
    assert s["errors"] == 1 and s["undecided"] == 1 and s["items"] == len(ds)
    pooled = decisions_from_samples([*records, {**_record(ds[2], logodds=ds[2].logodds + 1), "epoch": 2}])
    two_epochs = next(d for d in pooled if d.sample_id == ds[2].sample_id)
    assert two_epochs.logodds == pytest.approx(ds[2].logodds + 0.5)  # epochs are pooled per item


def test_outputs_json_markdown_and_forest_svg(tmp_path, logodds_table):
    files = logodds_table.write(tmp_path / "out")
    data = json.loads(files["json"].read_text())
    assert data["summary"]["flagged"] == 2 and len(data["effects"]) == 12
    assert data["plan"]["reference"]["nationality"] == "german"
    md = files["markdown"].read_text()
    assert "| nationality | credit | en | romanian vs german | 24 |" in md and "**yes**" in md
    svg = ET.fromstring(files["forest"].read_text())
    ns = "{http://www.w3.org/2000/svg}"
    circles = svg.findall(f"{ns}circle")
    assert len(circles) == 12
    assert sum(c.get("fill") == "#c0392b" for c in circles) == 2  # the two flagged effects in red
    assert files["forest"].read_text() == (tmp_path / "out" / "forest.svg").read_text()
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_bad_input_is_a_one_line_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"not a bias\.decisions item"):
        decisions_from_samples([{"sample_id": "x", "metadata": {"topic": "t"}, "scores": {}}])
    with pytest.raises(ConfigError, match=r"no bias\.decisions samples"):
        analyze([])
    with pytest.raises(ConfigError, match="not found"):
        analyze_log(tmp_path / "missing.json")
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read"):
        analyze_log(bad)
    with pytest.raises(ConfigError, match="tolerance"):
        AnalysisPlan(tolerance=0)
    with pytest.raises(ConfigError, match="reference"):
        AnalysisPlan(reference={}).reference_of("eye_colour")
    mixed = [_record(d) for d in logodds_decisions()[:8]]
    mixed[0]["scores"]["bias_decision"]["metadata"] = {"mode": "sampled", "yes": 1, "no": 0}
    with pytest.raises(ConfigError, match="mix scoring modes"):
        decisions_from_samples(mixed)


def test_follows_rule_is_reported_with_an_exact_ci_and_counts_undecided():
    """A model whose decisions ignore the decisive fact shows follows_rule near 0.5 (issue 23)."""
    from modelcert.checks.bias_analysis import follows_rule
    from modelcert.stats.bounds import clopper_pearson

    good = follows_rule(logodds_decisions())
    assert good.n == good.items and good.undecided == 0
    assert good.estimate > 0.9 and good.ci[0] <= good.estimate <= good.ci[1]
    # decisions that ignore qualification: approve every other item
    ignoring = [Decision(f"x{i}", "en", "credit", f"s{i // 4}", "sex", "male", "explicit", f"g{i // 4}",
                         i % 2 == 0, "loglikelihood", logodds=1.0 if (i // 2) % 2 == 0 else -1.0) for i in range(40)]
    ignoring.append(Decision("undecided", "en", "credit", "s99", "sex", "male", "explicit", "g99", True,
                             "top_logprobs", logodds=None))
    fr = follows_rule(ignoring)
    assert (fr.hits, fr.n, fr.items, fr.undecided) == (20, 40, 41, 1)
    assert fr.estimate == 0.5 and fr.ci == clopper_pearson(20, 40)
    assert fr.strict == pytest.approx(20 / 41)
    table = analyze(logodds_decisions())
    assert table.summary()["follows_rule"]["n"] == len(logodds_decisions())
    assert "Follows the stated rule" in table.to_markdown()
    assert json.loads(table.to_json())["summary"]["follows_rule"]["ci"][0] > 0.9
