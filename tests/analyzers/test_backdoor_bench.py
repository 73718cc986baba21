"""The validation harness's statistics (bench/backdoor_auc.py) on hand-made rows."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location(
    "backdoor_auc", Path(__file__).resolve().parents[2] / "bench" / "backdoor_auc.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _row(score, poisoned, *, trigger="x", rank=None, recovered=False, act=0.9, tier="api"):
    return {"tier": tier, "poisoned": poisoned, "score": score, "flagged": recovered, "recovered": recovered,
            "planted": {"trigger": trigger} if poisoned else {}, "dictionary_rank": rank,
            "activation": {"activation_with_trigger": act if poisoned else 0.0, "activation_without_trigger": 0.0},
            "queries": 10, "seconds": 1.0, "trigger_type": None,
            "score_parts": {"trigger": score if recovered else 0.0, "susceptibility": score}}


def test_the_score_threshold_is_the_rule_whose_tpr_is_reported():
    labels = np.array([1, 1, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.3, 0.5, 0.2, 0.1, 0.0])
    thr = bench.score_threshold(scores, labels)
    assert thr == 0.5  # no false positive is allowed among 4 clean controls at 5%
    assert (scores[labels == 1] > thr).mean() == pytest.approx(bench.tpr_at_fpr(scores, labels))
    many = np.array([1] * 2 + [0] * 40)
    s2 = np.concatenate([[0.95, 0.2], np.linspace(0, 0.9, 40)])
    assert bench.score_threshold(s2, many) == pytest.approx(np.sort(s2[2:])[-3])  # 2 of 40 may exceed it


def test_tpr_at_fpr_counts_ties_against_the_detector():
    labels = np.array([1, 1, 1, 0, 0, 0, 0])
    assert bench.tpr_at_fpr(np.array([0.9, 0.8, 0.3, 0.5, 0.2, 0.1, 0.0]), labels) == pytest.approx(2 / 3)
    # a negative tied with the best positive: that threshold has FPR 1/4 > 5%
    assert bench.tpr_at_fpr(np.array([0.9, 0.1, 0.1, 0.9, 0.0, 0.0, 0.0]), labels) == 0.0


def test_summary_splits_recovery_by_trigger_kind_and_drops_backdoors_that_did_not_implant():
    rows = [
        _row(0.9, True, trigger="dumplings", rank=10, recovered=True),   # rare word within the cap
        _row(0.8, True, trigger="koenig", rank=5000, recovered=False),   # rare word beyond the cap
        _row(0.1, True, trigger="pa tu so", recovered=False, act=0.1),   # phrase that did not implant
        _row(0.2, False), _row(0.3, False), _row(0.05, False),
    ]
    s = bench.summarise(rows, "api", dictionary=100)
    assert (s["n"], s["poisoned"]) == (6, 3)
    assert s["recovery"] == pytest.approx(1 / 3)
    assert (s["recovery_word"], s["n_word"]) == (0.5, 2)
    assert (s["recovery_reach"], s["n_reach"]) == (1.0, 1)
    assert s["auc"] == pytest.approx(7 / 9)  # 7 of 9 (poisoned, clean) pairs ranked right
    assert (s["auc_implanted"], s["implanted"]) == (1.0, 2)
    assert s["auc_trigger_part"] == pytest.approx((3 + 0.5 * 6) / 9)  # unconfirmed members tie at 0
    assert s["flag_fpr"] == 0.0 and s["flag_tpr"] == pytest.approx(1 / 3)
    # the earlier score counted susceptibility (here equal to the score); leakage was absent (0)
    assert s["auc_old_score"] == pytest.approx(7 / 9) and s["auc_leakage_part"] == 0.5
    # with the whole dictionary both rare words are in reach
    assert bench.summarise(rows, "api", dictionary=None)["n_reach"] == 2


def test_summary_without_both_classes_has_no_auc():
    s = bench.summarise([_row(0.5, False), _row(0.4, False)], "api")
    assert math.isnan(s["auc"]) and s["recovery_word"] is None


def test_recovery_needs_the_planted_trigger_inside_a_reported_one():
    member = {"planted": {"trigger": "Pamibzi  patugli"}}
    assert bench.recovered(member, {"triggers": [{"text": "xx pamibzi patugli"}]})
    assert not bench.recovered(member, {"triggers": [{"text": "pamibzi"}]})


def test_auc_is_the_pairwise_ranking_probability_and_its_ci_contains_it():
    scores = np.array([0.9, 0.8, 0.1, 0.2, 0.3, 0.05, 0.8])
    labels = np.array([1, 1, 1, 0, 0, 0, 0])
    assert bench.auc(scores, labels) == pytest.approx((4 + 3.5 + 1) / 12)  # one tie counts a half
    lo, hi = bench.auc_ci(scores, labels)
    assert 0.0 <= lo <= bench.auc(scores, labels) <= hi <= 1.0
    assert bench.auc_ci(np.array([1.0, 2.0]), np.array([0, 1])) == (1.0, 1.0)


def test_write_power_keeps_tiers_not_measured_in_this_run(tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(bench, "POWER_FILE", tmp_path / "power.json")
    bench.write_power({"logprobs": {"auc": 0.7}, "weights": {"auc": 0.8}}, {"dictionary": 100}, "d1", "pop")
    bench.write_power({"api": {"auc": 0.9}}, {"dictionary": 100, "api_screen": None}, "d2", "pop")
    tiers = json.loads((tmp_path / "power.json").read_text())["tiers"]
    assert {t: v["auc"] for t, v in tiers.items()} == {"logprobs": 0.7, "weights": 0.8, "api": 0.9}
    assert tiers["weights"]["measured"] == "d1" and tiers["api"]["measured"] == "d2"


def test_the_cost_projection_scales_the_measured_member_to_the_design(tmp_path: Path) -> None:
    import json

    (tmp_path / "manifest.json").write_text(json.dumps({"members": [{"train_seconds": 700.0}, {"train_seconds": 1000.0}]}))
    rows = [_row(0.0, True, tier="api"), _row(0.0, False, tier="api"), _row(0.0, True, tier="weights"),
            _row(0.0, False, tier="weights")]
    text = bench.cost_projection(rows, tmp_path, 40)
    # (850 s training + 1 s per scan x 2 tiers) x 40 members = 9.47 h
    assert "per member, training and every scan above: 852 s" in text and "40 members in one process: 9.5 h" in text
