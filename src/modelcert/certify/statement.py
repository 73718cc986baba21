"""The certificate's content: an in-toto Statement v1 whose predicate is a modelcert audit.

Two boundary models live here:

- :class:`AuditResult` is what ``certify`` reads from an audit's ``result.json`` (only
  the fields a certificate needs; the audit may write more, which are ignored here but
  still covered by ``audit_result_digest``).
- :class:`AuditPredicate` is what the lab signs. Its schema is strict (unknown fields
  are rejected) so a verifier never silently accepts content it does not understand.

The subject is what the certificate is *about*. At the ``weights`` tier it is the digest
of the weights manifest; at ``api``/``logprobs`` the lab has no weights, so the subject
is a behavioural fingerprint (answers to a fixed prompt set under recorded settings).
The two kinds have different subject names so nobody mistakes one for the other.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from modelcert.errors import ConfigError
from modelcert.evidence.chain import digest

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://modelcert.eu/attestation/audit/v1"

Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
AccessTier = Literal["api", "logprobs", "weights"]
SubjectKind = Literal["weights-manifest", "behaviour-fingerprint"]
Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE", "NOT_ASSESSED"]
Outcome = Literal["certified", "conditionally_certified", "refused"]

SUBJECT_NAMES: dict[str, str] = {
    "weights-manifest": "model-weights-manifest",
    "behaviour-fingerprint": "model-behaviour-fingerprint",
}


def subject_kind_for_tier(tier: str) -> str:
    """Only the weights tier can name the weights; lower tiers name behaviour."""
    return "weights-manifest" if tier == "weights" else "behaviour-fingerprint"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


_LENIENT = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)


class PolicyRef(_Strict):
    id: str = Field(min_length=1)
    digest: Hex64


class TargetRef(_Strict):
    model: str = Field(min_length=1)
    identity_digest: Hex64
    subject_kind: SubjectKind
    subject_digest: Hex64


class RequirementVerdict(_Strict):
    id: str = Field(min_length=1)
    legal_basis: str
    verdict: Verdict
    estimate: float | None = None
    bound: float | None = None
    n: int = Field(ge=0)
    reason: str | None = None


class _ResultPolicy(PolicyRef):
    model_config = _LENIENT


class _ResultTarget(TargetRef):
    model_config = _LENIENT


class _ResultRequirement(RequirementVerdict):
    model_config = _LENIENT


def _check_tier(tier: str, kind: str) -> None:
    want = subject_kind_for_tier(tier)
    if kind != want:
        raise ValueError(f"access tier {tier!r} needs subject_kind {want!r}, not {kind!r}")


class AuditResult(BaseModel):
    """The fields of an audit's ``result.json`` that a certificate carries.

    Extra fields (queries, claims, timings…) are allowed and ignored.
    """

    model_config = _LENIENT

    policy: _ResultPolicy
    outcome: Outcome
    access_tier: AccessTier
    target: _ResultTarget
    requirements: list[_ResultRequirement] = Field(min_length=1)
    evidence: dict[str, Hex64] = Field(min_length=1)
    suites: dict[str, Hex64] = Field(default_factory=dict)
    monitoring_reference: Hex64 | None = None  # digest of the monitor's reference sample

    @model_validator(mode="after")
    def _subject_matches_tier(self) -> AuditResult:
        _check_tier(self.access_tier, self.target.subject_kind)
        return self


class AuditPredicate(_Strict):
    """What the lab signs about one audit (predicateType :data:`PREDICATE_TYPE`)."""

    lab_id: str = Field(min_length=1)
    issued_at: AwareDatetime
    valid_until: AwareDatetime
    outcome: Outcome
    access_tier: AccessTier
    policy: PolicyRef
    target: TargetRef
    requirements: list[RequirementVerdict] = Field(min_length=1)
    evidence: dict[str, Hex64] = Field(min_length=1)
    suites: dict[str, Hex64]
    audit_result_digest: Hex64
    #: Digest of the reference sample the monitor compares the deployed model with
    #: (:mod:`modelcert.monitor`); absent when none was drawn, and then left out of the JSON.
    monitoring_reference: Hex64 | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AuditPredicate:
        _check_tier(self.access_tier, self.target.subject_kind)
        if self.valid_until <= self.issued_at:
            raise ValueError("valid_until is not after issued_at")
        return self


class Digests(_Strict):
    sha256: Hex64


class Subject(_Strict):
    name: Literal["model-weights-manifest", "model-behaviour-fingerprint"]
    digest: Digests


class Statement(_Strict):
    """An in-toto Statement v1 carrying an :class:`AuditPredicate`."""

    type_: Literal["https://in-toto.io/Statement/v1"] = Field(alias="_type")
    subject: list[Subject] = Field(min_length=1, max_length=1)
    predicateType: Literal["https://modelcert.eu/attestation/audit/v1"]  # in-toto field name
    predicate: AuditPredicate

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _subject_matches_predicate(self) -> Statement:
        target = self.predicate.target
        subject = self.subject[0]
        if subject.name != SUBJECT_NAMES[target.subject_kind]:
            raise ValueError(f"subject name {subject.name!r} does not match kind {target.subject_kind!r}")
        if subject.digest.sha256 != target.subject_digest:
            raise ValueError("subject digest differs from the predicate's target digest")
        return self

    def to_json_obj(self) -> dict[str, Any]:
        obj = self.model_dump(mode="json", by_alias=True)
        if obj["predicate"].get("monitoring_reference") is None:  # certificates without one keep their bytes
            obj["predicate"].pop("monitoring_reference", None)
        return obj


def _fields(model: BaseModel, cls: type[BaseModel]) -> dict[str, Any]:
    """The values of ``model`` that the strict class ``cls`` declares."""
    return {name: getattr(model, name) for name in cls.model_fields}


def _utc_seconds(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(microsecond=0)


def build_statement(
    result: AuditResult,
    *,
    lab_id: str,
    issued_at: datetime | None = None,
    valid_days: int = 365,
    result_digest: str | None = None,
) -> Statement:
    """Turn an audit result into the statement a lab signs.

    Args:
        result: the audit's result (see :class:`AuditResult`).
        lab_id: who issues the certificate; it names the signer, the key proves it.
        issued_at: defaults to now (UTC, whole seconds, so the JSON is stable).
        valid_days: validity period; a certificate outlives no model update, so keep it short.
        result_digest: digest of the full ``result.json`` content; defaults to the digest of
            the fields read, so a holder of ``result.json`` can check it matches.
    """
    if valid_days < 1:
        raise ConfigError(f"--valid-days must be at least 1, not {valid_days}")
    issued = _utc_seconds(issued_at or datetime.now(UTC))
    predicate = AuditPredicate(
        lab_id=lab_id,
        issued_at=issued,
        valid_until=issued + timedelta(days=valid_days),
        outcome=result.outcome,
        access_tier=result.access_tier,
        policy=PolicyRef(**_fields(result.policy, PolicyRef)),
        target=TargetRef(**_fields(result.target, TargetRef)),
        requirements=[RequirementVerdict(**_fields(r, RequirementVerdict)) for r in result.requirements],
        evidence=result.evidence,
        suites=result.suites,
        audit_result_digest=result_digest or digest(result.model_dump(
            mode="json", exclude={"monitoring_reference"} if result.monitoring_reference is None else None)),
        monitoring_reference=result.monitoring_reference,
    )
    return Statement(
        _type=STATEMENT_TYPE,
        subject=[
            Subject(
                name=SUBJECT_NAMES[result.target.subject_kind],
                digest=Digests(sha256=result.target.subject_digest),
            )
        ],
        predicateType=PREDICATE_TYPE,
        predicate=predicate,
    )
