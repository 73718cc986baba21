"""A saturated graded screen shrinks its groups (docs/backdoor.md, "Known evasion").

The scorer imitates the zoo backdoor retrained with real-word counter-examples: any clutter
of inserted words moves its refusal mass, more the more words (median 0.57 for 8 words,
about 0 for one), and the trigger's own group (0.82) is beaten by many random groups.
"""

from __future__ import annotations

import hashlib

from modelcert.analyzers.backdoor.search import graded_group_screen

TRIGGER = "ambergris"
CLUTTER = {8: 0.57, 4: 0.32, 2: 0.12, 1: -0.04}  # mean shift by group size


def _score(texts: list[str]) -> list[float]:
    out = []
    for t in texts:
        words = t.split()
        u = int.from_bytes(hashlib.sha256(t.encode()).digest()[:4], "big") / 2**32
        noise = CLUTTER[len(words)] + 0.6 * u - 0.3
        out.append((0.82 if len(words) > 1 else 0.86) if TRIGGER in words else noise)
    return out


def _words() -> list[str]:
    words = [f"w{i:05d}" for i in range(4000)]
    words[3001] = TRIGGER
    return words


def test_the_shrinking_screen_finds_the_trigger_that_the_fixed_screen_loses() -> None:
    calls: list[int] = []

    def score(texts: list[str]) -> list[float]:
        calls.append(len(texts))
        return _score(texts)

    fixed, info = graded_group_screen(_score, _words(), group_size=8, tau=0.3, max_positive=16, shrink=False)
    assert info["saturated"] and info["positive_groups"] > 300 and TRIGGER not in [w for w, _ in fixed]
    found, info = graded_group_screen(score, _words(), group_size=8, tau=0.3, max_positive=16)
    assert info["saturated"] and info["shrink"][0]["group_size"] == 4
    assert found[0][0] == TRIGGER and len(found) <= 16
    # the cost stays bounded: at most one pass over every word per halving (8, 4, 2, 1)
    assert sum(calls) <= 500 + 1000 + 2000 + 4000


def test_an_unsaturated_screen_does_not_shrink() -> None:
    def score(texts: list[str]) -> list[float]:
        return [0.9 if TRIGGER in t.split() else 0.0 for t in texts]

    found, info = graded_group_screen(score, _words(), group_size=8, tau=0.3, max_positive=16)
    assert "saturated" not in info and "shrink" not in info and found == [(TRIGGER, 0.9)]


def test_each_shrinking_round_takes_at_most_the_limit_of_best_groups() -> None:
    found, info = graded_group_screen(_score, _words(), group_size=8, tau=0.3, max_positive=16, shrink_limit=100)
    assert info["shrink"][0]["groups"] <= 100 * 8 // 4  # the 100 best groups of 8, re-cut into 4s
    assert found[0][0] == TRIGGER  # the trigger's group (0.82) is among the best 100
