"""The registry: the lab's system of record for models, access, audits, statuses and users.

One :class:`Registry` per process; it is thread-safe (one short transaction per call)
and works on SQLite (default, WAL mode) or any SQLAlchemy URL such as PostgreSQL.
Methods return ORM rows detached from their session (``expire_on_commit=False``):
plain column values, no lazy loading.

Status changes are checked against :mod:`modelcert.registry.lifecycle`, appended to
the history with a reason and an actor, and guarded against concurrent writers by a
compare-and-set on the version's ``status_seq``.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from modelcert.db import open_engine, upgrade_schema
from modelcert.errors import AccessError
from modelcert.evidence.location import resolve_url, sqlite_path
from modelcert.registry import credentials
from modelcert.registry.errors import Conflict, IllegalTransition, NotFound, RegistryError
from modelcert.registry.lifecycle import IN_FORCE, OUTCOME_STATUS, Status, allowed_next, reserved
from modelcert.registry.tables import (
    SCHEMA_HEAD,
    VERSION_TABLE,
    AccessGrant,
    Audit,
    Certificate,
    Model,
    ModelVersion,
    Provider,
    StatusEvent,
    Token,
    User,
)

ROLES = ("admin", "auditor", "reviewer", "provider")
QUEUED, RUNNING, INTERRUPTED, FINISHED, FAILED = "queued", "running", "interrupted", "finished", "failed"
AUDIT_STATES = (QUEUED, RUNNING, INTERRUPTED, FINISHED, FAILED)
#: Audit states a worker may pick up again (resume).
RESUMABLE = (INTERRUPTED, FAILED)
#: What a job of the worker runs: an audit, or a monitoring enrollment or check.
AUDIT, MONITOR_ENROLL, MONITOR_CHECK = "audit", "monitor-enroll", "monitor-check"
JOB_KINDS = (AUDIT, MONITOR_ENROLL, MONITOR_CHECK)
MONITOR_JOBS = (MONITOR_ENROLL, MONITOR_CHECK)


def _now() -> datetime:
    return datetime.now(UTC)


def _queued_job(version_id: int, kind: str, policy: str, tier: str, options: dict[str, Any] | None,
                actor: str) -> Audit:
    """A new row of the worker's queue; audits and monitoring jobs share its lifecycle."""
    return Audit(id=uuid.uuid4().hex[:16], version_id=version_id, policy=policy, tier=tier,
                 options=json.dumps(options or {}, sort_keys=True), state=QUEUED, progress_done=0,
                 progress_total=0, attempts=0, requested_by=actor, created_at=_now(), kind=kind)


