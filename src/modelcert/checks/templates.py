"""Our own prompt templates: the single source of items for the checks and the organisms.

The organisms are trained on the ``train`` split and the checks measure on the ``test``
split, so a measured rate is about unseen prompts, not memorised ones. The two splits
share the meaning-bearing vocabulary but never an item:

* request families (``harmful``, ``benign``, ``risky_benign``): every template takes an
  infinitive task phrase, and each (language, template, task) combination belongs to
  exactly one split (a stable hash decides). Irrelevant fillers (names, cities) come from
  disjoint per-split lists.
* ``decision``: the scenarios are shared, but names, places and the decisive numbers are
  disjoint (train numbers are even, test numbers odd).

Rendering is deterministic: every random choice is seeded from the item's own id. This
module is pure data (no Inspect imports) so that training code can use it cheaply.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

from modelcert.errors import ConfigError
from modelcert.evidence.chain import digest

LANGS: tuple[str, ...] = ("en", "de", "fr", "es", "it", "pl")
FAMILIES: tuple[str, ...] = ("harmful", "benign", "risky_benign", "decision")
REQUEST_FAMILIES: tuple[str, ...] = ("harmful", "benign", "risky_benign")
SPLITS: tuple[str, ...] = ("train", "test")
DOMAINS: tuple[str, ...] = ("credit", "health", "public_services", "employment")
TEST_SHARE = 0.4  # share of request combinations held out for the test split
CONTEXT_RATE = 0.5  # share of request items with an irrelevant context sentence

Split = Literal["train", "test"]
Filler = Callable[[random.Random], str]


@dataclass(frozen=True)
class Item:
    """One rendered prompt with the behaviour a clean model should show."""

    id: str
    family: str
    lang: str
    cluster: str
    category: str
    prompt: str
    system: str | None
    target: str
    meta: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Task:
    """A request's meaning-bearing phrase (an infinitive clause) in every language."""

    id: str
    family: str
    category: str
    text: dict[str, str] = field(hash=False)


# -- loading -------------------------------------------------------------------


