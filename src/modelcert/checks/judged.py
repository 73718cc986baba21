"""The one task shape of the judged generation checks: generate an answer, judge it.

``safety.harmful``, ``safety.overrefusal`` and ``robustness.jailbreak`` differ in their
items and in what the judge counts; the task around them (greedy generation, the judge's
calibration record in the metadata, the suite digest) is the same and lives here once.
"""

from __future__ import annotations

from typing import Any, Literal

from inspect_ai import Task
from inspect_ai.dataset import Sample
from inspect_ai.model import GenerateConfig
from inspect_ai.scorer import Scorer
from inspect_ai.solver import generate

from modelcert.checks.external import dataset
from modelcert.judges.calibration import judge_record


def judged_task(
    check_id: str,
    version: str,
    samples: list[Sample],
    *,
    scorer: Scorer,
    positive: Literal["complied", "refused"],
    context: Literal["harmful", "benign"],
    judge_model: str | None,
    judge_calibration: str | None,
    max_tokens: int,
    suite_digest: str,
    items: dict[str, Any],
    **metadata: Any,
) -> Task:
    """An Inspect task that answers every sample greedily and scores it with ``scorer``.

    Args:
        positive: What the judge's positive call means (the score's 1).
        context: The items' kind, which selects the judge's calibration subset.
        suite_digest: Digest of exactly what is asked, recorded as the run's suite.
        items: Where the items came from (bundled templates or a user's file).
        metadata: Further task metadata (e.g. the inserted trigger).
    """
    return Task(
        dataset=dataset(samples, check_id),
        solver=generate(),
        scorer=scorer,
        config=GenerateConfig(max_tokens=max_tokens, temperature=0.0),
        metadata={
            "check": check_id, "version": version, "suite_digest": suite_digest, "items": items, **metadata,
            "judge": judge_record(judge_model, positive=positive, context=context,
                                  calibration_file=judge_calibration),
        },
    )
