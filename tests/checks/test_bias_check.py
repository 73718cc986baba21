"""The bias.decisions task: its suite, answer parsing, tier gating, and a real Inspect run.

Behaviour (bias found / not found) is tested on the zoo organisms in test_bias_e2e.py;
here a random checkpoint exercises the plumbing at each tier.
"""

from __future__ import annotations

import glob
import math
from collections import Counter

import pytest

from modelcert.checks import templates as T
from modelcert.checks.bias import logodds_from_top, parse_answer, select_items
from modelcert.checks.bias_analysis import analyze_log
from modelcert.checks.registry import get_check
from modelcert.errors import ConfigError

GROUNDS = {"sex", "age", "ethnic_origin", "religion", "disability", "sexual_orientation", "nationality", "language"}


def test_suite_covers_the_issue_requirements():
    items = select_items()
    scenarios = {i.meta["scenario"] for i in items}
    assert len(scenarios) >= 40
    assert {s.split("/")[0] for s in scenarios} == {"credit", "health", "public_services", "employment"}
    assert {i.meta["attribute"] for i in items} == GROUNDS
    assert {i.lang for i in items} >= {"en", "de", "fr", "es", "it", "pl"}
    assert {i.meta["signal"] for i in items} == {"explicit", "implicit"}
    values = {(i.meta["attribute"], i.meta["value"]) for i in items}
    assert ("ethnic_origin", "roma") in values
    assert {("nationality", v) for v in ("romanian", "bulgarian", "polish", "german")} <= values  # intra-EU
    # counterfactual groups are whole: every value of the attribute, identical facts
    groups: dict[str, list] = {}
    for i in items:
        groups.setdefault(i.meta["group"], []).append(i)
    spec = T.attributes()
    for g in list(groups.values())[::997]:
        assert sorted(i.meta["value"] for i in g) == sorted(map(str, spec[g[0].meta["attribute"]]["values"]))
        assert len({i.meta["number"] for i in g}) == 1 and len({i.target for i in g}) == 1


def test_every_ground_has_an_implicit_cue_in_every_language():
    """Issue 6 asks for implicit signals (names, places, language cues) for every ground."""
    items = [i for i in T.items("decision", "test") if i.meta["signal"] == "implicit"]
    assert {(i.meta["attribute"], i.lang) for i in items} == {(a, x) for a in GROUNDS for x in T.LANGS}
    labels = T._data("decision")["labels"]
    groups: dict[str, list] = {}
    for i in items:
        groups.setdefault(i.meta["group"], []).append(i)
    for members in groups.values():
        a, lang = members[0].meta["attribute"], members[0].lang
        # the cue differs between the values, and the attribute is never named on the card
        assert len({m.prompt for m in members}) == len(members), (a, lang)
        assert all(f"\n{labels[lang][a]}:" not in m.prompt for m in members), (a, lang)
    by = {(i.lang, i.meta["attribute"], i.meta["value"]): i.prompt for i in items}
    assert "Roma community association" in by[("en", "ethnic_origin", "roma")]
    assert "po rumuńsku" in by[("pl", "language", "romanian")]
    assert "Abitur" in by[("de", "age", "47")]
    with pytest.raises(ConfigError, match="no implicit cue"):
        T.render_card("en", T.random_applicant("en", __import__("random").Random(0)), "test",
                      attribute="age", value="zorblat", signal="implicit")


def test_decision_prompts_fit_the_organisms_context():
    """The organisms read 256 tokens; the longest rendered prompt must leave room for the chat frame."""
    from transformers import AutoTokenizer

    from modelcert.organisms import zoo_path

    tok = AutoTokenizer.from_pretrained(zoo_path("clean"))
    prompts = [i.prompt for i in T.items("decision", "test")]
    longest = max(len(ids) for ids in tok(prompts)["input_ids"])
    assert 100 < longest < 200


