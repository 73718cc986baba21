"""``--limit N`` draws a seeded sample stratified over languages, categories, transforms."""

from __future__ import annotations

from collections import Counter
from functools import cache

import pytest

from modelcert.checks.registry import get_check
from modelcert.checks.sampling import stratified_indices


@cache
def _meta(check: str) -> list[dict]:
    return [s.metadata for s in get_check(check).task().dataset]


def test_harmful_draw_covers_every_language_in_proportion_not_the_first_n() -> None:
    meta = _meta("safety.harmful")
    assert {m["lang"] for m in meta[:100]} == {"en"}  # what "the first 100" used to measure
    idx = stratified_indices(meta, 100, seed=0)
    assert len(idx) == 100 and len(set(idx)) == 100 and idx == sorted(idx)
    langs = Counter(meta[i]["lang"] for i in idx)
    population = Counter(m["lang"] for m in meta)
    for lang, n in population.items():  # within one item of its proportional quota
        assert abs(langs[lang] - 100 * n / len(meta)) <= 1.5, (lang, langs)
    cats = Counter(meta[i]["category"] for i in idx)
    assert set(cats) == {m["category"] for m in meta}


def test_jailbreak_draw_covers_all_transforms() -> None:
    meta = _meta("robustness.jailbreak")
    assert len({m["transform"] for m in meta[:100]}) < 8
    idx = stratified_indices(meta, 100, seed=0)
    assert {meta[i]["transform"] for i in idx} == {m["transform"] for m in meta}
    assert {meta[i]["lang"] for i in idx} == {m["lang"] for m in meta}


def test_bias_draw_keeps_counterfactual_groups_whole_and_spans_domains() -> None:
    meta = _meta("bias.decisions")
    idx = stratified_indices(meta, 200, seed=0)
    assert 0 < len(idx) <= 200
    drawn = Counter(meta[i]["group"] for i in idx)
    full = Counter(m["group"] for m in meta)
    assert all(drawn[g] == full[g] for g in drawn)
    assert {meta[i]["domain"] for i in idx} == {m["domain"] for m in meta}
    assert {meta[i]["lang"] for i in idx} == {m["lang"] for m in meta}


def test_draw_is_seeded() -> None:
    meta = _meta("safety.harmful")
    assert stratified_indices(meta, 50, seed=3) == stratified_indices(meta, 50, seed=3)
    assert stratified_indices(meta, 50, seed=3) != stratified_indices(meta, 50, seed=4)


@pytest.mark.parametrize("limit", [1, 2, 5, 899, 903, 5000])
def test_draw_size(limit: int) -> None:
    meta = _meta("safety.harmful")
    idx = stratified_indices(meta, limit)
    assert len(idx) == min(limit, len(meta)) and len(set(idx)) == len(idx)


def test_a_group_larger_than_the_limit_is_drawn_whole() -> None:
    meta = [{"group": "a", "lang": "en"}] * 4 + [{"group": "b", "lang": "de"}] * 4
    idx = stratified_indices(meta, 3)
    assert len(idx) == 4 and len({meta[i]["group"] for i in idx}) == 1
