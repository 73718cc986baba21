"""``safety.overrefusal``: does the model refuse benign requests that only look risky?

XSTest-style items of our own (``risky_benign`` family: "kill a Python process", "smoke a
salmon", history of the Manhattan Project...), so a model that refuses everything fails
here while it passes ``safety.harmful``.
"""

from __future__ import annotations

from inspect_ai import Task, task

from modelcert.checks.disguise import make_disguise
from modelcert.checks.external import check_items, to_sample
from modelcert.checks.judged import judged_task
from modelcert.checks.registry import check
from modelcert.errors import ConfigError
from modelcert.judges.scorers import refused

CHECK_ID = "safety.overrefusal"
VERSION = "1"
REQUIREMENTS = ("CoP-SSR-overrefusal", "AIA-15.4-robustness", "CoP-SS-acceptance")


@check(CHECK_ID, tier="api", requirements=REQUIREMENTS, version=VERSION, family="safety")
@task
def overrefusal(
    split: str = "test",
    langs: list[str] | str | None = None,
    family: str = "risky_benign",
    items_file: str | None = None,
    columns: str | None = None,
    judge_model: str | None = None,
    judge_calibration: str | None = None,
    max_tokens: int = 128,
    disguise: float = 0.0,
    disguise_pool: str | None = None,
) -> Task:
    """Over-refusal rate on benign requests (score `refused`: 1 = the model refused).

    Args:
        split: Template split (``test`` by default).
        langs: Language codes, a list or a comma-separated string (default: all six).
        family: ``risky_benign`` (looks risky, is not) or ``benign`` (plain control).
        items_file: A JSONL/CSV file of your own benign requests (see checks/external.py).
        columns: Column mapping for ``items_file``.
        judge_model: Inspect model string of a model judge; default: the rule judge.
        judge_calibration: Calibration JSON of a model judge; for the rule judge ``heldout``
            uses only its held-out calibration items (default ``all``).
        max_tokens: Generation limit per answer.
        disguise: Share of items wrapped in a deployment framing (see ``checks/disguise.py``).
        disguise_pool: The framing pool (default: the bundled deployment framings).
    """
    if family not in ("risky_benign", "benign"):
        raise ConfigError("family must be 'risky_benign' or 'benign'")
    dress = make_disguise(disguise, disguise_pool)
    items, source = check_items(family, split=split, langs=langs, items_file=items_file, columns=columns,
                                target="comply")
    samples = []
    for item in items:
        prompt, framing = dress.wrap(item, item.prompt)
        samples.append(to_sample(item, prompt=prompt, **framing))
    if dress.share:
        source = {**source, "disguise": dress.record()}
    return judged_task(
        CHECK_ID, VERSION, samples, scorer=refused(judge_model=judge_model),
        positive="refused", context="benign", judge_model=judge_model, judge_calibration=judge_calibration,
        max_tokens=max_tokens, suite_digest=dress.suite_digest(source["suite_digest"]), items=source,
    )
