"""Request and response bodies of the REST API (pydantic v2, unknown fields rejected)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelcert.registry.lifecycle import Status

Tier = Literal["api", "logprobs", "weights"]
StatusName = Literal[tuple(s.value for s in Status)]  # type: ignore[valid-type]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderIn(_In):
    name: str = Field(min_length=1, max_length=120)


class VersionIn(_In):
    provider: str = Field(min_length=1, max_length=120)
    model: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=120)
    address: str = Field(min_length=1, max_length=2000, description="Inspect model string or local/<path>")
    identity_digest: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class GrantIn(_In):
    tier: Tier
    note: str | None = Field(default=None, max_length=2000)


class StatusIn(_In):
    status: StatusName  # type: ignore[valid-type]
    reason: str = Field(min_length=1, max_length=2000)


class AuditIn(_In):
    version_id: int = Field(ge=1, le=2**31 - 1)
    policy: str = Field(min_length=1, max_length=200)
    tier: Tier
    only: list[str] | None = Field(default=None, max_length=100, description="run only these requirement ids")


class UserIn(_In):
    username: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Literal["admin", "auditor", "reviewer", "provider"]
    provider: str | None = Field(default=None, max_length=120)
    password: str | None = Field(default=None, min_length=8, max_length=200)


class VerifyIn(_In):
    certificate: str = Field(min_length=1, max_length=1_000_000, description="the certificate file's text")


class TokenOut(BaseModel):
    username: str
    token: str


class ProviderOut(BaseModel):
    id: int
    name: str


class VersionOut(BaseModel):
    id: int
    provider: str
    model: str
    version: str
    address: str | None
    identity_digest: str | None
    status: str
    created_at: datetime


class EventOut(BaseModel):
    seq: int
    from_status: str | None
    to_status: str
    reason: str
    actor: str
    audit_id: str | None
    at: datetime


class CertifyOut(BaseModel):
    """The explicit certification step: the status event and the new certificate's id."""

    event: EventOut
    certificate_id: str


class GrantOut(BaseModel):
    tier: str
    granted_at: datetime
    granted_by: str
    note: str | None


class VersionDetail(VersionOut):
    history: list[EventOut]
    grants: list[GrantOut]


class AuditOut(BaseModel):
    """A job of the lab's worker: an audit, or a monitoring enrollment or check (``kind``)."""

    id: str
    kind: str = "audit"
    version_id: int
    policy: str
    tier: str
    state: str
    resumable: bool
    progress_done: int
    progress_total: int
    progress_note: str | None
    outcome: str | None
    verdicts: list[dict[str, Any]] | None
    error: str | None
    attempts: int
    requested_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    certificate_id: str | None = None
    result: dict[str, Any] | None = None
    """A finished monitoring job's summary (the check's figures, or the enrollment's digest)."""

    @classmethod
    def of(cls, a: Any, certificate_id: str | None = None) -> AuditOut:
        return cls(
            id=a.id,
            kind=a.kind or "audit",
            version_id=a.version_id,
            policy=a.policy,
            tier=a.tier,
            state=a.state,
            resumable=a.state in ("interrupted", "failed"),
            progress_done=a.progress_done,
            progress_total=a.progress_total,
            progress_note=a.progress_note,
            outcome=a.outcome,
            verdicts=json.loads(a.verdicts) if a.verdicts else None,
            error=a.error,
            attempts=a.attempts,
            requested_by=a.requested_by,
            created_at=a.created_at,
            started_at=a.started_at,
            finished_at=a.finished_at,
            certificate_id=certificate_id,
            result=json.loads(a.result) if a.result else None,
        )


class CertificateOut(BaseModel):
    id: str
    version_id: int
    provider: str
    model: str
    version: str
    audit_id: str | None
    outcome: str
    issued_at: datetime
    valid_until: datetime
    status: str


class RegistryEntry(BaseModel):
    provider: str
    model: str
    version: str
    status: str
    identity_digest: str | None
    certificates: list[str]


class VerifyOut(BaseModel):
    valid: bool = Field(description="genuine and current: a certification this registry holds, not revoked")
    genuine: bool = Field(default=False, description="the file verifies offline with this lab's key")
    status: str = Field(
        default="invalid",
        description="certified, conditionally_certified, refused, not_in_registry, invalid, "
        "superseded (its outcome is not the version's status now), "
        "or the registry status that ended it (revoked, suspended, certifiable, ...)",
    )
    reason: str | None = None
    certificate_id: str | None = None
    keyid: str | None = None
    model: str | None = None
    outcome: str | None = None
    access_tier: str | None = None
    policy: str | None = None
    issued_at: datetime | None = None
    valid_until: datetime | None = None
    registry_status: str | None = Field(default=None, description="the certified version's status in this lab now")
    log_index: int | None = Field(default=None, description="the certificate's entry in the transparency log")
    log_tree_size: int | None = None
    requirements: list[dict[str, Any]] = Field(default_factory=list)


class EvidenceOut(BaseModel):
    audit_id: str
    runs: dict[str, str]
    run: str | None
    offset: int
    records: list[dict[str, Any]]
    redacted: bool
