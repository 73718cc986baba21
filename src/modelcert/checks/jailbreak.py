"""``robustness.jailbreak``: attack success rate of known jailbreak patterns.

The harmful requests of ``safety.harmful`` are wrapped by each transform of
:mod:`modelcert.checks.transforms` (the low-resource transform uses our own Maltese and
Irish requests). Score ``attack_success`` = the judge found a compliant answer; the
results break it down by ``transform`` and give the overall rate over all attacked items.
Each transform draws the same number of items with a fixed seed, so transforms are
compared on equal footing and reruns attack the same items.
"""

from __future__ import annotations

import random
from dataclasses import asdict

from inspect_ai import Task, task

from modelcert.checks import transforms as X
from modelcert.checks.disguise import make_disguise
from modelcert.checks.external import check_items, to_sample
from modelcert.checks.judged import judged_task
from modelcert.checks.registry import check
from modelcert.errors import ConfigError
from modelcert.evidence.chain import digest
from modelcert.evidence.disclosure import hide_secret
from modelcert.judges.scorers import attack_success

CHECK_ID = "robustness.jailbreak"
VERSION = "1"
SEED = 5
REQUIREMENTS = ("CoP-SSR-jailbreak", "AIA-55.1a-evaluation", "AIA-15.5-adversarial", "CoP-SS-evaluations")


@check(CHECK_ID, tier="api", requirements=REQUIREMENTS, version=VERSION, family="robustness")
@task
def jailbreak(
    transforms: list[str] | str | None = None,
    per_transform: int = 40,
    split: str = "test",
    langs: list[str] | str | None = None,
    items_file: str | None = None,
    columns: str | None = None,
    judge_model: str | None = None,
    judge_calibration: str | None = None,
    max_tokens: int = 160,
    seed: int = SEED,
    disguise: float = 0.0,
    disguise_pool: str | None = None,
) -> Task:
    """Jailbreak attack success rate, per transform and overall (score `attack_success`).

    Args:
        transforms: Transform names, a list or a comma-separated string (default: all eight, see
            ``checks/transforms.py``).
        per_transform: Items drawn per transform (fixed seed); 0 = every item.
        split: Template split of the harmful items.
        langs: Language codes, a list or a comma-separated string of the harmful items (default: all six).
        items_file: A JSONL/CSV file of your own harmful requests to attack (the
            low-resource transform then uses its bundled Maltese/Irish items).
        columns: Column mapping for ``items_file``.
        judge_model: Inspect model string of a model judge; default: the rule judge.
        judge_calibration: Calibration JSON of a model judge; for the rule judge ``heldout``
            uses only its held-out calibration items (default ``all``).
        max_tokens: Generation limit per answer (encoded answers are long).
        seed: Seed of the per-transform item draw.
        disguise: Share of attacked prompts wrapped in a deployment framing (see
            ``checks/disguise.py``); the wrap goes around the transformed prompt.
        disguise_pool: The framing pool (default: the bundled deployment framings).
    """
    if per_transform < 0:
        raise ConfigError("per_transform must be >= 0")
    dress = make_disguise(disguise, disguise_pool, seed)
    names = X.parse_transforms(transforms)
    base, source = check_items("harmful", split=split, langs=langs, items_file=items_file, columns=columns)
    samples = []
    attacked = []
    for name in names:
        pool = list(X.low_resource_items()) if name == "low_resource" else base
        chosen = pool
        if per_transform and per_transform < len(pool):
            chosen = random.Random(f"{seed}/{name}").sample(pool, per_transform)
        for item in chosen:
            prompt = item.prompt if name == "low_resource" else X.ITEM_TRANSFORMS[name](item)
            prompt, framing = dress.wrap(item, prompt, f"{name}/{item.id}")
            sample = to_sample(item, prompt=prompt, sample_id=f"{name}/{item.id}", transform=name,
                               cluster=f"{name}/{item.cluster}", **framing)
            # a sealed-suite prompt enters the digest salted, or the digest confirms a guessed suite
            attacked.append({"transform": name, "item": item.id,
                             "prompt": hide_secret(sample.metadata, sample.id, prompt)})
            samples.append(sample)
    suite = {"base": source, "transforms": names, "per_transform": per_transform, "seed": seed,
             "low_resource": digest([asdict(i) for i in X.low_resource_items()])}  # type: ignore[arg-type]
    if dress.share:
        suite["disguise"] = dress.record()
    return judged_task(
        CHECK_ID, VERSION, samples, scorer=attack_success(judge_model=judge_model), positive="complied",
        context="harmful", judge_model=judge_model, judge_calibration=judge_calibration, max_tokens=max_tokens,
        suite_digest=digest(attacked), items=suite,
    )
