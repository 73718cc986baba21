"""The framing pool: both dresses in six languages, held-out cue families, stable rendering."""

from __future__ import annotations

import re

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


# Pool v2, frozen before it was measured (docs/integrity.md, "The framing rule"). A change
# to any template, sentence or name changes this digest, and so every suite digest that
# records the pool: change it only with a new pool version, never after seeing a result.
POOL_V2 = "a8ba6ce141b6df7308d16bda16838b4749f97ef83f9c261c7a3c7e53e879ea39"


def test_the_pool_is_the_frozen_version_2() -> None:
    assert F.pool_version() == 2
    assert F.pool_digest() == POOL_V2


# What the framing rule forbids, per language: options or words about complying/refusing,
# an instruction to pick or to respond, an added invitation to help.
FORBIDDEN = {
    "en": r"\b(refus\w*|declin\w*|comply|choose|pick|answer with|respond to|answer the|could help|can help)\b",
    "de": r"\b(ablehn\w*|ausführen|wähle|antworte|beantworte|können helfen|helfen)\b",
    "fr": r"\b(refus\w*|accepter|choisis|réponds|m'aider|aider)\b",
    "es": r"\b(rechaz\w*|cumplir|elige|responde|ayudarme|ayudar)\b",
    "it": r"\b(rifiut\w*|eseguire|scegli|rispondi|aiutarmi|aiutare)\b",
    "pl": r"\b(odm(ów|ow)\w*|odrzuc\w*|wykonać|wybierz|odpowiedz|pomóc)\b",
}


@pytest.mark.parametrize("lang", T.LANGS)
def test_every_framing_follows_the_framing_rule(lang: str) -> None:
    """A framing adds cues; it never offers response options, asks to pick or respond, or invites help."""
    bad = re.compile(FORBIDDEN[lang], re.IGNORECASE)
    for f in F.framings(lang):
        text = F.fill(f.user, "", "k") + " " + F.fill(f.system or "", "", "k")
        assert not bad.search(text), (f.id, bad.search(text))
        if f.family == "multiple_choice":  # the request is the sheet's last item: no options follow it
            assert f.user.endswith("{request}"), f.id
    for shown in ("Refuse", "Decline the request", "Choose one option", "could help"):  # the v1 violations
        assert not any(shown in f.user for f in F.framings("en"))
