"""The background audit worker: runs queued audits outside any request.

It uses the same engine as ``modelcert audit`` (:func:`modelcert.policy.audit.run_audit`)
in a daemon thread. Progress goes to the registry as the engine reports it, and a
heartbeat thread keeps the audit's lease fresh between events; if this process dies,
the next server start finds the audit ``running`` under a dead worker and marks it
``interrupted`` (see :meth:`Registry.recover_interrupted`), never finished.

With a distributed executor (``executor: ray``) each claimed audit becomes a Ray task:
the worker process that picks it up opens the registry itself, heartbeats and records
progress there under this server's worker id, and writes its evidence to the shared
store (PostgreSQL on a real cluster). Audits run side by side, at most
``audits_per_endpoint`` against one provider endpoint. A Ray job that fails (its worker
process died, the cluster went away) leaves the audit ``interrupted``, resumable.

A resumed audit runs the engine again under the same registry id: a fresh
pre-registration and fresh evidence runs, so every certified figure comes from one
uninterrupted, pre-registered run. The interrupted attempt's evidence stays in the
store, unclosed, and its runs are listed in the audit's attempt notes.

Monitoring enrollments and checks (``kind`` ``monitor-enroll`` / ``monitor-check``) are
jobs of the same queue, claimed, leased, recovered and resumed like audits, because an
enrollment draws thousands of completions: minutes no HTTP request should hold. A job
that stops half-way leaves an unfinished evidence run that the monitor's replay ignores,
so resuming it simply runs the step again (see :mod:`modelcert.monitor.service`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from modelcert.errors import ModelcertError
from modelcert.registry import MONITOR_ENROLL, MONITOR_JOBS, Conflict, Registry, worker_id
from modelcert.registry.tables import Audit
from modelcert.web.config import LabConfig

log = logging.getLogger("modelcert.web.worker")


class _Stopped(Exception):
    """The registry no longer lists this worker as running the audit (server stopping)."""


class AuditWorker:
    """One thread that takes queued audits one at a time."""

    def __init__(self, registry: Registry, config: LabConfig) -> None:
        self.reg = registry
        self.cfg = config
        self.id = worker_id()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.current: str | None = None
        self.running: dict[str, Any] = {}
        """Audits handed to the cluster (distributed executor): id -> future."""
        self._preregistration: str | None = None  # hash of the running audit's pre-registration record

    def start(self) -> None:
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="modelcert-audit-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop taking audits; an audit still running is marked interrupted (resumable)."""
        self._stop.set()
        for current in {self.current, *self.running} - {None}:
            try:
                self.reg.interrupt(current, self.id, "interrupted: the server stopped during the audit")
            except Conflict:
                pass
        if self._thread is not None:
            self._thread.join(timeout)

    def recover(self) -> list[str]:
        return self.reg.recover_interrupted(self.id, lease=timedelta(seconds=self.cfg.lease_seconds))

    def _loop(self) -> None:
        from modelcert.executors import get_executor

        executor = get_executor(self.cfg.executor)
        if executor.distributed:
            return self._loop_distributed(executor)
        n = 0
        while not self._stop.is_set():
            n += 1
            if n % 10 == 0:
                self.recover()
            try:
                audit = self.reg.claim_next(self.id)
            except Exception:  # the database is briefly unavailable: try again later
                log.exception("cannot claim an audit")
                audit = None
            if audit is None:
                self._stop.wait(self.cfg.poll_seconds)
                continue
            self.current = audit.id
            try:
                self.run_one(audit)
            finally:
                self.current = None

    def _loop_distributed(self, executor: Any) -> None:
        """Claim audits while there is room and hand each one to the cluster."""
        running: dict[str, Any] = self.running  # audit id -> future
        endpoint_of: dict[str, str] = {}
        waiting: list[tuple[Audit, str]] = []
        n = 0
        while not self._stop.is_set():
            n += 1
            if n % 10 == 0:
                self.recover()
            for aid, fut in list(running.items()):
                if fut.done():
                    del running[aid]
                    endpoint_of.pop(aid, None)
                    self._settle(aid, fut)
            busy = Counter(endpoint_of.values())
            for audit, ep in list(waiting):
                if busy[ep] < self.cfg.audits_per_endpoint:
                    waiting.remove((audit, ep))
                    busy[ep] += 1
                    endpoint_of[audit.id] = ep
                    running[audit.id] = executor.submit(run_claimed, self.cfg, self.id, audit.id)
            claimed = None
            if len(running) + len(waiting) < self.cfg.max_audits:
                try:
                    claimed = self.reg.claim_next(self.id)
                except Exception:
                    log.exception("cannot claim an audit")
            if claimed is not None:
                waiting.append((claimed, endpoint(self.reg.version(claimed.version_id).address)))
                continue
            for audit, ep in waiting:  # claimed but waiting for its endpoint: keep the lease fresh
                try:
                    self.reg.progress(audit.id, self.id, done=0, total=1,
                                      note=f"waiting: {self.cfg.audits_per_endpoint} audit(s) already run against {ep}")
                except Conflict:
                    waiting.remove((audit, ep))
            self.current = next(iter(running), None)
            self._stop.wait(self.cfg.poll_seconds)

    def _settle(self, audit_id: str, fut: Any) -> None:
        """A Ray job ended; if it failed rather than finishing the audit, the audit is interrupted."""
        try:
            fut.result()
            return
        except Exception as exc:
            note = f"interrupted: the Ray job failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
        log.warning("audit %s: %s", audit_id, note)
        try:
            self.reg.interrupt(audit_id, self.id, note)
        except Conflict:
            pass  # already finished, failed or taken over

    def run_one(self, audit: Audit) -> None:
        """Run one claimed audit to its end, recording progress, outcome and certificate."""
        stop_beat = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(audit.id, stop_beat), daemon=True)
        beat.start()
        try:
            if audit.kind in MONITOR_JOBS:
                self._run_monitor(audit)
            else:
                report = self._run_engine(audit)
                self._finish(audit, report)
        except _Stopped:
            log.warning("audit %s stopped: the worker lost it", audit.id)
        except ModelcertError as exc:
            self._fail(audit, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        except Exception as exc:  # an engine bug must not kill the worker or look finished
            log.exception("audit %s crashed", audit.id)
            self._fail(audit, f"internal error ({type(exc).__name__}: {exc})")
        finally:
            stop_beat.set()

    def _run_monitor(self, job: Audit) -> None:
        """Run one monitoring enrollment or check; progress is the queries answered so far."""
        from modelcert.evidence.store import EvidenceStore
        from modelcert.monitor.service import Monitor

        opts = json.loads(job.options or "{}")
        actor = job.requested_by

        def progress(done: int, total: int, note: str) -> None:
            if self._stop.is_set():
                raise _Stopped()
            try:
                self.reg.progress(job.id, self.id, done=done, total=max(total, 1), note=note)
            except Conflict:
                raise _Stopped() from None

        with EvidenceStore(self.cfg.db) as store:
            mon = Monitor(store, self.reg, self.cfg.data_dir / "monitor")
            if job.kind == MONITOR_ENROLL:
                plan = dict(opts.get("plan") or {})
                state = mon.enroll(job.version_id, actor=actor, tier=job.tier, seed=opts.get("seed"),
                                   progress=progress, **plan)
                assert state.plan is not None and state.prompt_set is not None
                result: dict[str, Any] = {
                    "enrollment": state.enrollment, "reference_digest": state.reference_digest,
                    "tier": state.plan["tier"], "test": state.plan["test"],
                    "prompt_set_root": state.prompt_set["root"], "blocks_left": state.blocks_left}
                outcome = "enrolled"
            else:
                c = mon.check(job.version_id, actor=actor, seed=opts.get("seed"), progress=progress)
                result = c.to_dict()
                outcome = "alarm" if c.alarm else "no_alarm"
                if c.status_change:  # the alarm suspended the version: the public log says so
                    from modelcert.web.redecision import log_status_change

                    log_status_change(self.cfg, self.reg, self.reg.history(job.version_id)[-1])
        try:
            self.reg.finish_job(job.id, self.id, outcome=outcome, result=result)
        except Conflict:
            raise _Stopped() from None

    def _heartbeat(self, audit_id: str, stop: threading.Event) -> None:
        interval = max(0.5, min(5.0, self.cfg.lease_seconds / 4))
        while not stop.wait(interval):
            try:
                self.reg.heartbeat(audit_id, self.id)
            except Conflict:
                return
            except Exception:
                log.exception("heartbeat failed for audit %s", audit_id)

    def _fail(self, audit: Audit, error: str) -> None:
        try:
            self.reg.fail_audit(audit.id, self.id, error)
        except Conflict:
            pass

    def _run_engine(self, audit: Audit) -> Any:
        from modelcert.policy.audit import AuditOptions, run_audit

        opts = json.loads(audit.options or "{}")
        version = self.reg.version(audit.version_id)
        out = self.cfg.audits_dir / audit.id
        progress: dict[str, Any] = {"done": 0, "total": 0, "runs": []}

        def on_event(event: str, data: dict[str, Any]) -> None:
            if self._stop.is_set():
                raise _Stopped()
            note = None
            if event == "plan":
                progress["total"] = 1 + sum(1 for _rid, runs, _why in data["items"] if runs)
                note = "planned"
            elif event == "preregistered":
                progress["runs"].append(data["run_id"])
                progress["preregistration"] = data["hash"]
                self._log_preregistration(audit, data["run_id"], data["hash"])
                note = f"pre-registered in evidence run {data['run_id']}"
            elif event == "fingerprint":
                progress["done"] += 1
                note = "fingerprint taken"
            elif event == "round":
                note = (
                    f"{data['id']}: round {data['round']}, {data['k']}/{data['n']} "
                    f"(errors {data['errors']}, cap {data['cap']}) {data['verdict']}"
                )
            elif event == "requirement_end" and data["runs"]:
                progress["done"] += 1
                note = f"{data['id']}: {data['result'].verdict}"
            elif event == "outcome":
                note = f"outcome {data['outcome']}"
            if note is None:
                return
            try:
                self.reg.progress(
                    audit.id, self.id, done=progress["done"], total=max(progress["total"], 1), note=note
                )
            except Conflict:
                raise _Stopped() from None

        options = AuditOptions(
            model=version.address,
            policy=self.cfg.policy_ref(audit.policy),
            access=audit.tier,
            out=out,
            db=self.cfg.db,
            only=opts.get("only") or None,
            executor=self.cfg.executor,
        )
        self._preregistration = None
        report = run_audit(options, on_event=on_event)
        self._preregistration = progress.get("preregistration")
        return report

    def _signing_key(self) -> Any:
        return signing_key(self.cfg)

    def _log_preregistration(self, audit: Audit, run_id: str, record_hash: str) -> None:
        """Anchor the pre-registration in the transparency log before any query is sent.

        A lab without a key cannot sign the log; it then publishes no log at all.
        """
        if self.cfg.private_key is None:
            return
        from modelcert.translog import TransparencyLog
        from modelcert.translog.entries import preregistration_entry

        with TransparencyLog(self.cfg.db) as tlog:
            tlog.append(
                preregistration_entry(audit=audit.id, run=run_id, record_hash=record_hash, lab_id=self.cfg.lab_id),
                self._signing_key(),
            )

    def _finish(self, audit: Audit, report: Any) -> None:
        if report.outcome == "error":  # nothing measured: a failed audit, not a verdict to record
            self._fail(audit, report.result.get("outcome_reason") or "most queries errored")
            return
        out = Path(report.files["result"]).parent
        verdicts = [
            {k: r.get(k) for k in ("id", "title", "verdict", "estimate", "bound", "n", "reason", "legal_basis")}
            for r in report.result.get("requirements", [])
        ]
        if self.cfg.monitor_on_certify is not None and report.outcome in ("certified", "conditionally_certified"):
            draw_reference(self.cfg, self.reg, audit.version_id, audit.tier, out / "result.json")
        cert = issued = until = None
        # every outcome is signed and logged, a refusal included: a certificate of refusal
        # says so in its outcome, and the log makes a dropped refusal visible
        if self.cfg.private_key is not None:
            cert, issued, until = self._certify(out, audit.id)
        self.reg.finish_audit(
            audit.id,
            self.id,
            outcome=report.outcome,
            verdicts=verdicts,
            out_dir=str(out),
            certificate=cert,
            issued_at=issued,
            valid_until=until,
        )

    def _certify(self, out: Path, audit_id: str | None = None) -> tuple[bytes, Any, Any]:
        return certify_out(self.cfg, out, self._signing_key(), audit_id=audit_id,
                           preregistration=getattr(self, "_preregistration", None))


def signing_key(config: LabConfig) -> Any:
    """The lab's private key (its passphrase from ``passphrase_env``)."""
    import os

    from modelcert.certify import load_private_key

    assert config.private_key is not None
    passphrase = os.environ.get(config.passphrase_env, "").encode() if config.passphrase_env else None
    return load_private_key(config.private_key, passphrase=passphrase or None)


def certify_out(config: LabConfig, out: Path, key: Any, *, audit_id: str | None,
                preregistration: str | None) -> tuple[bytes, Any, Any]:
    """Sign the result in ``out``, log it, write ``certificate.json``; return it and its dates.

    The one path every lab certificate takes: at the end of an audit (any outcome) and at
    the explicit certification step after a judge review.
    """
    from modelcert.certify import issue_certificate, load_audit_result
    from modelcert.certify.keys import write_new_file
    from modelcert.translog.publish import log_certificate

    result, result_digest = load_audit_result(out)
    data, statement = issue_certificate(
        result, key, lab_id=config.lab_id, valid_days=config.valid_days, result_digest=result_digest
    )
    data = log_certificate(config.db, data, key, audit=audit_id, preregistration=preregistration)
    path = out / "certificate.json"
    if path.exists():  # a resumed audit re-ran, or a review re-decided it: keep the old file beside
        path.rename(out / f"certificate.superseded.{path.stat().st_mtime_ns}.json")
    write_new_file(path, data)
    return data, statement.predicate.issued_at, statement.predicate.valid_until


def draw_reference(config: LabConfig, reg: Registry, version_id: int, tier: str, result: Path) -> str | None:
    """At certification: enroll the version for monitoring (the secret prompt set and the
    reference sample, as evidence) and name the reference sample's digest in the audit
    result, before it is signed. Returns the digest, or None when it cannot be drawn
    (no access grant, the endpoint failing): the audit's outcome stands either way, and
    the lab can enroll later with ``modelcert monitor enroll``.
    """
    from modelcert.evidence.store import EvidenceStore
    from modelcert.monitor.service import Monitor, name_reference

    plan = dict(config.monitor_on_certify or {})
    try:
        with EvidenceStore(config.db) as store:
            state = Monitor(store, reg, config.data_dir / "monitor").enroll(
                version_id, actor="lab-worker", tier=tier if tier in ("api", "logprobs") else None, **plan)
    except ModelcertError as exc:
        log.warning("no monitoring reference for version %s: %s", version_id, exc)
        return None
    assert state.reference_digest is not None
    name_reference(result, state.reference_digest)
    return state.reference_digest


def endpoint(address: str) -> str:
    """The provider endpoint an audit queries: ``openai-api/<service>``, ``local/<model>``..."""
    parts = address.split("/")
    return "/".join(parts[:2]) if len(parts) > 1 else address


def run_claimed(config: LabConfig, worker: str, audit_id: str) -> None:
    """On a cluster worker: run one audit claimed by the server ``worker``, to its end.

    The worker opens the shared registry itself, so progress, heartbeats, the outcome and
    the certificate are recorded exactly as by the in-process worker.
    """
    reg = Registry(config.db)
    try:
        w = AuditWorker(reg, config)
        w.id = worker
        w.run_one(reg.audit(audit_id))
    finally:
        reg.close()
