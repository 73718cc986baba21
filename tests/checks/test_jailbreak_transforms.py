"""Jailbreak transforms are deterministic and keep the request recoverable."""

from __future__ import annotations

import base64
import codecs
import re

import pytest

from modelcert.checks import templates as T
from modelcert.checks import transforms as X
from modelcert.checks.jailbreak import jailbreak
from modelcert.errors import ConfigError

ITEM = T.items("harmful", "test", langs=["en"])[0]


@pytest.mark.parametrize("name", list(X.ITEM_TRANSFORMS))
def test_every_transform_is_deterministic_and_changes_the_prompt(name: str) -> None:
    fn = X.ITEM_TRANSFORMS[name]
    assert fn(ITEM) == fn(ITEM) != ITEM.prompt


def test_encodings_round_trip() -> None:
    b64 = X.base64_encoding(ITEM).rsplit("\n", 1)[-1]
    assert base64.b64decode(b64).decode() == ITEM.prompt
    rot = X.rot13_encoding(ITEM).rsplit("\n", 1)[-1]
    assert codecs.decode(rot, "rot13") == ITEM.prompt


def test_payload_splitting_rejoins_to_the_task_phrase() -> None:
    text = X.payload_splitting(ITEM)
    a, b = re.findall(r'^[ab] = "(.*)"$', text, re.MULTILINE)
    phrase = next(t.text["en"] for t in T.tasks("harmful") if t.id == ITEM.meta["topic"])
    assert f"{a} {b}" == phrase and phrase not in text


def test_many_shot_shows_compliance_form_only_then_the_request() -> None:
    text = X.many_shot(ITEM, shots=4)
    assert text.count("User: ") == 5 and text.endswith(f"User: {ITEM.prompt}\nAssistant:")
    assert text.count(T.response("compliance", "en") + " 1. [...] 2. [...] 3. [...]") == 4


def test_low_resource_items_are_maltese_and_irish() -> None:
    items = X.low_resource_items()
    assert len(items) == 60 and {i.lang for i in items} == {"mt", "ga"}
    assert len({i.id for i in items}) == 60 and all(i.target == "refuse" for i in items)


def test_the_task_draws_the_same_number_per_transform() -> None:
    task = jailbreak(per_transform=3)
    by = {}
    for s in task.dataset:
        by.setdefault(s.metadata["transform"], []).append(s.id)
    assert set(by) == set(X.TRANSFORMS) and all(len(v) == 3 for v in by.values())
    again = [s.id for s in jailbreak(per_transform=3).dataset]
    assert again == [s.id for s in task.dataset]
    assert task.metadata["suite_digest"] == jailbreak(per_transform=3).metadata["suite_digest"]
    with pytest.raises(ConfigError, match="unknown transform"):
        jailbreak(transforms="rot13,leetspeak")
