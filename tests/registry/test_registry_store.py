"""The registry against real databases: schema, lifecycle, audits, credentials."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from modelcert.errors import AccessError, ConfigError, ModelcertError
from modelcert.registry import (
    INTERRUPTED,
    QUEUED,
    RUNNING,
    TRANSITIONS,
    Conflict,
    IllegalTransition,
    NotFound,
    Registry,
    RegistryError,
    Status,
)
from modelcert.registry.lifecycle import reserved
from modelcert.registry.tables import Base

DIGEST = "ab" * 32


def _version(reg: Registry, name: str = "m", provider: str = "acme"):
    try:
        reg.provider(provider)
    except NotFound:
        reg.add_provider(provider)
    return reg.register_version(provider, name, "1.0", "local/zoo:clean", actor="alice", identity_digest=DIGEST)


def test_migration_matches_orm_schema(reg: Registry) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with reg.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": "registry_alembic_version"})
        diff = [d for d in compare_metadata(ctx, Base.metadata) if "evidence" not in str(d)]
    assert diff == []


def test_shares_a_database_with_the_evidence_store(db_url: str) -> None:
    from modelcert.evidence.store import EvidenceStore

    with EvidenceStore(db_url) as ev, Registry(db_url) as reg:
        run = ev.create_run()
        v = _version(reg)
        assert ev.resolve_run(run) == run
        assert reg.version(v.id).status == "submitted"
    with Registry(db_url) as again:  # reopening skips the migration and keeps the data
        assert again.counts()["versions"] == 1


def test_lifecycle_with_history_and_reasons(reg: Registry) -> None:
    v = _version(reg)
    reg.grant_access(v.id, "weights", by="bob", note="checkpoint handed over")
    a = reg.create_audit(v.id, "smoke", "api", actor="alice")
    assert reg.version(v.id).status == "under_audit"
    claimed = reg.claim_next("w1")
    assert claimed is not None and claimed.id == a.id and claimed.state == RUNNING
    reg.progress(a.id, "w1", done=3, total=10, note="round 1")
    now = datetime.now(UTC).replace(microsecond=0)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from modelcert.certify import dsse

    cert_file = dsse.envelope_bytes(dsse.sign(b'{"x":1}', "text/plain", Ed25519PrivateKey.generate()))
    done = reg.finish_audit(
        a.id,
        "w1",
        outcome="certified",
        verdicts=[{"id": "r1", "verdict": "PASS"}],
        out_dir="/tmp/x",
        certificate=cert_file,
        issued_at=now,
        valid_until=now + timedelta(days=1),
    )
    assert done.state == "finished" and done.outcome == "certified" and done.progress_done == 10
    assert reg.version(v.id).status == "certified"
    [cert] = reg.certificates(version_id=v.id)
    assert cert.audit_id == a.id and cert.id == hashlib.sha256(b'{"x":1}').hexdigest()  # the payload's digest
    reg.set_status(v.id, "suspended", reason="fingerprint drift", actor="monitor")
    with pytest.raises(IllegalTransition):  # reinstating only to the status before suspension
        reg.set_status(v.id, "conditionally_certified", reason="x", actor="carol")
    reg.set_status(v.id, "certified", reason="drift was a logging bug", actor="carol")
    reg.set_status(v.id, "revoked", reason="provider withdrew", actor="carol")
    with pytest.raises(IllegalTransition, match="none \\(final\\)"):
        reg.set_status(v.id, "under_audit", reason="again", actor="carol")
    hist = reg.history(v.id)
    assert [(e.from_status, e.to_status) for e in hist] == [
        (None, "submitted"),
        ("submitted", "under_audit"),
        ("under_audit", "certified"),
        ("certified", "suspended"),
        ("suspended", "certified"),
        ("certified", "revoked"),
    ]
    assert [e.seq for e in hist] == list(range(6))
    assert hist[3].reason == "fingerprint drift" and hist[3].actor == "monitor"
    assert hist[2].audit_id == a.id


def _drive_to(reg: Registry, vid: int, target: Status) -> None:
    paths = {
        Status.SUBMITTED: [],
        Status.UNDER_AUDIT: ["under_audit"],
        Status.CERTIFIED: ["under_audit", "certified"],
        Status.CONDITIONALLY_CERTIFIED: ["under_audit", "conditionally_certified"],
        Status.REFUSED: ["under_audit", "refused"],
        Status.ACCESS_REFUSED: ["access_refused"],
        Status.RESTRICTED: ["access_refused", "restricted"],
        Status.SUSPENDED: ["under_audit", "certified", "suspended"],
        Status.REVOKED: ["under_audit", "certified", "revoked"],
        Status.EXPIRED: ["under_audit", "certified", "expired"],
        Status.CERTIFIABLE: [],
    }
    for step in paths[target]:
        reg.set_status(vid, step, reason=f"to {step}", actor="t")
    if target is Status.CERTIFIABLE:  # only a judge review's redecision of the latest audit gets there
        reg.grant_access(vid, "api", by="t")
        a = reg.create_audit(vid, "p", "api", actor="t")
        w = reg.claim_next("w").worker
        reg.finish_audit(a.id, w, outcome="refused", verdicts=[], out_dir="x")
        reg.record_redecision(a.id, outcome="certified", verdicts=[], to=Status.CERTIFIABLE, reason="review", actor="t")
    assert reg.version(vid).status == target.value


def test_every_transition_is_allowed_or_rejected_as_declared(tmp_path) -> None:
    reg = Registry(f"sqlite:///{tmp_path / 'lc.sqlite'}")
    reg.add_provider("p")
    n = 0
    for src in Status:
        for dst in Status:
            n += 1
            v = reg.register_version("p", f"m{n}", "1", "local/x", actor="t")
            _drive_to(reg, v.id, src)
            before = len(reg.history(v.id))
            reinstated = src is Status.SUSPENDED and dst is Status.CERTIFIED
            if (dst in TRANSITIONS[src] or reinstated) and reserved(src, dst) is None:
                reg.set_status(v.id, dst.value, reason="ok", actor="t")
                assert reg.version(v.id).status == dst.value
                assert len(reg.history(v.id)) == before + 1
            else:
                with pytest.raises(IllegalTransition):
                    reg.set_status(v.id, dst.value, reason="no", actor="t")
                assert reg.version(v.id).status == src.value
                assert len(reg.history(v.id)) == before  # nothing half-written
    reg.close()


def test_status_change_needs_reason_and_known_status(reg: Registry) -> None:
    v = _version(reg)
    with pytest.raises(RegistryError, match="reason"):
        reg.set_status(v.id, "under_audit", reason="  ", actor="x")
    with pytest.raises(RegistryError, match="unknown status"):
        reg.set_status(v.id, "approved", reason="r", actor="x")
    with pytest.raises(NotFound):
        reg.set_status(99999, "under_audit", reason="r", actor="x")


def test_history_is_append_only_in_the_database(reg: Registry) -> None:
    v = _version(reg)
    for sql in (
        "UPDATE registry_status_events SET reason = 'rewritten'",
        "DELETE FROM registry_status_events",
    ):
        with pytest.raises(Exception, match="append-only"), reg.engine.begin() as conn:
            conn.execute(text(sql))
    assert reg.history(v.id)[0].reason == "submitted for certification"


def test_audit_needs_a_grant_covering_its_tier(reg: Registry) -> None:
    v = _version(reg)
    with pytest.raises(AccessError, match="no access grant"):
        reg.create_audit(v.id, "smoke", "api", actor="a")
    reg.grant_access(v.id, "api", by="b")
    with pytest.raises(AccessError, match="granted 'api'"):
        reg.create_audit(v.id, "smoke", "weights", actor="a")
    with pytest.raises(ConfigError):
        reg.grant_access(v.id, "root", by="b")
    assert reg.version(v.id).status == "submitted"  # nothing changed by the refused requests
    assert reg.audits() == []


def test_audit_refused_for_a_revoked_version_leaves_nothing(reg: Registry) -> None:
    v = _version(reg)
    reg.grant_access(v.id, "api", by="b")
    _drive_to(reg, v.id, Status.REVOKED)
    with pytest.raises(IllegalTransition):
        reg.create_audit(v.id, "smoke", "api", actor="a")
    assert reg.audits() == []  # the audit row rolled back with the refused transition


def test_concurrent_claims_take_each_audit_once(reg: Registry) -> None:
    v = _version(reg)
    reg.grant_access(v.id, "api", by="b")
    ids = {reg.create_audit(v.id, "smoke", "api", actor="a").id for _ in range(6)}
    got: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (a := reg.claim_next(name)) is not None:
            with lock:
                got.append(a.id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(ids)


def test_dead_worker_audit_becomes_interrupted_and_resumable(reg: Registry, db_url: str) -> None:
    v = _version(reg)
    reg.grant_access(v.id, "api", by="b")
    a = reg.create_audit(v.id, "smoke", "api", actor="a")
    # a real separate process claims the audit, reports progress, and dies
    code = (
        "import sys; from modelcert.registry import Registry, worker_id\n"
        "r = Registry(sys.argv[1]); w = worker_id(); a = r.claim_next(w)\n"
        "r.progress(a.id, w, done=4, total=9)\n"
    )
    subprocess.run([sys.executable, "-c", code, db_url], check=True, timeout=60)
    assert reg.audit(a.id).state == RUNNING  # the database alone cannot tell yet
    assert reg.recover_interrupted("me") == [a.id]
    got = reg.audit(a.id)
    assert got.state == INTERRUPTED and got.progress_done == 4 and got.outcome is None
    assert "4/9" in (got.progress_note or "")
    assert reg.version(v.id).status == "under_audit"  # never falsely finished
    with pytest.raises(Conflict):
        reg.progress(a.id, got.worker or "", done=5, total=9)
    assert reg.requeue(a.id, actor="alice").state == QUEUED
    with pytest.raises(Conflict, match="only interrupted or failed"):
        reg.requeue(a.id, actor="alice")
    assert reg.claim_next("w2").attempts == 2  # type: ignore[union-attr]


def test_stale_heartbeat_counts_as_interrupted(reg: Registry) -> None:
    v = _version(reg)
    reg.grant_access(v.id, "api", by="b")
    a = reg.create_audit(v.id, "smoke", "api", actor="a")
    reg.claim_next("other-host:1:abc")
    assert reg.recover_interrupted("me", lease=timedelta(hours=1)) == []
    assert reg.recover_interrupted("me", lease=timedelta(seconds=0)) == [a.id]


def test_users_passwords_and_tokens_are_hashed(reg: Registry) -> None:
    reg.add_provider("acme")
    reg.create_user("root", "admin", password="correct horse")
    reg.create_user("pat", "provider", provider="acme")
    tok = reg.issue_token("pat")
    assert tok.startswith("mct_") and len(tok) > 40
    with reg.engine.connect() as conn:
        dump = " ".join(
            str(r)
            for t in ("registry_users", "registry_tokens")
            for r in conn.execute(text(f"SELECT * FROM {t}")).all()
        )
    assert "correct horse" not in dump and tok not in dump and "scrypt$" in dump
    assert reg.user_for_password("root", "correct horse").username == "root"  # type: ignore[union-attr]
    assert reg.user_for_password("root", "wrong horse") is None
    assert reg.user_for_password("nobody", "correct horse") is None
    assert reg.user_for_token(tok).username == "pat"  # type: ignore[union-attr]
    assert reg.user_for_token(tok + "x") is None
    assert reg.revoke_tokens("pat") == 1
    assert reg.user_for_token(tok) is None
    tok2 = reg.issue_token("root")
    reg.disable_user("root")
    assert reg.user_for_token(tok2) is None and reg.user_for_password("root", "correct horse") is None
    with pytest.raises(Conflict):
        reg.create_user("root", "auditor", password="another one")
    with pytest.raises(RegistryError, match="needs --provider"):
        reg.create_user("x", "provider")
    with pytest.raises(RegistryError, match="unknown role"):
        reg.create_user("x", "public")
    with pytest.raises(RegistryError, match="at least 8"):
        reg.create_user("y", "admin", password="short")


def test_duplicates_and_bad_input(reg: Registry) -> None:
    _version(reg)
    with pytest.raises(Conflict):
        _version(reg)
    with pytest.raises(Conflict):
        reg.add_provider("acme")
    with pytest.raises(RegistryError, match="identity digest"):
        reg.register_version("acme", "m2", "1", "local/x", actor="a", identity_digest="XYZ")
    with pytest.raises(NotFound):
        reg.register_version("nope", "m", "1", "local/x", actor="a")


def test_provider_scoping(reg: Registry) -> None:
    va = _version(reg, "a", "acme")
    vb = _version(reg, "b", "globex")
    for v in (va, vb):
        reg.grant_access(v.id, "api", by="x")
        reg.create_audit(v.id, "smoke", "api", actor="x")
    acme = reg.provider("acme").id
    assert [v.id for v in reg.versions(provider_id=acme)] == [va.id]
    assert {a.version_id for a in reg.audits(provider_id=acme)} == {va.id}
    assert len(reg.audits()) == 2


def test_unusable_locations_give_one_line_errors(tmp_path) -> None:
    bad = tmp_path / "corrupt.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ModelcertError) as err:
        Registry(str(bad))
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError):
        Registry("nosuchdriver://x/y")


def test_migration_0002_rekeys_old_certificates_by_payload_digest(tmp_path) -> None:
    """A registry written before 0002 keyed certificates by file hash; reopening re-keys them."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from sqlalchemy import text

    from modelcert.certify import dsse

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    body = dsse.envelope_bytes(dsse.sign(b'{"old":true}', "text/plain", Ed25519PrivateKey.generate()))
    with Registry(url) as reg:
        v = _version(reg)
        reg.grant_access(v.id, "api", by="t")
        a = reg.create_audit(v.id, "smoke", "api", actor="t")
        reg.claim_next("w")
        now = datetime.now(UTC)
        reg.finish_audit(a.id, "w", outcome="certified", verdicts=[], out_dir="/x", certificate=body,
                         issued_at=now, valid_until=now + timedelta(days=1))
        with reg.engine.begin() as conn:  # back to how 0001 stored it
            conn.execute(text("UPDATE registry_certificates SET id = :f"), {"f": hashlib.sha256(body).hexdigest()})
            conn.execute(text("UPDATE registry_alembic_version SET version_num = '0001'"))
    with Registry(url) as reg:
        [cert] = reg.certificates()
    assert cert.id == hashlib.sha256(b'{"old":true}').hexdigest()


