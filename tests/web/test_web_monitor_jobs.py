"""Monitoring jobs in the lab's worker: queued like audits, one per version at a time,
progress as queries answered, a failure recorded on one line, resumed safely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelcert.registry import MONITOR_CHECK, MONITOR_ENROLL, Conflict, Registry
from modelcert.web.config import LabConfig
from modelcert.web.worker import AuditWorker

PLAN = {"prompts": 3, "per_prompt": 2, "blocks": 2, "max_tokens": 8}


def _run_next(worker: AuditWorker) -> None:
    job = worker.reg.claim_next(worker.id)
    assert job is not None
    worker.run_one(job)


def test_enroll_and_check_jobs_fail_on_one_line_and_resume(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    cfg = LabConfig(db=db, data_dir=tmp_path / "data", worker=False)
    with Registry(db) as reg:
        reg.add_provider("acme")
        v = reg.register_version("acme", "chat", "1", "local/zoo:clean", actor="t")
        worker = AuditWorker(reg, cfg)
        # queued while the version had no grant yet (or it was withdrawn): the job fails, on one line
        job = reg.create_job(v.id, MONITOR_ENROLL, "api", actor="auditor", options={"plan": PLAN, "seed": 1})
        with pytest.raises(Conflict, match="still queued or running"):
            reg.create_job(v.id, MONITOR_CHECK, "api", actor="auditor")
        assert reg.version(v.id).status == "submitted"  # a monitoring job is no audit
        _run_next(worker)
        failed = reg.audit(job.id)
        assert failed.state == "failed" and failed.error == f"model version {v.id} has no access grant; record one first"
        # the grant is recorded; the same job is resumed and draws the reference
        reg.grant_access(v.id, "api", by="t")
        reg.requeue(job.id, actor="auditor")
        _run_next(worker)
        done = reg.audit(job.id)
        assert done.state == "finished" and done.outcome == "enrolled" and done.attempts == 2
        assert done.progress_done == done.progress_total == 3 * 2 * 2
        result = json.loads(done.result or "{}")
        assert result["test"] == "mmd-hamming" and result["blocks_left"] == 2 and len(result["reference_digest"]) == 64
        check = reg.create_job(v.id, MONITOR_CHECK, "api", actor="auditor", options={"seed": 5})
        _run_next(worker)
        c = reg.audit(check.id)
        assert c.state == "finished" and c.outcome == "no_alarm" and c.progress_done == 6
        assert json.loads(c.result or "{}")["block"] == 1
        assert reg.version(v.id).status == "submitted"
        assert [a.id for a in reg.audits(kinds=(MONITOR_ENROLL, MONITOR_CHECK))] == [check.id, job.id]
        assert reg.audits(kinds=("audit",)) == []


def test_a_check_killed_with_the_server_is_resumed_on_a_fresh_block(tmp_path: Path) -> None:
    """SIGKILL while a check job waits on the monitored model: after the restart the job is
    interrupted, the monitor counts no check (the dead run is only "unfinished"), and the
    resumed job finishes check 1 on the next reference block."""
    import signal

    import httpx
    from web_lab import STUB_MODEL, add_version, seed_lab, start_model_server, start_server, wait_for

    lab = seed_lab(tmp_path, queued=False)
    vid = add_version(lab, "monitored-refuser", STUB_MODEL)
    model, env = start_model_server(delay=0.0)
    control = env["STUB_BASE_URL"].removesuffix("/v1") + "/control/delay"
    srv = start_server(lab.db, lab.data, lab.key, worker=True, env=env)
    auth = {"Authorization": f"Bearer {lab.tokens['auditor']}"}

    def job(jid: str) -> dict:
        return httpx.get(f"{srv.url}/api/v1/audits/{jid}", headers=auth, timeout=30).json()

    try:
        r = httpx.post(f"{srv.url}/api/v1/monitor/{vid}/enroll", headers=auth, timeout=30, json=PLAN)
        assert r.status_code == 202, r.text
        wait_for(lambda: job(r.json()["id"])["state"] == "finished", 120, "the enrollment")
        httpx.post(control, json={"seconds": 30}, timeout=10)  # every model call now hangs
        jid = httpx.post(f"{srv.url}/api/v1/monitor/{vid}/check", headers=auth, timeout=30, json={}).json()["id"]
        wait_for(lambda: job(jid)["state"] == "running", 60, "the check to run")
        srv.stop(signal.SIGKILL)
        httpx.post(control, json={"seconds": 0}, timeout=10)

        srv = start_server(lab.db, lab.data, lab.key, worker=True, env=env)
        assert job(jid)["state"] == "interrupted" and job(jid)["outcome"] is None
        state = httpx.get(f"{srv.url}/api/v1/monitor/{vid}", headers=auth, timeout=30).json()
        assert state["checks"] == [] and len(state["unfinished_checks"]) == 1 and state["blocks_left"] == 1
        assert httpx.post(f"{srv.url}/api/v1/audits/{jid}/resume", headers=auth, timeout=30).status_code == 200
        done = wait_for(lambda: (j := job(jid))["state"] in ("finished", "failed") and j, 120, "the resumed check")
        assert done["state"] == "finished" and done["attempts"] == 2, done
        assert done["result"]["check"] == 1 and done["result"]["block"] == 2
        after = httpx.get(f"{srv.url}/api/v1/monitor/{vid}", headers=auth, timeout=30).json()
        assert [c["run_id"] for c in after["checks"]] == [done["result"]["run_id"]] and after["blocks_left"] == 0
    finally:
        srv.stop()
        model.kill()
        model.wait(10)
