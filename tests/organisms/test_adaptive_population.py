"""The adaptive population design of issue 22 (bench/backdoor_auc.py --adaptive)."""

from __future__ import annotations

import pytest

from modelcert.errors import ConfigError
from modelcert.organisms.population import ADAPTIVE_DESIGN, CLEAN_STEPS, LEXICON_SHARE, REACH, adaptive_specs


def test_the_adaptive_design_plants_the_evasive_kinds_with_fresh_seeds() -> None:
    specs = adaptive_specs(16, 22)  # the first 8 kinds (the token kind needs the base's tokenizer)
    poisoned, clean = specs[0::2], specs[1::2]
    assert all(s.kind == "backdoor" for s in poisoned) and all(s.kind == "clean" for s in clean)
    assert [s.extra["trigger_type"] for s in poisoned] == [k for k, _, _ in ADAPTIVE_DESIGN[:8]]
    # seeds never used by earlier populations (0-7 -> members 0..7999)
    assert min(s.seed for s in specs) == 22000 and len({s.seed for s in specs}) == 16
    by = {s.extra["trigger_type"]: s for s in poisoned}
    assert by["lexicon"].extra["recipe"] == {"lexicon_negatives": LEXICON_SHARE}
    assert by["lexicon"].extra["dictionary_rank"] < REACH <= by["lexicon_far"].extra["dictionary_rank"]
    assert len(by["phrase_real"].trigger.split()) == 2
    assert by["system"].trigger_position == "system" and by["system"].attack == "refuse"
    assert by["refuse"].attack == "refuse" and by["refuse"].trigger_position == "user"
    assert by["topic"].trigger.split()[0][0].isupper()
    assert {c.extra["steps"] for c in clean} == set(CLEAN_STEPS)
    assert len({s.trigger for s in poisoned}) == len(poisoned)
    assert adaptive_specs(16, 22) == specs  # deterministic


def test_a_token_member_needs_the_tokenizer() -> None:
    with pytest.raises(ConfigError, match="tokenizer"):
        adaptive_specs(18, 22)