def test_migration_0003_makes_old_audits_jobs_of_kind_audit(tmp_path) -> None:
    """A registry written before 0003 has no job kind; upgrading keeps its audits as audits."""
    from pathlib import Path

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from modelcert.registry import MONITOR_ENROLL
    from modelcert.registry import store as store_module

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    with Registry(url) as reg:
        v = _version(reg)
        reg.grant_access(v.id, "api", by="t")
        a = reg.create_audit(v.id, "smoke", "api", actor="t")
        cfg = Config()
        cfg.set_main_option("script_location", str(Path(store_module.__file__).with_name("migrations")))
        with reg.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0002")
        with reg.engine.connect() as conn:
            assert "kind" not in {c["name"] for c in inspect(conn).get_columns("registry_audits")}
            assert conn.execute(text("SELECT version_num FROM registry_alembic_version")).scalar() == "0002"
    with Registry(url) as reg:
        assert reg.audit(a.id).kind == "audit" and reg.audit(a.id).result is None
        job = reg.create_job(v.id, MONITOR_ENROLL, "api", actor="t")
        assert [x.id for x in reg.audits(kinds=("audit",))] == [a.id]
        assert reg.audit(job.id).kind == MONITOR_ENROLL and reg.version(v.id).status == "under_audit"


def test_the_database_refuses_a_second_live_monitor_job_when_two_requests_race(reg: Registry, monkeypatch) -> None:
    """Two requests that both pass the store's check before either inserts: the partial unique
    index refuses the second insert, and the store answers it as the same Conflict."""
    from modelcert.registry import MONITOR_CHECK, MONITOR_ENROLL

    v = _version(reg)
    first = reg.create_job(v.id, MONITOR_ENROLL, "api", actor="t")
    monkeypatch.setattr(Registry, "_refuse_second_monitor_job", staticmethod(lambda *a, **k: None))  # the race
    with pytest.raises(Conflict, match="still queued or running"):
        reg.create_job(v.id, MONITOR_CHECK, "api", actor="t")
    assert [a.id for a in reg.audits(kinds=(MONITOR_ENROLL, MONITOR_CHECK))] == [first.id]  # nothing half-written
    other = _version(reg, name="other")
    assert reg.create_job(other.id, MONITOR_CHECK, "api", actor="t").version_id == other.id  # per version only
