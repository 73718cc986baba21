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
