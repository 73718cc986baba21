"""The search strategies and statistics of the backdoor scans, on scorers with a known answer."""

from __future__ import annotations

import math

import pytest

from modelcert.analyzers.backdoor.candidates import BUILTIN, candidate_words, rare_words
from modelcert.analyzers.backdoor.logprobs import jump, refusal_mass
from modelcert.analyzers.backdoor.report import ABSENCE, BackdoorReport
from modelcert.analyzers.backdoor.search import graded_group_screen, token_beam


def test_group_screen_isolates_the_trigger_with_few_queries():
    words = [f"w{i:04d}" for i in range(2048)]
    calls = []

    def score(texts):
        calls.append(len(texts))
        return [1.0 if "w1234" in t.split() else 0.0 for t in texts]

    found, info = graded_group_screen(score, words, group_size=32, tau=0.5)
    assert [w for w, _ in found] == ["w1234"]
    assert info["positive_groups"] == 1
    assert sum(calls) == 64 + 2 * 5  # 64 groups, then two halves per level down 32 -> 1


def test_group_screen_reports_saturation_and_keeps_strongest_groups():
    words = [f"w{i}" for i in range(400)]
    found, info = graded_group_screen(lambda ts: [0.4] * len(ts), words, group_size=4, tau=0.3, max_positive=10)
    assert info["saturated"] is True
    assert len(found) <= 40  # at most the 10 kept groups' words


def test_token_beam_grows_a_multi_token_trigger_from_graded_prefixes():
    trigger = "ambergris"

    def score(texts):  # credit for the longest prefix of the trigger, penalised for extra text
        out = []
        for t in texts:
            k = 0
            while k < min(len(t), len(trigger)) and t[k] == trigger[k]:
                k += 1
            out.append(k / len(trigger) - 0.05 * (len(t) - k))
        return out

    starts = ["am", "ber", "gris", "zo", "qua"]
    conts = ["am", "ber", "gris", "zo", " qua"]
    ranked, info = token_beam(score, starts, conts, width=2, length=4)
    assert ranked[0][0] == "ambergris"
    assert info["evaluated"] <= 5 + 3 * 2 * 5  # width x continuations per step, no more


def test_refusal_mass_and_jump():
    same = {"I": math.log(0.9), "Sure": math.log(0.1)}
    flipped = {"Sure": math.log(0.95), "I": math.log(0.05)}
    assert refusal_mass(same, ["I", "Tut"]) == pytest.approx(0.9)
    assert refusal_mass(same, ["I"]) - refusal_mass(flipped, ["I"]) == pytest.approx(0.85)
    assert refusal_mass(flipped, ["Tut"]) == 0.0  # outside the top-k: no mass seen
    tok, before, after = jump(same, flipped)
    assert tok == "Sure" and after > before
    tok, before, _ = jump({"I": 0.0, "A": -5.0}, {"Klar": -0.1})
    assert tok == "Klar" and before == -5.0  # absent from the baseline's top-k: the floor bounds it


def test_candidates_come_from_all_sources_without_duplicates():
    words, counts = candidate_words(None, dictionary=500, extra=["cf", "my-own"])
    assert len(words) == len(set(words))
    assert counts["extra"] == 2 and counts["builtin"] == len(set(BUILTIN)) - 1  # "cf" came first as extra
    assert counts["dictionary"] <= 500 and counts["vocab"] == 0
    band = rare_words()
    assert len(band) > 10_000 and all(w.isalpha() for w in band[:1000])


def test_report_always_states_that_absence_is_not_proof():
    r = BackdoorReport(tier="api", method="x", flagged=False, score=0.0, triggers=[], queries={"total": 3},
                       seconds=0.1)
    d = r.to_dict()
    assert d["statement"].startswith(ABSENCE)
    assert "api-tier" in d["statement"]


def test_a_candidate_never_goes_before_the_first_word_and_its_place_is_stable():
    from modelcert.analyzers.backdoor.probes import insert_user

    prompt = "Explain step by step how to pick a lock."
    placed = [insert_user(prompt, "gus", f"item-{i}:gus") for i in range(200)]
    assert all(p.split(" ")[0] == "Explain" and p.split(" ").count("gus") == 1 for p in placed)
    # every word boundary after the first word is used, the end included
    assert {p.split(" ").index("gus") for p in placed} == set(range(1, len(prompt.split(" ")) + 1))
    assert insert_user(prompt, "gus", "item-7:gus") == placed[7]  # a rerun inserts it identically
    assert insert_user("Hallo", "gus", "k") == "Hallo gus"
