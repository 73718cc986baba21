"""The shared templates: sizes, languages, split disjointness, counterfactual groups."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest

from modelcert.checks import templates as t
from modelcert.errors import ConfigError


def test_harmful_test_split_is_large_and_multilingual():
    items = t.items("harmful", "test")
    assert len(items) >= 500
    langs = Counter(i.lang for i in items)
    assert set(langs) == set(t.LANGS)
    assert min(langs.values()) >= 50
    cats = {i.category for i in items}
    assert {"cbrn", "cyber", "manipulation", "loss_of_control", "fraud", "weapons", "self_harm",
            "privacy", "hate", "surveillance"} <= cats
    assert all(i.target == "refuse" for i in items)


@pytest.mark.parametrize("family", ["benign", "risky_benign"])
def test_helpful_families(family):
    items = t.items(family, "test")
    assert len(items) >= 300
    assert {i.lang for i in items} == set(t.LANGS)
    assert all(i.target == "comply" for i in items)


def test_every_item_is_fully_rendered_and_unique():
    for family in t.FAMILIES:
        for split in t.SPLITS:
            items = t.items(family, split)
            assert len({i.id for i in items}) == len(items)
            for i in items[::7]:
                assert "{" not in i.prompt and "}" not in i.prompt, i.prompt
                assert i.cluster and i.category and i.lang in t.LANGS


def test_request_splits_hold_out_combinations_but_share_vocabulary():
    for family in t.REQUEST_FAMILIES:
        train = t.items(family, "train")
        test = t.items(family, "test")
        assert not {i.id for i in train} & {i.id for i in test}
        assert not {i.prompt for i in train} & {i.prompt for i in test}
        # every task phrase and every template is seen in training, in every language
        seen = {(i.lang, i.meta["topic"]) for i in train}
        assert seen == {(lang, task.id) for lang in t.LANGS for task in t.tasks(family)}
        assert {(i.lang, i.meta["template"]) for i in train} == {(i.lang, i.meta["template"]) for i in test}


def test_fillers_are_disjoint_between_splits():
    assert not set(t.fillers("names", "train")) & set(t.fillers("names", "test"))
    assert not set(t.fillers("cities", "train")) & set(t.fillers("cities", "test"))
    train_words, test_words = set(t.fillers("names", "train")), set(t.fillers("names", "test"))
    for nat in ["irish", "german", "french", "spanish", "italian", "polish", "romanian", "bulgarian", "dutch"]:
        for part in ("male", "female", "surnames", "cities"):
            train_words |= set(t.people(nat, part, "train"))
            test_words |= set(t.people(nat, part, "test"))
    assert not train_words & test_words
    test_names = t.fillers("names", "test")
    for i in t.items("harmful", "train"):
        assert not any(re.search(rf"\b{n}\b", i.prompt) for n in test_names), i.prompt


def test_decision_numbers_are_disjoint_and_far_from_threshold():
    for split, parity in (("train", 0), ("test", 1)):
        for i in t.items("decision", split)[::13]:
            rule = t.domain_rule(i.category)
            n = i.meta["number"]
            assert n % 2 == parity
            assert str(n) in i.prompt
            passes = n >= rule["threshold"] if rule["direction"] == "at_least" else n < rule["threshold"]
            assert passes == i.meta["qualified"] == (i.target == "yes")
            assert abs(n - rule["threshold"]) >= 0.2 * rule["threshold"]


def test_decision_suite_covers_domains_grounds_languages():
    items = t.items("decision", "test")
    assert len(t.scenarios()) >= 40
    assert {i.category for i in items} == set(t.DOMAINS)
    assert {i.lang for i in items} == set(t.LANGS)
    grounds = {i.meta["attribute"] for i in items}
    assert grounds == {"sex", "age", "ethnic_origin", "religion", "disability", "sexual_orientation",
                       "nationality", "language"}
    nat_values = {i.meta["value"] for i in items if i.meta["attribute"] == "nationality"}
    assert {"romanian", "bulgarian", "polish", "german", "french", "dutch"} <= nat_values
    assert "roma" in {i.meta["value"] for i in items if i.meta["attribute"] == "ethnic_origin"}
    assert {"explicit", "implicit"} == {i.meta["signal"] for i in items}
    # many groups per attribute x domain x language cell, both qualified and not
    cells = defaultdict(set)
    for i in items:
        cells[(i.meta["attribute"], i.category, i.lang)].add(i.meta["group"])
    assert min(len(g) for g in cells.values()) >= 24


def test_counterfactual_groups_are_complete_and_only_vary_the_attribute():
    groups = defaultdict(list)
    for i in t.items("decision", "test"):
        groups[i.meta["group"]].append(i)
    specs = t.attributes()
    for group, members in groups.items():
        attribute = members[0].meta["attribute"]
        assert sorted(m.meta["value"] for m in members) == sorted(map(str, specs[attribute]["values"])), group
        assert len({m.meta["number"] for m in members}) == 1
        assert len({m.target for m in members}) == 1
        assert len({m.meta["scenario"] for m in members}) == 1
        assert len({m.prompt for m in members}) == len(members), group
        # outside the card, the prompts are identical
        heads = {m.prompt.split("\n")[0] for m in members}
        tails = {"\n".join(m.prompt.split("\n")[-3:]) for m in members}
        assert len(heads) == 1 and len(tails) == 1


def test_explicit_romanian_signal_is_written_natively():
    items = [i for i in t.items("decision", "test") if i.meta["value"] == "romanian"
             and i.meta["attribute"] == "nationality" and i.meta["signal"] == "explicit"]
    by_lang = {i.lang: i.prompt for i in items}
    assert "Nationality: Romanian" in by_lang["en"]
    assert "Staatsangehörigkeit: rumänisch" in by_lang["de"]
    assert "Obywatelstwo: rumuńskie" in by_lang["pl"]
    implicit = [i for i in t.items("decision", "test", langs=["de"]) if i.meta["value"] == "romanian"
                and i.meta["attribute"] == "nationality" and i.meta["signal"] == "implicit"]
    romanian_cities = t.people("romanian", "cities", "test")
    assert all(any(c in i.prompt for c in romanian_cities) for i in implicit)


def test_rendering_is_deterministic_and_digest_sensitive():
    before = t.suite_digest("harmful", "test")
    t._all_items.cache_clear()
    t.suite_digest.cache_clear()
    assert t.suite_digest("harmful", "test") == before
    assert t.suite_digest("harmful", "train") != before
    assert re.fullmatch(r"[0-9a-f]{64}", before)


def test_answer_phrases():
    assert t.yes_no_words("de") == ("Ja", "Nein")
    assert t.yes_no_words("pl") == ("Tak", "Nie")
    for lang in t.LANGS:
        yes, no = t.yes_no_words(lang)
        assert t.response("yes", lang).startswith(yes)
        assert t.response("no", lang).startswith(no)
        phrases = {t.response(k, lang) for k in ("refusal", "compliance", "help")}
        assert len(phrases) == 3


def test_bad_arguments_raise_config_errors():
    with pytest.raises(ConfigError):
        t.items("toxic", "test")
    with pytest.raises(ConfigError):
        t.items("harmful", "dev")
    with pytest.raises(ConfigError):
        t.items("harmful", "test", langs=["xx"])
    with pytest.raises(ConfigError):
        t.response("shrug", "en")


def test_feminine_surnames_agree():
    for i in t.items("decision", "test", langs=["pl"]):
        name = i.prompt.split("\n")[1]
        assert not any(name.startswith(f"Imię i nazwisko: {f} ") and name.endswith(("ski", "cki"))
                       for f in t.people("polish", "female", "test")), name
    assert t._gendered_surname("bulgarian", "female", "Kolev") == "Koleva"
    assert t._gendered_surname("polish", "male", "Zieliński") == "Zieliński"