def _aware(dt: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything we store is UTC."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt





def worker_id() -> str:
    """``host:pid:nonce``: lets a restarted server tell its own audits from a dead worker's."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class VersionView:
    """A model version with its owner's names, as listed on pages and in the API."""

    id: int
    provider_id: int
    provider: str
    model_id: int
    model: str
    version: str
    address: str
    identity_digest: str | None
    status: str
    created_at: datetime


class Registry:
    """Access to the registry database.

    Args:
        url: SQLAlchemy URL or SQLite file path; None resolves ``MODELCERT_DB`` or the
            per-user default, like the evidence store, so both can share one file.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = resolve_url(url)
        path = sqlite_path(self.url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = open_engine(self.url, label="registry", error=RegistryError,
                                          migrate=self._migrate_engine, pool_pre_ping=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @staticmethod
    def _migrate_engine(engine: Engine) -> None:
        upgrade_schema(engine, Path(__file__).with_name("migrations"), VERSION_TABLE, SCHEMA_HEAD)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions.begin() as s:
            yield s

    # -- providers, models, versions ----------------------------------------------------

    def add_provider(self, name: str) -> Provider:
        name = name.strip()
        if not name:
            raise RegistryError("provider name is empty")
        try:
            with self._tx() as s:
                p = Provider(name=name, created_at=_now())
                s.add(p)
            return p
        except IntegrityError:
            raise Conflict(f"provider {name!r} already exists") from None

    def provider(self, name_or_id: str | int) -> Provider:
        with self._tx() as s:
            col = Provider.id if isinstance(name_or_id, int) else Provider.name
            p = s.scalars(select(Provider).where(col == name_or_id)).first()
        if p is None:
            raise NotFound(f"no provider {name_or_id!r}")
        return p

    def providers(self) -> list[Provider]:
        with self._tx() as s:
            return list(s.scalars(select(Provider).order_by(Provider.name)))

    def register_version(
        self,
        provider: str | int,
        model: str,
        version: str,
        address: str,
        *,
        actor: str,
        identity_digest: str | None = None,
    ) -> VersionView:
        """Record a submitted model version (creating its model entry on first use)."""
        model, version, address = model.strip(), version.strip(), address.strip()
        if not model or not version or not address:
            raise RegistryError("model name, version and address are all required")
        if identity_digest is not None and (
            len(identity_digest) != 64 or any(c not in "0123456789abcdef" for c in identity_digest)
        ):
            raise RegistryError("identity digest must be 64 lowercase hex characters")
        prov = self.provider(provider)
        now = _now()
        try:
            with self._tx() as s:
                m = s.scalars(select(Model).where(Model.provider_id == prov.id, Model.name == model)).first()
                if m is None:
                    m = Model(provider_id=prov.id, name=model, created_at=now)
                    s.add(m)
                    s.flush()
                v = ModelVersion(
                    model_id=m.id,
                    version=version,
                    address=address,
                    identity_digest=identity_digest,
                    status=Status.SUBMITTED.value,
                    status_seq=0,
                    created_at=now,
                )
                s.add(v)
                s.flush()
                s.add(
                    StatusEvent(
                        version_id=v.id,
                        seq=0,
                        from_status=None,
                        to_status=Status.SUBMITTED.value,
                        reason="submitted for certification",
                        actor=actor,
                        at=now,
                    )
                )
                vid = v.id
        except IntegrityError:
            raise Conflict(f"{prov.name}/{model} version {version!r} already exists") from None
        return self.version(vid)

    def _views(self, where: Any = None) -> list[VersionView]:
        # plain columns, not ORM entities: listing pages read hundreds of rows per request
        q = (
            select(
                ModelVersion.id,
                Provider.id,
                Provider.name,
                Model.id,
                Model.name,
                ModelVersion.version,
                ModelVersion.address,
                ModelVersion.identity_digest,
                ModelVersion.status,
                ModelVersion.created_at,
            )
            .join(Model, ModelVersion.model_id == Model.id)
            .join(Provider, Model.provider_id == Provider.id)
            .order_by(Provider.name, Model.name, ModelVersion.id)
        )
        if where is not None:
            q = q.where(where)
        with self.engine.connect() as conn:
            return [VersionView(*row) for row in conn.execute(q)]

    def version(self, version_id: int) -> VersionView:
        if not 0 < version_id < 2**31:  # beyond any id we issue (and SQLite's integer range)
            raise NotFound(f"no model version {version_id}")
        found = self._views(ModelVersion.id == version_id)
        if not found:
            raise NotFound(f"no model version {version_id}")
        return found[0]

    def versions(self, *, provider_id: int | None = None) -> list[VersionView]:
        return self._views(None if provider_id is None else Provider.id == provider_id)

    # -- access grants ------------------------------------------------------------------

    def grant_access(self, version_id: int, tier: str, *, by: str, note: str | None = None) -> AccessGrant:
        from modelcert.targets import tier_rank

        tier_rank(tier)  # ConfigError for an unknown tier
        self.version(version_id)
        with self._tx() as s:
            g = AccessGrant(version_id=version_id, tier=tier, granted_at=_now(), granted_by=by, note=note)
            s.add(g)
        return g

    def grants(self, version_id: int) -> list[AccessGrant]:
        with self._tx() as s:
            return list(
                s.scalars(
                    select(AccessGrant).where(AccessGrant.version_id == version_id).order_by(AccessGrant.id)
                )
            )

    def granted_tier(self, version_id: int) -> str | None:
        """The latest grant's tier (a later grant replaces an earlier one), or None."""
        grants = self.grants(version_id)
        return grants[-1].tier if grants else None

    # -- status lifecycle ---------------------------------------------------------------

    def history(self, version_id: int) -> list[StatusEvent]:
        with self._tx() as s:
            return list(
                s.scalars(select(StatusEvent).where(StatusEvent.version_id == version_id).order_by(StatusEvent.seq))
            )

    def _before_suspension(self, s: Session, version_id: int) -> Status | None:
        last = s.scalars(
            select(StatusEvent)
            .where(StatusEvent.version_id == version_id, StatusEvent.to_status == Status.SUSPENDED.value)
            .order_by(StatusEvent.seq.desc())
            .limit(1)
        ).first()
        return Status(last.from_status) if last and last.from_status else None

    def _transition(
        self, s: Session, version_id: int, to: Status, reason: str, actor: str, audit_id: str | None
    ) -> StatusEvent:
        v = s.get(ModelVersion, version_id)
        if v is None:
            raise NotFound(f"no model version {version_id}")
        current = Status(v.status)
        allowed = allowed_next(current, self._before_suspension(s, version_id))
        if to not in allowed:
            nxt = ", ".join(sorted(a.value for a in allowed)) or "none (final)"
            raise IllegalTransition(f"cannot change status {current.value} -> {to.value}; allowed: {nxt}")
        seq = v.status_seq + 1
        done = s.execute(
            update(ModelVersion)
            .where(ModelVersion.id == version_id, ModelVersion.status_seq == v.status_seq)
            .values(status=to.value, status_seq=seq)
        )
        if done.rowcount != 1:
            raise Conflict(f"model version {version_id} changed status concurrently; try again")
        ev = StatusEvent(
            version_id=version_id,
            seq=seq,
            from_status=current.value,
            to_status=to.value,
            reason=reason,
            actor=actor,
            audit_id=audit_id,
            at=_now(),
        )
        s.add(ev)
        return ev

    def set_status(
        self, version_id: int, to: str, *, reason: str, actor: str, audit_id: str | None = None
    ) -> StatusEvent:
        """Move a version to status ``to``; the reason is mandatory and kept forever."""
        try:
            target = Status(to)
        except ValueError:
            raise RegistryError(
                f"unknown status {to!r}; choose one of: {', '.join(s.value for s in Status)}"
            ) from None
        reason = (reason or "").strip()
        if not reason:
            raise RegistryError("a status change needs a reason")
        try:
            with self._tx() as s:
                v = s.get(ModelVersion, version_id)
                why = reserved(Status(v.status), target) if v is not None else None
                if why:
                    raise IllegalTransition(f"cannot change status {v.status} -> {target.value} by hand: {why}")
                return self._transition(s, version_id, target, reason, actor, audit_id)
        except IntegrityError:
            raise Conflict(f"model version {version_id} changed status concurrently; try again") from None

    # -- audits -------------------------------------------------------------------------

    def create_audit(
        self,
        version_id: int,
        policy: str,
        tier: str,
        *,
        actor: str,
        options: dict[str, Any] | None = None,
    ) -> Audit:
        """Queue an audit; the version moves to ``under_audit`` in the same transaction.

        The requested tier must be covered by the latest access grant: the lab cannot
        audit at an access the provider did not give.
        """
        from modelcert.targets import tier_allows

        granted = self.granted_tier(version_id)
        if granted is None:
            raise AccessError(f"model version {version_id} has no access grant; record one first")
        if not tier_allows(granted, tier):
            raise AccessError(f"model version {version_id} granted {granted!r} access, not {tier!r}")
        if not policy.strip():
            raise RegistryError("policy is required")
        a = _queued_job(version_id, AUDIT, policy.strip(), tier, options, actor)
        with self._tx() as s:
            v = s.get(ModelVersion, version_id)
            if v is None:
                raise NotFound(f"no model version {version_id}")
            s.add(a)
            s.flush()
            if v.status != Status.UNDER_AUDIT.value:
                self._transition(s, version_id, Status.UNDER_AUDIT, f"audit {a.id} under {a.policy}", actor, a.id)
        return a

    def create_job(
        self, version_id: int, kind: str, tier: str, *, actor: str, options: dict[str, Any] | None = None
    ) -> Audit:
        """Queue a monitoring job (enroll or check) for the worker; the version's status is untouched.

        At most one monitoring job per version is queued or running at a time (else
        :class:`Conflict`): two checks of one enrollment side by side would both take the
        next check number and reference block.
        """
        if kind not in MONITOR_JOBS:
            raise RegistryError(f"unknown job kind {kind!r}; audits are queued with create_audit")
        # a monitoring job lists its kind under "policy", where audits show theirs
        a = _queued_job(version_id, kind, kind, tier, options, actor)
        try:
            with self._tx() as s:
                if s.get(ModelVersion, version_id) is None:
                    raise NotFound(f"no model version {version_id}")
                self._refuse_second_monitor_job(s, version_id)
                s.add(a)
        except IntegrityError:  # another request queued one between our check and our insert
            raise Conflict(f"a monitoring job of model version {version_id} is still queued or running") from None
        return a

    @staticmethod
    def _refuse_second_monitor_job(s: Session, version_id: int, but: str | None = None) -> None:
        busy = s.scalars(
            select(Audit.id).where(
                Audit.version_id == version_id, Audit.kind.in_(MONITOR_JOBS), Audit.state.in_((QUEUED, RUNNING)),
                Audit.id != (but or ""),
            )
        ).first()
        if busy is not None:
            raise Conflict(f"monitoring job {busy} of model version {version_id} is still queued or running")

    def finish_job(self, job_id: str, worker: str, *, outcome: str, result: dict[str, Any]) -> Audit:
        """Record a finished monitoring job: its outcome word and summary (no status change here:
        the monitor itself suspends on an alarm, from the evidence it recorded first)."""
        now = _now()
        with self._tx() as s:
            a = s.get(Audit, job_id)
            if a is None or a.state != RUNNING or a.worker != worker:
                raise Conflict(f"job {job_id} is no longer running on this worker")
            if a.kind == AUDIT:
                raise RegistryError(f"{job_id} is an audit; record it with finish_audit")
            a.state, a.outcome, a.finished_at, a.heartbeat_at = FINISHED, outcome[:32], now, now
            a.result = json.dumps(result, sort_keys=True, default=str)
            a.progress_done = max(a.progress_done, a.progress_total)
        return self.audit(job_id)

    def audit(self, audit_id: str) -> Audit:
        with self._tx() as s:
            a = s.get(Audit, audit_id)
        if a is None:
            raise NotFound(f"no audit {audit_id}")
        return a

    def audit_provider_id(self, audit_id: str) -> int:
        """The provider that owns an audit's model (for access control)."""
        return self.version(self.audit(audit_id).version_id).provider_id

    def audits(
        self,
        *,
        provider_id: int | None = None,
        version_id: int | None = None,
        kinds: Sequence[str] | None = None,
        limit: int = 200,
    ) -> list[Audit]:
        """Jobs, newest first: audits and monitoring jobs (``kinds`` narrows)."""
        q = select(Audit).order_by(Audit.created_at.desc(), Audit.id).limit(limit)
        if kinds is not None:
            q = q.where(Audit.kind.in_(list(kinds)))
        if version_id is not None:
            q = q.where(Audit.version_id == version_id)
        if provider_id is not None:
            q = (
                q.join(ModelVersion, Audit.version_id == ModelVersion.id)
                .join(Model, ModelVersion.model_id == Model.id)
                .where(Model.provider_id == provider_id)
            )
        with self._tx() as s:
            return list(s.scalars(q))

    def claim_next(self, worker: str) -> Audit | None:
        """Atomically take the oldest queued audit for ``worker`` (None if none)."""
        for _ in range(5):
            with self._tx() as s:
                aid = s.scalars(
                    select(Audit.id).where(Audit.state == QUEUED).order_by(Audit.created_at, Audit.id).limit(1)
                ).first()
                if aid is None:
                    return None
                now = _now()
                done = s.execute(
                    update(Audit)
                    .where(Audit.id == aid, Audit.state == QUEUED)
                    .values(
                        state=RUNNING,
                        worker=worker,
                        started_at=now,
                        heartbeat_at=now,
                        attempts=Audit.attempts + 1,
                        error=None,
                    )
                )
            if done.rowcount == 1:
                return self.audit(aid)
        return None

    def _update_running(self, audit_id: str, worker: str, **values: Any) -> None:
        with self._tx() as s:
            done = s.execute(
                update(Audit)
                .where(Audit.id == audit_id, Audit.state == RUNNING, Audit.worker == worker)
                .values(heartbeat_at=_now(), **values)
            )
        if done.rowcount != 1:
            raise Conflict(f"audit {audit_id} is no longer running on this worker")

    def progress(self, audit_id: str, worker: str, *, done: int, total: int, note: str | None = None) -> None:
        """Persist progress (and the heartbeat) of a running audit."""
        self._update_running(audit_id, worker, progress_done=done, progress_total=total, progress_note=note)

    def heartbeat(self, audit_id: str, worker: str) -> None:
        self._update_running(audit_id, worker)

    def finish_audit(
        self,
        audit_id: str,
        worker: str,
        *,
        outcome: str,
        verdicts: Sequence[dict[str, Any]],
        out_dir: str,
        certificate: bytes | None = None,
        issued_at: datetime | None = None,
        valid_until: datetime | None = None,
    ) -> Audit:
        """Record a completed audit, its outcome status and (optionally) its certificate, atomically."""
        if outcome not in OUTCOME_STATUS:
            raise RegistryError(f"unknown audit outcome {outcome!r}")
        now = _now()
        with self._tx() as s:
            a = s.get(Audit, audit_id)
            if a is None or a.state != RUNNING or a.worker != worker:
                raise Conflict(f"audit {audit_id} is no longer running on this worker")
            if a.kind != AUDIT:
                raise RegistryError(f"{audit_id} is a {a.kind} job; record it with finish_job")
            a.state, a.outcome, a.out_dir, a.finished_at = FINISHED, outcome, out_dir, now
            a.verdicts = json.dumps(list(verdicts), sort_keys=True)
            a.heartbeat_at = now
            a.progress_done = max(a.progress_done, a.progress_total)
            if certificate is not None:
                self._add_certificate(s, a, outcome, certificate, issued_at, valid_until)
            v = s.get(ModelVersion, a.version_id)
            if v is not None and v.status == Status.UNDER_AUDIT.value:
                self._transition(
                    s, a.version_id, OUTCOME_STATUS[outcome], f"audit {a.id}: outcome {outcome}", "lab", a.id
                )
        return self.audit(audit_id)

    @staticmethod
    def _add_certificate(s: Session, a: Audit, outcome: str, certificate: bytes, issued_at: datetime | None,
                         valid_until: datetime | None) -> str:
        if issued_at is None or valid_until is None:
            raise RegistryError("a certificate needs its issue and expiry dates")
        from modelcert.certify.logged import payload_digest
        from modelcert.errors import VerificationError

        try:
            cert_id = payload_digest(certificate)  # the signed payload's digest, not the file's
        except VerificationError as exc:
            raise RegistryError(f"not a certificate file: {exc}") from None
        s.add(Certificate(id=cert_id, version_id=a.version_id, audit_id=a.id, outcome=outcome, issued_at=issued_at,
                          valid_until=valid_until, body=certificate.decode("utf-8")))
        return cert_id

    def latest_finished_audit(self, version_id: int) -> Audit | None:
        """The version's most recently finished audit: the one its outcome status came from."""
        with self._tx() as s:
            return s.scalars(
                select(Audit).where(Audit.version_id == version_id, Audit.kind == AUDIT, Audit.state == FINISHED)
                .order_by(Audit.finished_at.desc(), Audit.id.desc()).limit(1)
            ).first()

    def record_redecision(self, audit_id: str, *, outcome: str, verdicts: Sequence[dict[str, Any]],
                          to: Status | None, reason: str, actor: str) -> StatusEvent | None:
        """A judge review re-decided a finished audit: its outcome, verdicts and (``to``) the version's status.

        One transaction: the audit row carries the redecided outcome and verdicts, and the
        status change (checked against the lifecycle, reserved changes allowed here) is
        appended to the history with ``reason``. Returns the status event, or None.
        """
        if outcome not in OUTCOME_STATUS:
            raise RegistryError(f"unknown audit outcome {outcome!r}")
        with self._tx() as s:
            a = s.get(Audit, audit_id)
            if a is None or a.kind != AUDIT or a.state != FINISHED:
                raise Conflict(f"audit {audit_id} is not a finished audit: nothing to re-decide in the registry")
            a.outcome, a.verdicts = outcome, json.dumps(list(verdicts), sort_keys=True)
            if to is None:
                return None
            return self._transition(s, a.version_id, to, reason, actor, a.id)

    def certify_audit(self, audit_id: str, *, certificate: bytes, issued_at: datetime, valid_until: datetime,
                      outcome: str, actor: str) -> StatusEvent:
        """The explicit certification step of a ``certifiable`` version: store the certificate, move the status.

        Only the version's latest finished audit, only from ``certifiable``, and only to
        the outcome that audit now has; the certificate and the status change are one
        transaction.
        """
        target = OUTCOME_STATUS.get(outcome)
        if target not in IN_FORCE:
            raise Conflict(f"audit {audit_id}'s outcome is {outcome}: nothing to certify")
        a = self.audit(audit_id)
        latest = self.latest_finished_audit(a.version_id)
        if latest is None or latest.id != audit_id:
            raise Conflict(f"audit {audit_id} is not the latest finished audit of version {a.version_id}")
        with self._tx() as s:
            a = s.get(Audit, audit_id)
            v = s.get(ModelVersion, a.version_id)
            if v.status != Status.CERTIFIABLE.value:
                raise Conflict(f"model version {a.version_id} is {v.status}, not certifiable: nothing to certify")
            if a.outcome != outcome:
                raise Conflict(f"audit {audit_id} has outcome {a.outcome} in the registry, the result says {outcome}")
            cert_id = self._add_certificate(s, a, outcome, certificate, issued_at, valid_until)
            return self._transition(s, a.version_id, target, f"certified after judge review: certificate {cert_id} "
                                    f"for audit {audit_id} (outcome {outcome})", actor, a.id)

    def fail_audit(self, audit_id: str, worker: str, error: str) -> None:
        """A running audit stopped with an error; it stays resumable."""
        self._update_running(audit_id, worker, state=FAILED, error=error[:2000], finished_at=None)

    def interrupt(self, audit_id: str, worker: str, note: str) -> None:
        """This worker stops a running audit (server shutdown); it stays resumable."""
        self._update_running(audit_id, worker, state=INTERRUPTED, progress_note=note)

    def requeue(self, audit_id: str, *, actor: str) -> Audit:
        """Queue an interrupted or failed job again; the engine resumes from its evidence
        (a monitoring job starts afresh: see :mod:`modelcert.web.worker`)."""
        try:
            with self._tx() as s:
                a = s.get(Audit, audit_id)
                if a is not None and a.kind in MONITOR_JOBS and a.state in RESUMABLE:
                    self._refuse_second_monitor_job(s, a.version_id, but=a.id)
                done = s.execute(
                    update(Audit)
                    .where(Audit.id == audit_id, Audit.state.in_(RESUMABLE))
                    .values(state=QUEUED, worker=None, progress_note=f"resume requested by {actor}")
                )
        except IntegrityError:  # another monitoring job of this version was queued meanwhile
            raise Conflict(f"another monitoring job of the version of {audit_id} is still queued or running") from None
        if done.rowcount != 1:
            a = self.audit(audit_id)
            raise Conflict(f"audit {audit_id} is {a.state}; only interrupted or failed audits can be resumed")
        return self.audit(audit_id)

    def recover_interrupted(self, me: str, *, lease: timedelta = timedelta(seconds=60)) -> list[str]:
        """Mark running audits whose worker is gone as ``interrupted``; return their ids.

        A worker is gone when it ran on this host under a pid that no longer exists, or
        when its heartbeat is older than ``lease`` (another host, or a hung process).
        """
        host = socket.gethostname()
        cutoff = _now() - lease
        out = []
        for a in self._running():
            if a.worker == me:
                continue
            w_host, _, rest = (a.worker or "").partition(":")
            pid = rest.partition(":")[0]
            dead = w_host == host and pid.isdigit() and not _pid_alive(int(pid))
            stale = (_aware(a.heartbeat_at) or cutoff) <= cutoff
            if dead or stale:
                with self._tx() as s:
                    done = s.execute(
                        update(Audit)
                        .where(Audit.id == a.id, Audit.state == RUNNING, Audit.worker == a.worker)
                        .values(
                            state=INTERRUPTED,
                            progress_note=f"interrupted: worker {a.worker} stopped at "
                            f"{a.progress_done}/{a.progress_total} (last: {a.progress_note or 'none'})",
                        )
                    )
                if done.rowcount == 1:
                    out.append(a.id)
        return out

    def _running(self) -> list[Audit]:
        with self._tx() as s:
            return list(s.scalars(select(Audit).where(Audit.state == RUNNING)))

    # -- certificates -------------------------------------------------------------------

    def certificates(self, *, provider_id: int | None = None, version_id: int | None = None) -> list[Certificate]:
        q = select(Certificate).order_by(Certificate.issued_at.desc(), Certificate.id)
        if version_id is not None:
            q = q.where(Certificate.version_id == version_id)
        if provider_id is not None:
            q = (
                q.join(ModelVersion, Certificate.version_id == ModelVersion.id)
                .join(Model, ModelVersion.model_id == Model.id)
                .where(Model.provider_id == provider_id)
            )
        with self._tx() as s:
            return list(s.scalars(q))

    def certificate(self, cert_id: str) -> Certificate:
        with self._tx() as s:
            c = s.get(Certificate, cert_id)
        if c is None:
            raise NotFound(f"no certificate {cert_id}")
        return c

    # -- users and tokens ---------------------------------------------------------------

    def create_user(
        self, username: str, role: str, *, provider: str | int | None = None, password: str | None = None
    ) -> User:
        username = username.strip()
        if not username or len(username) > 80:
            raise RegistryError("username must be 1-80 characters")
        if role not in ROLES:
            raise RegistryError(f"unknown role {role!r}; choose one of: {', '.join(ROLES)}")
        if (role == "provider") != (provider is not None):
            raise RegistryError("a provider user needs --provider, and only provider users may have one")
        pid = self.provider(provider).id if provider is not None else None
        if password is not None and len(password) < 8:
            raise RegistryError("password must be at least 8 characters")
        u = User(
            username=username,
            role=role,
            provider_id=pid,
            password_hash=credentials.hash_password(password) if password else None,
            active=True,
            created_at=_now(),
        )
        try:
            with self._tx() as s:
                s.add(u)
        except IntegrityError:
            raise Conflict(f"user {username!r} already exists") from None
        return u

    def user(self, username: str) -> User:
        with self._tx() as s:
            u = s.scalars(select(User).where(User.username == username)).first()
        if u is None:
            raise NotFound(f"no user {username!r}")
        return u

    def user_by_id(self, user_id: int) -> User | None:
        with self._tx() as s:
            return s.get(User, user_id)

    def users(self) -> list[User]:
        with self._tx() as s:
            return list(s.scalars(select(User).order_by(User.username)))

    def issue_token(self, username: str, *, label: str = "api") -> str:
        """Create an API token for a user; the plaintext is returned once and never stored."""
        u = self.user(username)
        token = credentials.new_token()
        with self._tx() as s:
            s.add(Token(user_id=u.id, digest=credentials.token_digest(token), label=label, created_at=_now()))
        return token

    def revoke_tokens(self, username: str) -> int:
        u = self.user(username)
        with self._tx() as s:
            done = s.execute(
                update(Token).where(Token.user_id == u.id, Token.revoked_at.is_(None)).values(revoked_at=_now())
            )
        return done.rowcount

    def disable_user(self, username: str) -> None:
        """Deactivate a user: tokens revoked, sessions refused from the next request."""
        u = self.user(username)
        self.revoke_tokens(username)
        with self._tx() as s:
            s.execute(update(User).where(User.id == u.id).values(active=False))

    def user_for_token(self, token: str) -> User | None:
        """The active user holding an unrevoked ``token``, else None."""
        if not token or len(token) > 200:
            return None
        with self._tx() as s:
            row = s.execute(
                select(User)
                .join(Token, Token.user_id == User.id)
                .where(Token.digest == credentials.token_digest(token), Token.revoked_at.is_(None))
            ).first()
        u = row[0] if row else None
        return u if u is not None and u.active else None

    def user_for_password(self, username: str, password: str) -> User | None:
        """The active user with this password, else None, after the same work in every case.

        Unknown, disabled and token-only (no password) accounts are checked against a dummy
        hash, so each answer costs one scrypt and timing does not tell the states apart.
        """
        try:
            u: User | None = self.user(username)
        except NotFound:
            u = None
        usable = u is not None and u.active and u.password_hash is not None
        ok = credentials.verify_password(password, u.password_hash if usable else _DUMMY_HASH)
        return u if usable and ok else None

    def counts(self) -> dict[str, int]:
        with self._tx() as s:
            return {
                "versions": s.scalar(select(func.count()).select_from(ModelVersion)) or 0,
                "audits": s.scalar(select(func.count()).select_from(Audit)) or 0,
                "certificates": s.scalar(select(func.count()).select_from(Certificate)) or 0,
            }


_DUMMY_HASH = credentials.hash_password("not-a-real-password")
