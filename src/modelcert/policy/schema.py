"""The policy file format: legal requirements made testable, and the rules for the outcome.

A policy is data, validated once at the boundary (pydantic v2, unknown keys rejected so
a misspelt key is an error rather than a silently ignored setting). The engine reads
the validated models; ``loader.py`` turns validation errors into one line with the
file and line they come from.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

Tier = Literal["api", "logprobs", "weights"]
Direction = Literal["max", "min"]
Severity = Literal["critical", "major", "minor"]
VerdictName = Literal["PASS", "FAIL", "INCONCLUSIVE", "NOT_ASSESSED"]
OutcomeName = Literal["certified", "conditionally_certified", "refused"]

_ID = r"^[A-Za-z][A-Za-z0-9_.\-]*$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FixedDesignSpec(_Model):
    """Query exactly ``n`` items of the suite, then decide once on the same bounds."""

    kind: Literal["fixed"]
    n: int = Field(gt=0, le=100_000)
    round: int | None = Field(default=None, gt=0, description="items per round (progress only)")


_RETIRED = {
    "sprt": "an SPRT's FAIL only rejects its design rate, not the threshold",
    "eprocess": "the Bernoulli e-process assumes independent draws, not a finite suite drawn without replacement",
}


class SequentialDesignSpec(_Model):
    """Look after every round; stop when the suite rate's confidence sequence leaves the
    threshold behind (PASS below, FAIL above); INCONCLUSIVE at the cap."""

    kind: Literal["sequential"]
    method: Literal["confidence-sequence"] = "confidence-sequence"
    cap: int | None = Field(default=None, gt=0, le=100_000,
                            description="items queried at most; default the whole suite")
    round: int = Field(default=100, gt=0, description="largest round; rounds shrink to the fewest queries "
                                                      "that could cross a boundary")
    min_round: int = Field(default=10, gt=0, description="smallest round (each round costs a model call's "
                                                         "overhead; at most min_round - 1 queries past a stop)")

    @model_validator(mode="before")
    @classmethod
    def _retired_methods(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("method") in _RETIRED:
            m = data["method"]
            raise ValueError(f"method {m!r} no longer decides verdicts ({_RETIRED[m]}): use "
                             "'confidence-sequence' and drop margin/boundaries/fail_at (docs/statistics.md)")
        return data


DesignSpec = Annotated[FixedDesignSpec | SequentialDesignSpec, Field(discriminator="kind")]


class _RequirementBase(_Model):
    id: str = Field(pattern=_ID, max_length=80)
    title: str = Field(min_length=1)
    catalogue: list[str] = Field(min_length=1, description="catalogue entries this requirement makes testable")
    severity: Severity = "major"
    tier: Tier | None = Field(default=None, description="lowest access tier; default: the check's own")
    rationale: str | None = None
    seed: int = Field(default=0, description="seeds the pre-registered item order")


class JudgeReviewSpec(_Model):
    """Per-audit judge validation (issue 23): people label a pre-registered random sample
    of the audited model's own answers, and the verdict then bounds the judge's errors on
    this suite from those labels alone (docs/statistics.md, "Per-audit judge review")."""

    n: int = Field(default=60, ge=0, description="answers to review: the first n of the pre-registered item "
                   "order (a simple random sample of the suite); 0: no review planned")


class RateRequirement(_RequirementBase):
    """A rate of a binary score of one check over the check's suite, against a threshold.

    The estimand is the rate over every item of the suite (finite population); the
    judge's calibrated error rates enter both bounds (docs/statistics.md).
    """

    kind: Literal["rate"] = "rate"
    check: str = Field(pattern=_ID)
    metric: str = Field(min_length=1, description="the check's score name; its 1/C/True value is the event counted")
    threshold: float = Field(gt=0, lt=1)
    direction: Direction
    estimand: Literal["suite"] = Field(default="suite", description="the rate over every item of the suite")
    alpha: float = Field(default=0.05, gt=0, lt=0.5, description="P(PASS) bound when non-compliant")
    beta: float = Field(default=0.05, gt=0, lt=0.5, description="P(FAIL) bound when compliant")
    min_judge_sensitivity: float = Field(
        default=0.90, ge=0, le=1,
        description="below this lower bound on the judge's sensitivity a PASS cannot be shown")
    max_non_answers: float = Field(
        default=0.20, ge=0, le=1,
        description="share of non-answers (gibberish, echoes) above which the model does not perform the task")
    design: DesignSpec
    task_args: dict[str, Any] = Field(default_factory=dict)
    judge_review: JudgeReviewSpec = Field(default_factory=JudgeReviewSpec)


class BiasRequirement(_RequirementBase):
    """Counterfactual decision gaps across protected attributes, tested two-sided.

    FAIL: some effect's familywise-adjusted interval (Bonferroni over every effect in
    scope, level 1 - alpha/m) lies wholly beyond ``±tolerance``. PASS: every effect is
    shown equivalent to zero within ``tolerance`` (TOST at ``alpha``), because "not
    significant" is not "fair". Otherwise INCONCLUSIVE. ``fdr`` only orders the
    exploratory BH flags in the effects table.
    """

    kind: Literal["bias"]
    check: str = Field(pattern=_ID)
    domain: str | None = None
    attributes: list[str] | None = None
    tolerance: float = Field(gt=0, lt=1)
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    fdr: float = Field(default=0.05, gt=0, lt=0.5)
    n: int | None = Field(default=None, gt=0, description="items to run (default: the whole suite)")
    round: int | None = Field(default=None, gt=0)
    min_follows_rule: float = Field(
        default=0.75, ge=0, le=1,
        description="decisive-fact accuracy floor: when the accuracy's upper confidence bound is below it, the "
                    "decisions do not follow the stated rule and bias cannot be separated from noise")
    task_args: dict[str, Any] = Field(default_factory=dict)


class ScanRequirement(_RequirementBase):
    """A one-shot search check (e.g. a backdoor scan) with a check per access tier.

    The engine runs the check of the highest tier the target grants. A finding (the
    metric's 1) is a FAIL. Finding nothing is a PASS only at the tiers in ``pass_at``:
    below them a search that found nothing proves little, so the verdict is
    INCONCLUSIVE and says which tier would assess it.
    """

    kind: Literal["scan"]
    checks: dict[Tier, str] = Field(min_length=1, description="access tier -> check id")
    metric: str = Field(min_length=1)
    pass_at: list[Tier] = Field(default_factory=lambda: ["weights"])
    task_args: dict[str, Any] = Field(default_factory=dict)
    tier_args: dict[Tier, dict[str, Any]] = Field(default_factory=dict,
                                                  description="extra task args for one tier's check")


class ConsistencyRequirement(_RequirementBase):
    """The same items in a test dress and a real-use dress, compared pair by pair.

    For the integrity checks (``integrity.context_consistency``, ``integrity.sandbagging``):
    FAIL when the paired gap in ``metric``, overall or in some framing family, is significant
    after Benjamini–Hochberg at ``fdr`` and reaches ``tolerance``; PASS when the overall gap
    is shown equivalent to zero within ``tolerance`` (TOST at ``alpha``) and no family is
    flagged; otherwise INCONCLUSIVE (see ``checks/integrity_analysis.py``).
    """

    kind: Literal["consistency"]
    check: str = Field(pattern=_ID)
    metric: str = Field(min_length=1)
    tolerance: float = Field(gt=0, lt=1)
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    fdr: float = Field(default=0.05, gt=0, lt=0.5)
    task_args: dict[str, Any] = Field(default_factory=dict)


class AnalyzerRequirement(_RequirementBase):
    """A non-query analysis of the model's files or parameters (weights tier)."""

    kind: Literal["analyzer"]
    analyzer: str = Field(pattern=_ID)
    options: dict[str, Any] = Field(default_factory=dict)


def _requirement_kind(value: Any) -> str:
    """``kind`` defaults to ``rate``, the common case, so policies need not repeat it."""
    if isinstance(value, dict):
        return str(value.get("kind", "rate"))
    return str(getattr(value, "kind", "rate"))


Requirement = Annotated[
    Annotated[RateRequirement, Tag("rate")]
    | Annotated[BiasRequirement, Tag("bias")]
    | Annotated[ScanRequirement, Tag("scan")]
    | Annotated[AnalyzerRequirement, Tag("analyzer")]
    | Annotated[ConsistencyRequirement, Tag("consistency")],
    Discriminator(_requirement_kind, custom_error_type="requirement_kind",
                  custom_error_message="kind must be one of: rate (default), bias, scan, analyzer, consistency"),
]


class RuleCondition(_Model):
    """Matches when any requirement has one of ``verdict`` (and, if given, ``severity``),
    or, with ``documentation: open``, when a documentation item is not ticked."""

    verdict: list[VerdictName] | None = None
    severity: list[Severity] | None = None
    documentation: Literal["open"] | None = None

    @field_validator("verdict", "severity", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _something(self) -> RuleCondition:
        if self.verdict is None and self.documentation is None:
            raise ValueError("a rule needs 'verdict' or 'documentation'")
        if self.severity is not None and self.verdict is None:
            raise ValueError("'severity' only narrows a 'verdict' condition")
        return self


class OutcomeRule(_Model):
    when: RuleCondition
    outcome: OutcomeName


class Policy(_Model):
    """A certification policy: requirements, documentation items and outcome rules.

    The outcome is the first rule that matches, in file order; if none does, ``default``.
    """

    id: str = Field(pattern=_ID, max_length=80)
    title: str = Field(min_length=1)
    version: str = Field(min_length=1)
    description: str = ""
    requirements: list[Requirement] = Field(min_length=1)
    documentation: list[str] = Field(default_factory=list, description="catalogue ids the auditor ticks")
    outcome: list[OutcomeRule] = Field(min_length=1)
    default: OutcomeName = "certified"
    false_refusal_budget: float = Field(
        default=0.10, gt=0, lt=1,
        description="familywise P(a compliant model is refused) at rates threshold x design_fraction, "
                    "split equally (Bonferroni) over the rate requirements; caps are sized from it")
    design_fraction: float = Field(default=0.5, gt=0, lt=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Policy:
        seen: set[str] = set()
        for r in self.requirements:
            if r.id in seen:
                raise ValueError(f"requirement id {r.id!r} appears twice")
            seen.add(r.id)
        if len(set(self.documentation)) != len(self.documentation):
            raise ValueError("a documentation item is listed twice")
        return self

    def requirement(self, rid: str) -> Requirement:
        for r in self.requirements:
            if r.id == rid:
                return r
        raise KeyError(rid)


class CatalogueEntry(_Model):
    """One legal obligation, in our own words, with its reference."""

    id: str = Field(pattern=_ID)
    reference: str = Field(min_length=1, description="article / annex / code-of-practice reference")
    source: Literal["AI Act", "Code of Practice"]
    title: str = Field(min_length=1)
    summary: str = Field(min_length=1)
    testable: bool
    tier: Tier | None = None
    how: str = Field(min_length=1, description="how modelcert assesses it, or what the auditor checks")

    @model_validator(mode="after")
    def _tier_iff_testable(self) -> CatalogueEntry:
        if self.testable and self.tier is None:
            raise ValueError(f"testable entry {self.id} needs the lowest tier that can assess it")
        return self


class Catalogue(_Model):
    version: str
    entries: list[CatalogueEntry] = Field(min_length=1)


class Attestation(_Model):
    """The auditor's tick on a documentation item, with the note that justifies it."""

    ticked: bool
    note: str = Field(min_length=1)
    by: str | None = None


class AttestationFile(_Model):
    attestations: dict[str, Attestation]


class Claim(_Model):
    """A provider's declared metric, tested against what the audit measured.

    ``relation`` ``=`` claims the value within ``tolerance``; ``<=``/``>=`` claim a
    bound. A claim is *contradicted* when the measured interval excludes it, *supported*
    when the interval lies inside what it claims (the claimed side of the bound, or
    value ± tolerance), and otherwise *not contradicted*, which is not a confirmation.
    """

    id: str = Field(pattern=_ID)
    requirement: str = Field(min_length=1)
    value: float = Field(ge=-1, le=1)
    relation: Literal["=", "<=", ">="] = "="
    tolerance: float = Field(default=0.0, ge=0, le=1, description="for '=': the claimed value's margin")
    statement: str = ""


class ClaimsFile(_Model):
    provider: str = ""
    model: str = ""
    claims: list[Claim] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ClaimsFile:
        ids = [c.id for c in self.claims]
        if len(set(ids)) != len(ids):
            raise ValueError("claim ids must be unique")
        return self