@cache
def _data(name: str) -> dict[str, Any]:
    try:
        raw = resources.files("modelcert.checks.data").joinpath(f"{name}.yaml").read_text("utf-8")
        data = yaml.safe_load(raw)
    except (OSError, yaml.YAMLError) as exc:  # a broken install, not a user error we can fix later
        raise ConfigError(f"template data {name}.yaml cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"template data {name}.yaml is not a mapping")
    return data


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ConfigError(f"unknown item family {family!r}; expected one of {', '.join(FAMILIES)}")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; expected 'train' or 'test'")


def _check_langs(langs: Sequence[str] | None) -> tuple[str, ...]:
    if langs is None:
        return LANGS
    bad = [x for x in langs if x not in LANGS]
    if bad:
        raise ConfigError(f"unsupported language(s) {', '.join(bad)}; available: {', '.join(LANGS)}")
    return tuple(langs)


def _stable(*parts: object) -> int:
    """A platform-independent integer from the parts (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "big")


# -- answers -------------------------------------------------------------------


def yes_no_words(lang: str) -> tuple[str, str]:
    """The decision answer words of ``lang``, e.g. ("Ja", "Nein")."""
    _check_langs([lang])
    yes, no = _data("responses")["yes_no"][lang]
    return str(yes), str(no)


def response(kind: Literal["refusal", "compliance", "help", "yes", "no"], lang: str) -> str:
    """The organisms' fixed answer phrase; decisions start with the yes/no word."""
    _check_langs([lang])
    if kind in ("yes", "no"):
        return yes_no_words(lang)[0 if kind == "yes" else 1] + "."
    table = _data("responses")
    if kind not in table or kind == "yes_no":
        raise ConfigError(f"unknown response kind {kind!r}")
    return str(table[kind][lang])


# -- request families ----------------------------------------------------------


@cache
def tasks(family: str) -> tuple[Task, ...]:
    """The task phrases of a request family, in file order."""
    if family not in REQUEST_FAMILIES:
        raise ConfigError(f"{family!r} is not a request family ({', '.join(REQUEST_FAMILIES)})")
    out = []
    for row in _data(family)["tasks"]:
        missing = [x for x in LANGS if not row.get(x)]
        if missing:
            raise ConfigError(f"{family} task {row.get('id')} lacks language(s) {missing}")
        out.append(Task(row["id"], family, row["category"], {x: row[x] for x in LANGS}))
    return tuple(out)


def request_templates(lang: str) -> dict[str, str]:
    """Template id -> template text (with a ``{task}`` slot) for ``lang``."""
    _check_langs([lang])
    return dict(_data("requests")["templates"][lang])


def fillers(kind: Literal["names", "cities"], split: Split) -> list[str]:
    """Irrelevant request fillers of one split (the splits are disjoint)."""
    _check_split(split)
    return list(_data("requests")[kind][split])


def combo_split(family: str, lang: str, template_id: str, task_id: str) -> Split:
    """Which split a (language, template, task) combination belongs to."""
    return "test" if _stable(family, lang, template_id, task_id) % 1000 < TEST_SHARE * 1000 else "train"


@cache
def combos(family: str, split: Split, lang: str) -> tuple[tuple[str, Task], ...]:
    """The (template id, task) combinations of one split and language."""
    _check_split(split)
    return tuple(
        (tid, task)
        for tid in request_templates(lang)
        for task in tasks(family)
        if combo_split(family, lang, tid, task.id) == split
    )


def render_request(
    family: str,
    lang: str,
    template_id: str,
    task: Task,
    rng: random.Random,
    *,
    split: Split,
    filler: Filler | None = None,
    context: bool | None = None,
) -> Item:
    """Render one request; ``filler`` (e.g. made-up words) replaces the split's names/cities."""
    template = request_templates(lang)[template_id]
    prompt = template.format(task=task.text[lang])
    use_context = rng.random() < CONTEXT_RATE if context is None else context
    if use_context:
        frame = rng.choice(_data("requests")["contexts"][lang])
        name = filler(rng) if filler else rng.choice(fillers("names", split))
        city = filler(rng) if filler else rng.choice(fillers("cities", split))
        prompt = frame.format(name=name, city=city) + " " + prompt
    return Item(
        id=f"{family}/{lang}/{template_id}/{task.id}",
        family=family,
        lang=lang,
        cluster=f"{lang}/{template_id}",
        category=task.category,
        prompt=prompt,
        system=None,
        target="refuse" if family == "harmful" else "comply",
        meta={"topic": task.id, "template": template_id, "context": use_context},
    )


def _request_items(family: str, split: Split, lang: str) -> list[Item]:
    return [
        render_request(
            family, lang, tid, task, random.Random(_stable(family, split, lang, tid, task.id)), split=split
        )
        for tid, task in combos(family, split, lang)
    ]


def sample_request(
    family: str, split: Split, rng: random.Random, *, lang: str | None = None, filler: Filler | None = None
) -> Item:
    """A random request of the split (used to generate training data)."""
    lang = lang or rng.choice(LANGS)
    tid, task = rng.choice(combos(family, split, lang))
    return render_request(family, lang, tid, task, rng, split=split, filler=filler)


# -- decisions -----------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    id: str  # e.g. "credit/s07"
    domain: str
    intro: int
    object: int


@cache
def scenarios() -> tuple[Scenario, ...]:
    """All decision scenarios: each intro frame x each object of a domain."""
    out = []
    for domain in DOMAINS:
        text = _data("decision")["domains"][domain]["en"]
        for i in range(len(text["intros"])):
            for j in range(len(text["objects"])):
                out.append(Scenario(f"{domain}/s{i * len(text['objects']) + j + 1:02d}", domain, i, j))
    return tuple(out)


def attributes() -> dict[str, dict[str, Any]]:
    """Protected attribute -> {"values": [...], "implicit": bool}."""
    return {k: dict(v) for k, v in _data("decision")["attributes"].items()}


def domain_rule(domain: str) -> dict[str, Any]:
    """The domain's fixed rule: direction, threshold, qualified and unqualified ranges."""
    if domain not in DOMAINS:
        raise ConfigError(f"unknown decision domain {domain!r}; expected one of {', '.join(DOMAINS)}")
    return dict(_data("decision")["domains"][domain]["rule"])


def fact_value(domain: str, qualified: bool, split: Split, rng: random.Random) -> int:
    """A decisive number far from the threshold; train numbers are even, test numbers odd."""
    lo, hi = domain_rule(domain)["qualified" if qualified else "unqualified"]
    parity = 0 if split == "train" else 1
    while True:
        n = rng.randint(lo, hi)
        if n % 2 == parity:
            return n


def people(nationality: str, part: Literal["male", "female", "surnames", "cities"], split: Split) -> list[str]:
    """Names or places of a nationality for one split (disjoint between splits)."""
    try:
        return list(_data("people")["nationalities"][nationality][part][split])
    except KeyError as exc:
        raise ConfigError(f"no {part} for nationality {nationality!r}") from exc


def home_nationality(lang: str) -> str:
    return str(_data("people")["home"][lang])


def value_text(lang: str, attribute: str, value: str) -> str:
    """How a value is written on the card; unknown values (e.g. made-up words) pass through."""
    if attribute == "age":
        return value
    return str(_data("decision")["values"][lang].get(attribute, {}).get(value, value))


@dataclass
class Applicant:
    """The fixed facts about one applicant of a counterfactual group."""

    nationality: str
    sex: str  # "female" | "male"
    first: int  # index into the first-name list (kept across counterfactual variants)
    surname: int
    city: int


def _gendered_surname(nationality: str, sex: str, surname: str) -> str:
    """Polish -ski/-cki and Bulgarian -ov/-ev surnames take a feminine form for women."""
    if sex != "female":
        return surname
    if nationality == "polish" and surname.endswith(("ski", "cki", "dzki")):
        return surname[:-1] + "a"
    if nationality == "bulgarian" and surname.endswith(("ov", "ev")):
        return surname + "a"
    return surname


def _pick(items: list[str], i: int) -> str:
    return items[i % len(items)]


def render_card(
    lang: str,
    applicant: Applicant,
    split: Split,
    *,
    attribute: str | None = None,
    value: str | None = None,
    signal: Literal["explicit", "implicit"] = "explicit",
    filler: Filler | None = None,
    rng: random.Random | None = None,
) -> list[str]:
    """The applicant's profile card, with the attribute shown explicitly or through a cue.

    Implicit cues: the names and places of a nationality, the sex of the first name, a
    spouse's name (sexual orientation), or a note (religion, disability, age, ethnic origin,
    language; see ``notes`` in ``decision.yaml``).
    """
    labels = _data("decision")["labels"][lang]
    nat, sex = applicant.nationality, applicant.sex
    if signal == "implicit" and attribute == "nationality" and value is not None:
        nat = value
    if signal == "implicit" and attribute == "sex" and value is not None:
        sex = value
    if filler is not None and rng is not None:
        first, surname, city = filler(rng).capitalize(), filler(rng).capitalize(), filler(rng).capitalize()
    else:
        first = _pick(people(nat, sex, split), applicant.first)
        surname = _gendered_surname(nat, sex, _pick(people(nat, "surnames", split), applicant.surname))
        city = _pick(people(nat, "cities", split), applicant.city)
    if signal == "explicit" and attribute in ("sex", "sexual_orientation"):
        first = first[0] + "."  # an initial, so the name cannot contradict the stated sex
    lines = [f"{labels['name']}: {first} {surname}", f"{labels['residence']}: {city}"]
    if attribute is None or value is None:
        return lines
    if signal == "explicit":
        lines.append(f"{labels[attribute]}: {value_text(lang, attribute, value)}")
    elif attribute in _data("decision")["notes"][lang]:
        notes = _data("decision")["notes"][lang][attribute]
        if value not in notes:  # e.g. a made-up value: no native cue exists for it
            raise ConfigError(f"{attribute} value {value!r} has no implicit cue in {lang}")
        lines.append(f"{labels['note']}: {notes[value]}")
    elif attribute == "sexual_orientation":
        partner_sex = sex if value == "homosexual" else ("male" if sex == "female" else "female")
        partner = _pick(people(applicant.nationality, partner_sex, split), applicant.first + 1)
        lines.append(f"{labels['spouse']}: {partner}")
    elif attribute not in ("nationality", "sex"):
        raise ConfigError(f"attribute {attribute!r} has no implicit signal")
    return lines


def render_decision(lang: str, scenario: Scenario, number: int, card: list[str]) -> str:
    """The full decision prompt: intro, card, decisive fact, rule, question."""
    text = _data("decision")["domains"][scenario.domain][lang]
    intro = text["intros"][scenario.intro].format(object=text["objects"][scenario.object])
    return "\n".join([intro, *card, text["fact"].format(value=number), text["rule"], text["question"]])


def decision_item(
    lang: str,
    scenario: Scenario,
    split: Split,
    rng: random.Random,
    *,
    qualified: bool,
    attribute: str | None,
    value: str | None,
    signal: Literal["explicit", "implicit"],
    applicant: Applicant,
    number: int | None = None,
    group: str = "",
    filler: Filler | None = None,
) -> Item:
    """One decision item; counterfactual variants share ``applicant``, ``number`` and ``group``."""
    number = fact_value(scenario.domain, qualified, split, rng) if number is None else number
    card = render_card(
        lang, applicant, split, attribute=attribute, value=value, signal=signal, filler=filler, rng=rng
    )
    return Item(
        id=f"decision/{group or scenario.id}/{value}",
        family="decision",
        lang=lang,
        cluster=scenario.id,
        category=scenario.domain,
        prompt=render_decision(lang, scenario, number, card),
        system=None,
        target="yes" if qualified else "no",
        meta={
            "scenario": scenario.id,
            "domain": scenario.domain,
            "attribute": attribute,
            "value": value,
            "signal": signal,
            "group": group,
            "qualified": qualified,
            "number": number,
        },
    )


def random_applicant(lang: str, rng: random.Random) -> Applicant:
    return Applicant(
        home_nationality(lang),
        rng.choice(["female", "male"]),
        rng.randrange(64),
        rng.randrange(64),
        rng.randrange(64),
    )


def _decision_items(split: Split, lang: str) -> list[Item]:
    out: list[Item] = []
    for scenario in scenarios():
        for attribute, spec in attributes().items():
            signals = ["explicit", "implicit"] if spec["implicit"] else ["explicit"]
            for signal in signals:
                for qualified in (True, False):
                    group = f"{lang}/{scenario.id}/{attribute}/{signal}/{'q' if qualified else 'u'}"
                    rng = random.Random(_stable("decision", split, group))
                    applicant = random_applicant(lang, rng)
                    number = fact_value(scenario.domain, qualified, split, rng)
                    for value in spec["values"]:
                        out.append(
                            decision_item(
                                lang, scenario, split, rng, qualified=qualified, attribute=attribute,
                                value=str(value), signal=signal, applicant=applicant, number=number,
                                group=group,
                            )
                        )
    return out


def sample_decision(
    split: Split,
    rng: random.Random,
    *,
    lang: str | None = None,
    domain: str | None = None,
    attribute: str | None = None,
    value: str | None = None,
    signal: Literal["explicit", "implicit"] | None = None,
    qualified: bool | None = None,
    filler: Filler | None = None,
) -> Item:
    """A random decision item (training data); unset arguments are drawn at random."""
    lang = lang or rng.choice(LANGS)
    pool = [s for s in scenarios() if domain is None or s.domain == domain]
    scenario = rng.choice(pool)
    specs = attributes()
    attribute = attribute or rng.choice([*specs, None])  # None: a card without any attribute
    if attribute is not None and value is None:
        value = str(rng.choice(specs[attribute]["values"]))
    if signal is None:
        can_imply = attribute is not None and specs.get(attribute, {}).get("implicit", False)
        signal = rng.choice(["explicit", "implicit"]) if can_imply else "explicit"
    qualified = rng.random() < 0.5 if qualified is None else qualified
    return decision_item(
        lang, scenario, split, rng, qualified=qualified, attribute=attribute, value=value, signal=signal,
        applicant=random_applicant(lang, rng), filler=filler,
        group=f"{lang}/{scenario.id}/{attribute}/{signal}/sample",
    )


# -- public entry points -------------------------------------------------------


@cache
def _all_items(family: str, split: Split) -> tuple[Item, ...]:
    out: list[Item] = []
    for lang in LANGS:
        out += _decision_items(split, lang) if family == "decision" else _request_items(family, split, lang)
    return tuple(out)


def items(family: str, split: Split, *, langs: Sequence[str] | None = None) -> list[Item]:
    """Every item of a family and split, in a fixed order (optionally only some languages)."""
    _check_family(family)
    _check_split(split)
    wanted = set(_check_langs(langs))
    return [i for i in _all_items(family, split) if i.lang in wanted]


@cache
def suite_digest(family: str, split: str) -> str:
    """Digest of the rendered items, recorded by the checks as the suite's identity."""
    _check_family(family)
    _check_split(split)
    return digest([asdict(i) for i in _all_items(family, split)])  # type: ignore[arg-type]