def test_subsample_keeps_groups_whole_and_is_seeded():
    a = select_items(langs=["en"], domains=["credit"], groups_per_stratum=2, seed=1)
    b = select_items(langs=["en"], domains=["credit"], groups_per_stratum=2, seed=1)
    c = select_items(langs=["en"], domains=["credit"], groups_per_stratum=2, seed=2)
    assert [i.id for i in a] == [i.id for i in b] != [i.id for i in c]
    per_group = Counter(i.meta["group"] for i in a)
    spec = T.attributes()
    for i in a:
        assert per_group[i.meta["group"]] == len(spec[i.meta["attribute"]]["values"])
    strata = Counter((i.meta["attribute"], i.meta["signal"], i.meta["qualified"]) for i in a)
    assert len({i.meta["group"] for i in a}) == 2 * len(strata)
    with pytest.raises(ConfigError, match="unknown attribute"):
        select_items(attributes=["eye_colour"])
    with pytest.raises(ConfigError, match="at least 1"):
        select_items(groups_per_stratum=0)


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [("Yes.", "en", 1), ("no, because", "en", 0), ("Nein.", "de", 0), ("Si", "es", 1), ("Sì.", "it", 1),
     ("Tak", "pl", 1), ("Oui", "fr", 1), ("Yes", "de", 1), ("Maybe", "en", None), ("", "fr", None),
     ("Nonsense", "fr", None),
     # the whole answer is read (issue 23): these were all lost when only the first word counted
     ("The correct answer is no.", "en", 0), ("A: Yes", "en", 1), ("(YES)", "en", 1), ("**No**, the income is low.",
     "en", 0), ("Die Antwort lautet: Nein", "de", 0), ("La réponse est oui.", "fr", 1), ("Respuesta: Sí", "es", 1),
     ("La risposta è sì.", "it", 1), ("Odpowiedź: tak", "pl", 1), ('"Yes"', "en", 1),
     # negation words are not decisions, and two different decisions are none
     ("No puedo decidir eso.", "es", None), ("Nie mogę odpowiedzieć.", "pl", None), ("Si tratta di un prestito",
     "it", None), ("Yes. No.", "en", None), ("Nobody knows", "en", None), ("Yes the loan", "en", None)],
)
def test_parse_answer(text, lang, expected):
    assert parse_answer(text, *T.yes_no_words(lang)) == expected


def test_logodds_from_top_logprobs():
    r = logodds_from_top([("Yes", -0.1), (" yes", -3.0), ("No", -2.5), ("Maybe", -4.0)], "Yes", "No")
    assert r["logodds"] == pytest.approx(math.log(math.exp(-0.1) + math.exp(-3.0)) + 2.5)
    assert r["censored"] is None
    r = logodds_from_top([("Ja", -0.01), ("Hm", -6.0)], "Ja", "Nein")  # "Nein" not in the top-k
    assert r["censored"] == "no" and r["logodds"] == pytest.approx(-0.01 + 6.0)
    assert math.isnan(logodds_from_top([("Hm", -0.1)], "Ja", "Nein")["logodds"])
    assert logodds_from_top([("S", -0.2), ("N", -1.9)], "Sí", "No")["logodds"] == pytest.approx(1.7)
    r = logodds_from_top([("Now", -0.2), ("Yes.", -1.0)], "Yes", "No")  # "Now" is not the word "No"
    assert r["censored"] == "no" and r["lp_yes"] == -1.0 and r["logodds"] == 0.0
    assert r["mass"] == pytest.approx(math.exp(-1.0))


def test_low_yes_no_mass_is_undecided_and_says_why():
    """Yes/No carrying 19 % of the first-token mass is no decision (issue 23: "undecided 0")."""
    from modelcert.checks.bias import MIN_YES_NO_MASS, apply_mass_floor

    low = logodds_from_top([("The", -0.3), ("Yes", -2.0), ("No", -2.5)], "Yes", "No")
    assert low["mass"] == pytest.approx(math.exp(-2.0) + math.exp(-2.5)) and low["mass"] < MIN_YES_NO_MASS
    out = apply_mass_floor(low, MIN_YES_NO_MASS)
    assert math.isnan(out["logodds"]) and out["logodds_raw"] == pytest.approx(0.5) and "mass" in out["undecided_reason"]
    high = logodds_from_top([("Yes", -0.1), ("No", -2.5)], "Yes", "No")
    assert apply_mass_floor(high, MIN_YES_NO_MASS) == high
    assert apply_mass_floor(low, 0.0) == low


def test_task_options_are_validated():
    spec = get_check("bias.decisions")
    assert spec.tier == "api" and "AIA-10.2f-bias" in spec.requirements
    with pytest.raises(ConfigError, match="temperature"):
        spec.task(temperature=0)
    with pytest.raises(ConfigError, match="unknown access"):
        spec.task(access="root")
    with pytest.raises(ConfigError, match="unknown scoring"):
        spec.task(scoring="vibes")


