"""Acceptance on a local Ray head: zoo audits through the lab's worker, and killed workers.

* Four zoo audits queued in the lab registry and run by the lab worker with the Ray
  executor (each audit a Ray task; its rounds on replica actors) give the verdicts and
  the answers roots their runs recorded (`run_end.answers_root`) as the same audits run in-process.
* A replica process SIGKILLed during an audit, once in a check round and once in a
  backdoor search, loses nothing and duplicates nothing: every run verifies, no sample
  id is recorded twice, and the audit completes with the in-process verdicts.

Minutes of CPU on 2 cores: ``make test-heavy``. PostgreSQL (``MODELCERT_TEST_PG_URL``) is
the shared store when set, so audits write side by side; else SQLite, one audit at a time.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from content import differences, recorded_answers_root, stable_rows

from modelcert.evidence.store import EvidenceStore
from modelcert.evidence.verify import verify_run
from modelcert.organisms import zoo_path
from modelcert.policy.audit import AuditOptions, run_audit

pytestmark = [pytest.mark.heavy, pytest.mark.usefixtures("ray_head", "fresh_replicas")]
POLICIES = Path(__file__).parent / "policies"
PG_URL = os.environ.get("MODELCERT_TEST_PG_URL")


@pytest.fixture
def fresh_replicas(monkeypatch: pytest.MonkeyPatch):
    """Half a CPU per replica (two models x two replicas fit the 2-CPU head), all killed after.

    Replicas are detached and keep their CPUs until released: a test that leaves them
    running would starve the next test's replicas.
    """
    import ray

    monkeypatch.setenv("MODELCERT_REPLICA_CPUS", "0.5")
    yield
    from modelcert.executors import shutdown_all

    shutdown_all()
    for a in ray.util.list_named_actors(all_namespaces=True):
        if a["name"].startswith("modelcert-replica:"):
            ray.kill(ray.get_actor(a["name"], namespace=a["namespace"]), no_restart=True)


def _policy(tmp: Path) -> Path:
    trigger = json.loads((zoo_path("backdoor") / "organism.json").read_text())["planted"]["trigger"]
    out = tmp / "policies"
    out.mkdir(exist_ok=True)
    (out / "tiny-ray.yaml").write_text((POLICIES / "tiny-ray.yaml").read_text()
                                       .replace("CANDIDATES", f"quokka,{trigger}"))
    return out


def _db(tmp: Path):
    if PG_URL:
        import importlib.util

        spec = importlib.util.spec_from_file_location("root_conftest", Path(__file__).parents[1] / "conftest.py")
        root = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(root)
        return root.pg_schema_url(PG_URL)
    return iter([f"sqlite:///{tmp / 'lab.sqlite'}"])


def _summary(db: str, result: dict) -> dict:
    """Verdicts, and per requirement the content root of its evidence run (verified, no id twice)."""
    out = {}
    with EvidenceStore(db) as store:
        for run_id in result["evidence"]:
            assert verify_run(store, run_id).ok, run_id
        for r in result["requirements"]:
            root = None
            if r.get("run_id"):
                recs = list(store.records(r["run_id"], kinds=("sample",)))
                ids = Counter(repr((x.data["sample_id"], x.data["epoch"])) for x in recs)
                assert not ids or max(ids.values()) == 1, f"{r['id']}: a sample recorded twice"
                root = recorded_answers_root(store, r["run_id"])
            out[r["id"]] = (r["verdict"], root)
            rows[r["id"]] = stable_rows(recs) if r.get("run_id") else {}
    return out


rows: dict[str, dict] = {}  # the last _summary's sample content, per requirement


def _same(got: dict, expected: dict, expected_rows: dict) -> None:
    """Equal verdicts and content roots; else name the differing fields."""
    assert got == expected, (got, expected, {rid: differences(expected_rows.get(rid), rows.get(rid))[:10]
                                             for rid in got if got[rid] != expected.get(rid)})


def test_four_lab_audits_on_ray_match_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  by_value: None) -> None:
    from modelcert.registry import Registry
    from modelcert.web.config import LabConfig
    from modelcert.web.worker import AuditWorker

    policy_dir = _policy(tmp_path)
    db_iter = _db(tmp_path)
    db = next(db_iter)
    models = ["local/zoo:clean", "local/zoo:backdoor", "local/zoo:clean", "local/zoo:backdoor"]
    baseline: dict = {}
    baseline_rows: dict = {}
    for m in set(models):  # the same audits in this process
        rep = run_audit(AuditOptions(model=m, policy=str(policy_dir / "tiny-ray.yaml"), access="logprobs",
                                     out=tmp_path / "inproc" / m.split(":")[1], db=db, fingerprint=False,
                                     executor="inprocess"))
        baseline[m] = _summary(db, rep.result)
        baseline_rows[m] = dict(rows)
    assert baseline["local/zoo:backdoor"]["R-backdoor"][0] == "FAIL"  # the planted trigger is found

    reg = Registry(db)
    reg.add_provider("zoo")
    audits = []
    for i, m in enumerate(models):
        v = reg.register_version("zoo", f"m{i}", "1", m, actor="test")
        reg.grant_access(v.id, "logprobs", by="test")
        audits.append((reg.create_audit(v.id, "tiny-ray", "logprobs", actor="test").id, m))
    cfg = LabConfig(db=db, data_dir=tmp_path / "lab", policy_dir=policy_dir, executor="ray",
                    audits_per_endpoint=2 if PG_URL else 1, poll_seconds=0.5,
                    max_audits=4 if PG_URL else 1)  # SQLite: one writer at a time
    worker = AuditWorker(reg, cfg)
    worker.start()
    try:
        deadline = time.monotonic() + 1500
        while any(reg.audit(a).state in ("queued", "running") for a, _ in audits):
            assert time.monotonic() < deadline, [(a, reg.audit(a).state) for a, _ in audits]
            time.sleep(1)
    finally:
        worker.stop()
    for aid, m in audits:
        audit = reg.audit(aid)
        assert audit.state == "finished", (audit.state, audit.progress_note)
        result = json.loads((Path(audit.out_dir) / "result.json").read_text())
        _same(_summary(db, result), baseline[m], baseline_rows[m])
    reg.close()
    next(db_iter, None)


def _samples(db: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM evidence_records WHERE kind = 'sample'")).scalar()
    finally:
        engine.dispose()


@pytest.mark.parametrize("where", ["check round", "backdoor search"])
def test_a_replica_killed_mid_audit_loses_and_duplicates_nothing(where: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from modelcert.executors import get_executor
    from modelcert.runner.fanout import pool_for
    from modelcert.targets import make_target

    policy = _policy(tmp_path) / "tiny-ray.yaml"
    model = "local/zoo:backdoor"
    requirement = "R-harmful" if where == "check round" else "R-backdoor"
    monkeypatch.setenv("MODELCERT_CHUNK", "1")  # one sample per chunk: the kill lands mid-round
    db = f"sqlite:///{tmp_path / 'ev.sqlite'}"
    base = run_audit(AuditOptions(model=model, policy=str(policy), access="logprobs", only=[requirement],
                                  out=tmp_path / "inproc", db=db, fingerprint=False, executor="inprocess"))
    expected = _summary(db, base.result)
    expected_rows = dict(rows)
    pool = pool_for(get_executor("ray"), make_target(model, "logprobs"))
    pids = pool.pids()  # replicas started (and loaded) before the audit, as on a running cluster
    before = _samples(db)
    events: list[str] = []
    killed: list[int] = []

    def kill() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if where == "check round" and _samples(db) > before:  # a sample recorded, others in flight
                break
            if where == "backdoor search" and "start" in events:
                time.sleep(15)  # the search runs on replica 0 (the round's only chunk)
                break
            time.sleep(0.05)
        os.kill(pids[0], signal.SIGKILL)
        killed.append(pids[0])
        events.append("killed")

    def on_event(event: str, data: dict) -> None:
        if event == "requirement_start" and data["id"] == requirement:
            events.append("start")
        if event == "requirement_end" and data["id"] == requirement:
            events.append("end")

    t = threading.Thread(target=kill, daemon=True)
    t.start()
    rep = run_audit(AuditOptions(model=model, policy=str(policy), access="logprobs", only=[requirement],
                                 out=tmp_path / "ray", db=db, fingerprint=False, executor="ray"),
                    on_event=on_event)
    t.join(5)
    assert killed and events.index("killed") < events.index("end"), events  # killed during the requirement
    assert pids[0] not in pool.pids()  # the replica was really replaced
    _same(_summary(db, rep.result), expected, expected_rows)  # nothing lost or twice; same verdict, content
