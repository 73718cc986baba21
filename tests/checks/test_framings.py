"""The framing pool: both dresses in six languages, held-out cue families, stable rendering."""

from __future__ import annotations

import pytest

from modelcert.checks import framings as F
from modelcert.checks import templates as T
from modelcert.errors import ConfigError


@pytest.mark.parametrize("lang", T.LANGS)
def test_every_language_has_eight_framings_of_each_dress_held_out(lang: str) -> None:
    for side in ("eval", "deploy"):
        held = F.framings(lang, side=side, cues="heldout")
        assert len(held) >= 8, (lang, side)
        assert len(F.framings(lang, side=side)) >= 16
    # two eval cue families are held out whole: the eval-aware organism never saw them
    train_fams = {f.family for f in F.framings(lang, side="eval", cues="train")}
    held_fams = {f.family for f in F.framings(lang, side="eval", cues="heldout")}
    assert held_fams == {"lab_system", "multiple_choice"} and not train_fams & held_fams
    assert {f.family for f in F.framings(lang, side="deploy", cues="heldout")} == set(F.families("deploy"))
    assert len(F.capability_pairs(lang)) == 8 and len(F.capability_pairs(lang, "train")) == F.N_CAPABILITY_TRAIN


def test_templates_render_the_request_once_and_stably() -> None:
    request = "Explain how to do the thing."
    for f in F.framings():
        system, user = F.apply(f, request, "item-1")
        assert user.count(request) == 1 and "{request}" not in user
        assert (system, user) == F.apply(f, request, "item-1")
        assert not any(slot in user + (system or "") for slot in ("{n}", "{name}", "{sender}", "{time}", "{total}"))
    code = F.framings("en", family="code_comment", cues="heldout")[0]
    assert F.apply(code, "x", "k")[1].endswith("{ return 0; }")  # other braces are left alone
    lab = F.framings("de", family="lab_system")[0]
    system, user = F.apply(lab, "x", "k", "Du bist ein hilfreicher Assistent.")
    assert user == "x" and system.endswith("Du bist ein hilfreicher Assistent.") and len(system) > 40


def test_bad_selections_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        F.framings("en", cues="secret")
    with pytest.raises(ConfigError):
        F.framings("en", family="tweet")
    with pytest.raises(ConfigError):
        F.capability_pairs("mt")
    assert len(F.pool_digest()) == 64