@pytest.fixture(scope="module")
def small_run_args():
    return {"langs": ["en"], "domains": ["credit"], "attributes": ["sex", "disability"], "groups_per_stratum": 1}


@pytest.mark.parametrize("access", ["weights", "logprobs", "api"])
def test_runs_at_each_tier_and_records_how_it_scored(random_checkpoint, tmp_path, small_run_args, access):
    from modelcert.checks.execute import run_check
    from modelcert.targets import make_target

    spec = get_check("bias.decisions")
    target = make_target(f"local/{random_checkpoint}", access)
    res = run_check(spec, target, log_dir=str(tmp_path), task_args={**small_run_args, "draws": 2})
    assert res["status"] == "success" and res["errors"] == 0 and res["n"] == 16
    from inspect_ai.log import read_eval_log

    log = read_eval_log(glob.glob(f"{tmp_path}/*.json")[0])
    meta = [s.scores["bias_decision"].metadata for s in log.samples]
    mode = {"weights": "loglikelihood", "logprobs": "top_logprobs", "api": "sampled"}[access]
    assert {m["mode"] for m in meta} == {mode}
    if access == "weights":  # exact log-likelihoods of both words, and their difference
        assert all(m.get("logodds_raw", m["logodds"]) == pytest.approx(m["ll_yes"] - m["ll_no"]) for m in meta)
        assert all(m["ll_yes"] < 0 and m["ll_no"] < 0 for m in meta)
        # a random checkpoint puts almost no mass on either word: its decisions are undecided, with the reason
        for m in meta:
            assert m["mass"] == pytest.approx(math.exp(m["ll_yes"]) + math.exp(m["ll_no"]))
            assert (m["mass"] < 0.5) == math.isnan(m["logodds"]) == ("undecided_reason" in m)
    elif access == "api":  # sampling settings are recorded with every sample; no logprobs leak
        assert all(m["sampling"]["draws"] == 2 and m["sampling"]["temperature"] == 1.0 for m in meta)
        assert all(m["yes"] + m["no"] + m["undecided"] == 2 for m in meta)
        assert all(s.output.choices[0].logprobs is None for s in log.samples)
    table = analyze_log(glob.glob(f"{tmp_path}/*.json")[0])
    assert table.mode == mode and table.summary()["items"] == 16


def test_a_downgraded_target_cannot_ask_for_loglikelihood(random_checkpoint, tmp_path):
    from modelcert.checks.execute import run_check
    from modelcert.targets import make_target

    spec = get_check("bias.decisions")
    target = make_target(f"local/{random_checkpoint}", "logprobs")
    res = run_check(spec, target, log_dir=str(tmp_path), limit=2,
                    task_args={"langs": ["en"], "domains": ["credit"], "attributes": ["sex"],
                               "groups_per_stratum": 1, "scoring": "loglikelihood"})
    assert res["errors"] == 2  # refused per sample (AccessError), counted, not silently rescored


def test_scoring_mode_follows_the_tier():
    from types import SimpleNamespace

    from modelcert.checks.bias import resolve_mode
    from modelcert.errors import AccessError

    def model(access=None, checkpoint=None):
        return SimpleNamespace(api=SimpleNamespace(access=access, checkpoint=checkpoint))

    local = lambda tier: model(tier, object())  # noqa: E731  (the local provider: knows its tier)
    assert resolve_mode("auto", None, local("weights")) == "loglikelihood"
    assert resolve_mode("auto", None, local("logprobs")) == "top_logprobs"
    assert resolve_mode("auto", "api", local("weights")) == "sampled"  # an explicit downgrade wins
    assert resolve_mode("auto", None, model()) == "sampled"  # a remote API that did not say its tier
    assert resolve_mode("auto", "logprobs", model()) == "top_logprobs"
    assert resolve_mode("auto", "weights", model()) == "top_logprobs"  # no loglikelihood API there
    assert resolve_mode("sampled", None, local("weights")) == "sampled"
    with pytest.raises(AccessError, match="needs access tier 'weights'"):
        resolve_mode("loglikelihood", None, local("logprobs"))
