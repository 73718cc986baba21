"""Each rate requirement's decision design, built without a target or a query.

The design depends on the policy, the check's suite (its size) and the check's judge
(its calibration), all of which are fixed before any model is queried; the bench and
the docs test read the shipped designs through here, the audit builds the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelcert.policy.decide import design_for, judge_errors
from modelcert.policy.loader import load_policy
from modelcert.policy.schema import Policy, RateRequirement
from modelcert.stats.suite import SuiteDesign


@dataclass(frozen=True)
class PlannedRate:
    requirement: RateRequirement
    design: SuiteDesign


def rate_designs(policy: str | Policy) -> list[PlannedRate]:
    """The policy's rate requirements with the designs an audit would pre-register."""
    from modelcert.checks.registry import get_check

    pol = load_policy(policy).model if isinstance(policy, str) else policy
    out = []
    for req in pol.requirements:
        if not isinstance(req, RateRequirement):
            continue
        task = get_check(req.check).task(**req.task_args)
        meta = dict(task.metadata or {})
        out.append(PlannedRate(req, design_for(req, len(task.dataset), judge_errors(meta, req.direction))))
    return out
