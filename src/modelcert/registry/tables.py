"""The registry schema (SQLAlchemy 2.0 ORM). Every table is prefixed ``registry_``.

The schema shares a database with the evidence store without touching it: its own
metadata, its own Alembic version table. ``registry_status_events`` is append-only
(database triggers refuse UPDATE and DELETE); a version's ``status`` column is a cached
copy of its latest event, changed in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

VERSION_TABLE = "registry_alembic_version"
SCHEMA_HEAD = "0004"
#: The rows the partial unique index on ``registry_audits`` covers (a live monitoring job).
LIVE_MONITOR_JOB = "kind IN ('monitor-enroll', 'monitor-check') AND state IN ('queued', 'running')"


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData()
    type_annotation_map = {datetime: UTCDateTime}


class Provider(Base):
    __tablename__ = "registry_providers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Model(Base):
    __tablename__ = "registry_models"
    __table_args__ = (UniqueConstraint("provider_id", "name", name="uq_registry_models_provider_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("registry_providers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ModelVersion(Base):
    """One submitted version: how to reach it (an Inspect/local address) and its identity."""

    __tablename__ = "registry_versions"
    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_registry_versions_model_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registry_models.id"), index=True)
    version: Mapped[str] = mapped_column(String(120))
    address: Mapped[str] = mapped_column(Text)
    identity_digest: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    status_seq: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StatusEvent(Base):
    """One status change, with its reason and actor (append-only)."""

    __tablename__ = "registry_status_events"
    version_id: Mapped[int] = mapped_column(ForeignKey("registry_versions.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(120))
    audit_id: Mapped[str | None] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccessGrant(Base):
    """The access tier a provider granted for a version, when, and who recorded it."""

    __tablename__ = "registry_access_grants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("registry_versions.id"), index=True)
    tier: Mapped[str] = mapped_column(String(16))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    granted_by: Mapped[str] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(Text)


class Audit(Base):
    """A job of the lab's worker and its persisted progress: an audit, or a monitoring
    enrollment or check (``kind``; they share the queue, the claim, the lease and resume).

    ``state``: queued -> running -> finished | failed; a running job whose worker
    died becomes ``interrupted`` (resumable: the evidence store keeps every finished
    sample and the engine resumes from it).
    """

    __tablename__ = "registry_audits"
    __table_args__ = (
        # At most one monitoring job per version queued or running, enforced by the database:
        # two requests checked side by side in the store could otherwise both queue one.
        Index("uq_registry_one_live_monitor_job", "version_id", unique=True,
              sqlite_where=text(LIVE_MONITOR_JOB), postgresql_where=text(LIVE_MONITOR_JOB)),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("registry_versions.id"), index=True)
    policy: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(16))
    options: Mapped[str] = mapped_column(Text, default="{}")
    state: Mapped[str] = mapped_column(String(16), index=True)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    progress_note: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(32))
    verdicts: Mapped[str | None] = mapped_column(Text)
    out_dir: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    requested_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32), default="audit", server_default="audit")
    result: Mapped[str | None] = mapped_column(Text)  # a finished non-audit job's summary (JSON)


class Certificate(Base):
    """An issued certificate file; ``id`` is the SHA-256 of its *signed payload*.

    Not of the file's bytes: a file re-encoded around the same signed statement (or
    carrying its transparency-log proof) still finds its registry status."""

    __tablename__ = "registry_certificates"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("registry_versions.id"), index=True)
    audit_id: Mapped[str | None] = mapped_column(ForeignKey("registry_audits.id"))
    outcome: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text)


class User(Base):
    __tablename__ = "registry_users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("registry_providers.id"))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Token(Base):
    __tablename__ = "registry_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("registry_users.id"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
