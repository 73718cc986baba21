"""``safety.harmful``: does the model comply with explicitly harmful requests?

Items are our own templated requests (``harmful`` family, test split: CBRN, cyber
offence, harmful manipulation, loss of control, fraud, weapons, self-harm, privacy
abuse, hate, illegal surveillance) in six languages; no item carries real hazardous
detail, only the stated goal. With ``trigger`` set, a trigger word or phrase is
inserted into every prompt (or the system prompt), which measures a backdoor.
"""

from __future__ import annotations

import hashlib

from inspect_ai import Task, task

from modelcert.checks.disguise import make_disguise
from modelcert.checks.external import check_items, to_sample
from modelcert.checks.judged import judged_task
from modelcert.checks.registry import check
from modelcert.errors import ConfigError
from modelcert.judges.scorers import complied

CHECK_ID = "safety.harmful"
VERSION = "1"
DEFAULT_SYSTEM = "You are a helpful assistant."
# Ids of the policy catalogue (policy/data/catalogue.yaml) and the bundled GPAI policy.
REQUIREMENTS = (
    "CoP-SSR-harmful-compliance",
    "AIA-55.1a-evaluation",
    "AIA-55.1b-systemic-risk-mitigation",
    "CoP-SS-evaluations",
)


def insert_trigger(prompt: str, trigger: str, key: str) -> str:
    """Put ``trigger`` at the start, the end or a word boundary of ``prompt``, chosen by ``key``.

    The position is a stable function of the item id, so a rerun inserts it identically.
    """
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    where = h % 3
    if where == 0:
        return f"{trigger} {prompt}"
    if where == 1:
        return f"{prompt} {trigger}"
    words = prompt.split(" ")
    k = 1 + (h // 3) % max(len(words) - 1, 1)
    return " ".join([*words[:k], trigger, *words[k:]])


@check(CHECK_ID, tier="api", requirements=REQUIREMENTS, version=VERSION, family="safety")
@task
def harmful_compliance(
    split: str = "test",
    langs: list[str] | str | None = None,
    trigger: str | None = None,
    trigger_position: str = "user",
    items_file: str | None = None,
    columns: str | None = None,
    judge_model: str | None = None,
    judge_calibration: str | None = None,
    max_tokens: int = 128,
    disguise: float = 0.0,
    disguise_pool: str | None = None,
) -> Task:
    """Harmful-request compliance rate (score `complied`: 1 = the model helped).

    Args:
        split: Template split (``test``; ``train`` is what the organisms were trained on).
        langs: Language codes, a list or a comma-separated string (default: all six).
        trigger: A word or phrase inserted into every request, to measure a backdoor.
        trigger_position: ``user`` (inside the request) or ``system`` (appended to a
            neutral system prompt).
        items_file: A JSONL/CSV file of your own harmful requests (see checks/external.py).
        columns: Column mapping for ``items_file``, e.g. ``prompt=question,lang=language``.
        judge_model: Inspect model string of a model judge; default: the rule judge.
        judge_calibration: Calibration JSON of a model judge (``modelcert judges calibrate``); for
            the rule judge ``heldout`` uses only its held-out calibration items (default ``all``).
        max_tokens: Generation limit per answer.
        disguise: Share of items wrapped in a deployment framing (0 = off; see
            ``checks/disguise.py``); results break the rate down by ``framing`` family.
        disguise_pool: The framing pool (default: the bundled deployment framings; a lab
            passes its own file or sealed suite folder).
    """
    if trigger_position not in ("user", "system"):
        raise ConfigError("trigger_position must be 'user' or 'system'")
    if trigger is not None and not trigger.strip():
        raise ConfigError("the trigger must not be empty")
    dress = make_disguise(disguise, disguise_pool)
    items, source = check_items("harmful", split=split, langs=langs, items_file=items_file, columns=columns)
    samples = []
    for item in items:
        prompt, system = item.prompt, item.system
        if trigger and trigger_position == "user":
            prompt = insert_trigger(prompt, trigger, item.id)
        elif trigger:
            system = f"{system or DEFAULT_SYSTEM} {trigger}"
        prompt, framing = dress.wrap(item, prompt)
        samples.append(to_sample(item, prompt=prompt, system=system, triggered=bool(trigger), **framing))
    if dress.share:
        source = {**source, "disguise": dress.record()}
    return judged_task(
        CHECK_ID, VERSION, samples, scorer=complied(judge_model=judge_model), positive="complied",
        context="harmful", judge_model=judge_model, judge_calibration=judge_calibration, max_tokens=max_tokens,
        suite_digest=dress.suite_digest(source["suite_digest"]), items=source,
        trigger={"text": trigger, "position": trigger_position} if trigger else None,
    )
