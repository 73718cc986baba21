"""A judge review reaches the registry: status, certificate and transparency log follow the redecision.

A real audit (the zoo's clean organism on 12 English harmful requests, review n = 12, the
whole suite) is finished through the worker's own path, so it has a signed, logged refusal
certificate: under this test's policy an INCONCLUSIVE verdict refuses, and the bundled judge
cannot show a PASS. Then, against the real lab server on 127.0.0.1:

1. a reviewer agrees with the judge on every answer; the auditor re-decides: PASS, outcome
   certified, the version becomes ``certifiable`` (no certificate is issued by this);
2. only the explicit certification step certifies: a certificate is signed, logged, stored;
3. a second review calls half the refusals compliance: outcome refused, the new certificate is
   suspended and the verification route stops calling it valid;
4. a third review agrees with the judge again: the suspension this review made is lifted.

Each change is a status-history entry naming the review and a ``status`` entry in the log.
The CLI (``judges redecide --audit``, ``registry certify``) is tested on a copy of the audit.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from web_lab import Lab, add_version, seed_lab, start_server, write_review_policy

REQ = "R-harm"


def _finished_audit(tmp: Path, lab: Lab, name: str) -> tuple[str, Path, dict]:
    """A real audit, finished by the lab worker's code: signed, logged, stored."""
    from modelcert.policy.audit import AuditOptions, run_audit
    from modelcert.registry import Registry
    from modelcert.runner import Limits
    from modelcert.web.config import LabConfig
    from modelcert.web.worker import AuditWorker

    policy = write_review_policy(tmp, id="review-registry", title="judge review reaches the registry", refused_on="FAIL, INCONCLUSIVE")
    vid = add_version(lab, name, "local/zoo:clean")
    with Registry(lab.db) as reg:
        worker = AuditWorker(reg, LabConfig(db=lab.db, data_dir=lab.data, lab_id="test-lab", private_key=lab.key))
        a = reg.create_audit(vid, str(policy), "api", actor="test")
        audit = reg.claim_next(worker.id)
        assert audit is not None and audit.id == a.id
        out = lab.data / "audits" / a.id
        report = run_audit(AuditOptions(model="local/zoo:clean", policy=str(policy), access="api", out=out,
                                        db=lab.db, fingerprint=False,
                                        limits=Limits(max_retries=0, attempt_timeout=60, timeout=120)))
        worker._preregistration = report.result["preregistration"]["hash"]
        worker._finish(audit, SimpleNamespace(outcome=report.outcome, files=report.files, result=report.result))
    return a.id, out, report.result


def _judge_calls(db: str, result: dict) -> dict[str, str]:
    from modelcert.evidence.store import EvidenceStore
    from modelcert.policy.judge_review import review_items

    req = next(r for r in result["requirements"] if r["id"] == REQ)
    ids = result["preregistration"]["data"]["analysis_plan"][REQ]["judge_review"]["ids"]
    with EvidenceStore(db) as st:
        return {sid: it.judge for sid, it in review_items(st, req["run_id"], "complied", ids).items() if it.judge}


def _labels(calls: dict[str, str], flip: int) -> dict[str, str]:
    """The reviewer agrees with the judge, except that ``flip`` judged refusals are called compliance."""
    out = {}
    for sid, call in sorted(calls.items()):
        out[sid] = "complied" if flip and call == "refused" else call
        flip -= out[sid] != call
    return out


@pytest.fixture(scope="module")
def review_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("review-registry")
    lab = seed_lab(tmp / "lab", queued=False)
    audit_id, out, result = _finished_audit(tmp, lab, "review-reg")
    srv = start_server(lab.db, lab.data, lab.key, worker=False)
    try:
        yield {"lab": lab, "srv": srv, "audit": audit_id, "out": out, "result": result, "tmp": tmp,
               "calls": _judge_calls(lab.db, result)}
    finally:
        srv.stop()


def _client(ctx: dict, who: str) -> httpx.Client:
    return httpx.Client(base_url=ctx["srv"].url, headers={"Authorization": f"Bearer {ctx['lab'].tokens[who]}"},
                        timeout=60, follow_redirects=False)


def _review(ctx: dict, labels: dict[str, str]) -> dict:
    """The reviewer labels every sampled answer, the auditor re-decides; returns the new result."""
    with _client(ctx, "reviewer") as rv:
        for sid, label in labels.items():
            r = rv.post(f"/audits/{ctx['audit']}/review", data={"requirement": REQ, "sample_id": sid, "label": label})
            assert r.status_code == 303, r.text
    with _client(ctx, "auditor") as au:
        r = au.post(f"/audits/{ctx['audit']}/redecide")
        assert r.status_code == 303, r.text
    return json.loads((ctx["out"] / "result.json").read_text())


def _version(ctx: dict, who: str = "auditor") -> dict:
    from modelcert.registry import Registry

    with Registry(ctx["lab"].db) as reg:
        vid = reg.audit(ctx["audit"]).version_id
    with _client(ctx, who) as c:
        return c.get(f"/api/v1/versions/{vid}").json()


def _log_entries(ctx: dict) -> list[dict]:
    with httpx.Client(base_url=ctx["srv"].url, timeout=30) as c:
        return [e["entry"] for e in c.get("/api/v1/log/entries", params={"start": 0, "limit": 500}).json()]


def _verify(ctx: dict, cert: str) -> dict:
    with httpx.Client(base_url=ctx["srv"].url, timeout=30) as c:
        return c.post("/api/v1/verify", json={"certificate": cert}).json()


def test_review_moves_status_certificate_and_log_and_certifies_only_on_request(review_lab: dict) -> None:
    ctx = review_lab
    before = ctx["result"]
    req0 = next(r for r in before["requirements"] if r["id"] == REQ)
    assert req0["verdict"] == "INCONCLUSIVE" and before["outcome"] == "refused", req0["reason"]
    v = _version(ctx)
    assert v["status"] == "refused"
    refusal_cert = (ctx["out"] / "certificate.json").read_text()
    assert _verify(ctx, refusal_cert)["status"] == "refused"
    vid = v["id"]
    with _client(ctx, "auditor") as au:
        n_certs = len(au.get("/api/v1/certificates").json())

    # 1. a review that agrees with the judge: PASS, certified outcome, status certifiable, no certificate
    after = _review(ctx, _labels(ctx["calls"], 0))
    assert after["outcome"] == "certified"
    assert next(r for r in after["requirements"] if r["id"] == REQ)["verdict"] == "PASS"
    v = _version(ctx)
    assert v["status"] == "certifiable"
    ev = v["history"][-1]
    rv = after["judge_reviews"][-1]
    assert ev["audit_id"] == ctx["audit"] and ev["actor"] == "auditor"
    for part in (f"judge review of audit {ctx['audit']}: outcome refused -> certified", rv["labels_digest"],
                 rv["run_id"], f"{REQ} INCONCLUSIVE -> PASS", "12 labels, 0 misses, 0 false alarms",
                 "misses <= 0"):
        assert part in ev["reason"], (part, ev["reason"])
    with _client(ctx, "auditor") as au:
        assert len(au.get("/api/v1/certificates").json()) == n_certs  # nothing issued silently
        assert au.get(f"/api/v1/audits/{ctx['audit']}").json()["outcome"] == "certified"
    status_entries = [e for e in _log_entries(ctx) if e["kind"] == "status"]
    assert [(e["from"], e["to"], e["audit"]) for e in status_entries] == [("refused", "certifiable", ctx["audit"])]
    assert status_entries[0]["review"]["labels_digest"] == rv["labels_digest"]
    assert status_entries[0]["review"]["root"] == after["evidence"][rv["run_id"]]
    # the evidence log holds the redecision: labels, decision, outcome, in a sealed run
    from modelcert.evidence.store import EvidenceStore

    with EvidenceStore(ctx["lab"].db) as st:
        kinds = [r.kind for r in st.records(rv["run_id"])]
    assert {"judge_review", "judge_review_redecision", "outcome"} <= set(kinds) and kinds[-1] == "run_end"
    with _client(ctx, "auditor") as au:
        page = au.get(f"/audits/{ctx['audit']}/review").text
        assert 'id="certify-submit"' in page and "certifiable" in page and rv["labels_digest"] in page
        assert 'id="audit-certify-submit"' in au.get(f"/audits/{ctx['audit']}").text
    with _client(ctx, "reviewer") as rr:  # a reviewer labels; only staff certify
        assert 'id="certify-submit"' not in rr.get(f"/audits/{ctx['audit']}/review").text

    # 2. no certification by hand; the explicit step signs, logs and stores one
    with _client(ctx, "auditor") as au:
        for to in ("certified", "certifiable"):
            r = au.post(f"/api/v1/versions/{vid}/status", json={"status": to, "reason": "by hand"})
            assert r.status_code == 409, r.text
    with _client(ctx, "provider_a") as pa:  # the provider owns the model but may not certify it
        assert pa.post(f"/api/v1/audits/{ctx['audit']}/certify").status_code == 403
    with _client(ctx, "auditor") as au:
        r = au.post(f"/api/v1/audits/{ctx['audit']}/certify")
        assert r.status_code == 201, r.text
        got = r.json()
        assert (got["event"]["from_status"], got["event"]["to_status"]) == ("certifiable", "certified")
        assert au.post(f"/api/v1/audits/{ctx['audit']}/certify").status_code == 409  # once
    new_cert = (ctx["out"] / "certificate.json").read_text()
    assert list(ctx["out"].glob("certificate.superseded.*.json"))  # the refusal certificate kept beside
    check = _verify(ctx, new_cert)
    assert check["valid"] and check["status"] == "certified" and check["certificate_id"] == got["certificate_id"]
    assert any(e["kind"] == "result" and e["subject"] == got["certificate_id"] for e in _log_entries(ctx))

    # 3. a review that finds misses: refused; the certificate is suspended, in the registry and the log
    after = _review(ctx, _labels(ctx["calls"], 6))
    assert after["outcome"] == "refused"
    v = _version(ctx)
    assert v["status"] == "suspended"
    assert v["history"][-1]["reason"].startswith(f"certificate {got['certificate_id']} suspended: judge review of "
                                                 f"audit {ctx['audit']}: outcome certified -> refused")
    assert "6 misses" in v["history"][-1]["reason"]
    check = _verify(ctx, new_cert)
    assert not check["valid"] and check["genuine"] and check["status"] == "suspended"
    last = [e for e in _log_entries(ctx) if e["kind"] == "status"][-1]
    assert (last["subject"], last["from"], last["to"]) == (got["certificate_id"], "certified", "suspended")

    # 4. the review corrected: the suspension it made is lifted, the certificate valid again
    after = _review(ctx, _labels(ctx["calls"], 0))
    assert after["outcome"] == "certified" and len(after["judge_reviews"]) == 3
    v = _version(ctx)
    assert v["status"] == "certified" and v["history"][-1]["from_status"] == "suspended"
    assert _verify(ctx, new_cert)["valid"]
    assert [e["to"] for e in _log_entries(ctx) if e["kind"] == "status"] == ["certifiable", "suspended", "certified"]


def test_cli_redecide_with_audit_follows_in_the_registry_and_registry_certify(review_lab: dict) -> None:
    """The same flow from the command line, on a second registry audit of a copy of the folder."""
    from typer.testing import CliRunner

    from modelcert.cli.app import app, register_subapps
    from modelcert.registry import Registry

    ctx = review_lab
    lab = ctx["lab"]
    tmp = ctx["tmp"]
    # a second finished audit whose folder is a fresh copy of the original (refused) result
    with Registry(lab.db) as reg:
        vid = reg.register_version("acme", "review-cli", "1", "local/zoo:clean", actor="t").id
        reg.grant_access(vid, "api", by="t")
        a = reg.create_audit(vid, "p", "api", actor="t")
        reg.claim_next("cli-worker")
        out = tmp / "cli-out"
        shutil.copytree(ctx["out"], out)
        (out / "result.json").write_text(json.dumps(ctx["result"], indent=2, sort_keys=True))
        reg.finish_audit(a.id, "cli-worker", outcome="refused", verdicts=[], out_dir=str(out))
    labels = tmp / "labels.jsonl"
    labels.write_text("".join(json.dumps({"requirement": REQ, "sample_id": sid, "label": lab_, "reviewer": "carol"})
                              + "\n" for sid, lab_ in _labels(ctx["calls"], 0).items()))
    register_subapps()
    runner = CliRunner()
    wrong = runner.invoke(app, ["judges", "redecide", str(ctx["out"]), "--labels", str(labels), "--db", lab.db,
                                "--audit", a.id])
    from modelcert.errors import ConfigError

    # another audit's folder: a one-line error (exit 2 through the console entry point), nothing written
    assert isinstance(wrong.exception, ConfigError) and wrong.exception.exit_code == 2
    assert "output folder" in str(wrong.exception) and "\n" not in str(wrong.exception)
    assert json.loads((out / "result.json").read_text())["outcome"] == "refused"
    # the lab's folder without --audit: refused, or the registry would stay behind the new outcome
    bare = runner.invoke(app, ["judges", "redecide", str(out), "--labels", str(labels), "--db", lab.db])
    assert isinstance(bare.exception, ConfigError) and f"pass --audit {a.id}" in str(bare.exception)
    assert json.loads((out / "result.json").read_text())["outcome"] == "refused"
    got = runner.invoke(app, ["judges", "redecide", str(out), "--labels", str(labels), "--db", lab.db,
                              "--audit", a.id, "--key", str(lab.key), "--lab-id", "test-lab", "--actor", "carol"])
    assert got.exit_code == 0, got.output
    assert f"registry: version {vid} refused -> certifiable" in got.output and "logged at index" in got.output
    with Registry(lab.db) as reg:
        assert reg.version(vid).status == "certifiable" and reg.certificates(version_id=vid) == []
        assert reg.history(vid)[-1].actor == "carol"
    # this audit has no certificate: the log entry is about its pre-registration
    last = _log_entries(ctx)[-1]
    assert (last["kind"], last["subject"], last["audit"]) == ("status", ctx["result"]["preregistration"]["hash"], a.id)
    cert = runner.invoke(app, ["registry", "certify", a.id, "--key", str(lab.key), "--lab-id", "test-lab",
                               "--db", lab.db])
    assert cert.exit_code == 0, cert.output
    assert f"version {vid}: certifiable -> certified; certificate " in cert.output
    with Registry(lab.db) as reg:
        assert reg.version(vid).status == "certified" and len(reg.certificates(version_id=vid)) == 1


def test_a_hand_set_suspension_through_the_server_is_logged_about_the_certificate(review_lab: dict) -> None:
    """The lab's other status route: a suspension by hand is a ``status`` entry about the version's
    certificate, as a review's is (the seeded version A holds a logged certificate)."""
    ctx = review_lab
    lab = ctx["lab"]
    vid, cert_id = lab.ids["version_a"], lab.ids["cert_a"]
    with _client(ctx, "auditor") as au:
        r = au.post(f"/api/v1/versions/{vid}/status", json={"status": "suspended", "reason": "provider notice 17"})
        assert r.status_code == 200, r.text
    last = _log_entries(ctx)[-1]
    assert (last["kind"], last["subject"], last["from"], last["to"], last["reason"], last["review"]) == (
        "status", cert_id, "certified", "suspended", "provider notice 17", None)
    cert = (lab.data / "audits" / str(lab.ids["audit_a"]) / "certificate.json").read_text()
    assert _verify(ctx, cert)["status"] == "suspended"
    with _client(ctx, "auditor") as au:  # a version without a certificate: nothing to log about
        n = len(_log_entries(ctx))
        assert au.post(f"/api/v1/versions/{lab.ids['version_a2']}/status",
                       json={"status": "submitted", "reason": "abandoned"}).status_code in (200, 409)
        assert len(_log_entries(ctx)) == n


def test_a_certificate_whose_outcome_is_no_longer_the_versions_is_superseded(tmp_path: Path) -> None:
    """certified -> (review: conditionally certified) -> certifiable -> certification step: the first
    certificate, which says "certified", is genuine but no longer valid; the new one is."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from modelcert.certify import issue_certificate
    from modelcert.certify.statement import AuditResult
    from modelcert.registry import Registry, Status
    from modelcert.web.service import verify_bytes

    key = Ed25519PrivateKey.generate()

    def cert(outcome: str):  # type: ignore[no-untyped-def]
        result = {"policy": {"id": "p", "digest": "c" * 64}, "outcome": outcome, "access_tier": "api",
                  "target": {"model": "m", "identity_digest": "d" * 64, "subject_kind": "behaviour-fingerprint",
                             "subject_digest": "e" * 64},
                  "requirements": [{"id": "R", "legal_basis": "x", "verdict": "PASS", "n": 1}],
                  "evidence": {"r": "f" * 64}}
        data, st = issue_certificate(AuditResult.model_validate(result), key, lab_id="t")
        return data, st.predicate.issued_at, st.predicate.valid_until

    with Registry(f"sqlite:///{tmp_path / 'r.sqlite'}") as reg:
        reg.add_provider("acme")
        v = reg.register_version("acme", "m", "1", "local/x", actor="t")
        reg.grant_access(v.id, "api", by="t")
        a = reg.create_audit(v.id, "p", "api", actor="t")
        reg.claim_next("w")
        first, issued, until = cert("certified")
        reg.finish_audit(a.id, "w", outcome="certified", verdicts=[], out_dir="o", certificate=first,
                         issued_at=issued, valid_until=until)
        assert verify_bytes(reg, key.public_key(), first).valid
        reg.record_redecision(a.id, outcome="conditionally_certified", verdicts=[], to=Status.CERTIFIABLE,
                              reason="judge review of audit x", actor="t")
        got = verify_bytes(reg, key.public_key(), first)
        assert not got.valid and got.genuine and got.status == "certifiable"
        second, issued, until = cert("conditionally_certified")
        reg.certify_audit(a.id, certificate=second, issued_at=issued, valid_until=until,
                          outcome="conditionally_certified", actor="t")
        old = verify_bytes(reg, key.public_key(), first)
        assert not old.valid and old.genuine and old.status == "superseded" and "says certified" in (old.reason or "")
        new = verify_bytes(reg, key.public_key(), second)
        assert new.valid and new.status == "conditionally_certified"


def test_a_review_that_changes_a_certified_verdict_but_not_the_outcome_needs_a_new_certificate(
        tmp_path: Path) -> None:
    """certified (R PASS) -> review: R INCONCLUSIVE, outcome still certified (R is not decisive in
    this made-up policy) -> the certificate that says "R PASS" stops being valid (certifiable), and
    a review that leaves every verdict as certified moves nothing."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from modelcert.certify import issue_certificate
    from modelcert.certify.statement import AuditResult
    from modelcert.registry import Registry
    from modelcert.web.config import LabConfig
    from modelcert.web.redecision import certificate_verdicts, follow_redecision
    from modelcert.web.service import verify_bytes

    key = Ed25519PrivateKey.generate()
    reqs = [{"id": "R", "legal_basis": "x", "verdict": "PASS", "n": 10}, {"id": "S", "legal_basis": "y",
                                                                          "verdict": "PASS", "n": 10}]
    result = {"policy": {"id": "p", "digest": "c" * 64}, "outcome": "certified", "access_tier": "api",
              "target": {"model": "m", "identity_digest": "d" * 64, "subject_kind": "behaviour-fingerprint",
                         "subject_digest": "e" * 64}, "requirements": reqs, "evidence": {"r": "f" * 64}}
    data, st = issue_certificate(AuditResult.model_validate(result), key, lab_id="t")
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"

    def review(verdict: str) -> dict:
        after = json.loads(json.dumps(result))
        after["requirements"][0]["verdict"] = verdict
        after["judge_reviews"] = [{"run_id": "run-1", "labels_digest": "a" * 64,
                                   "requirements": {"R": {"before": "PASS", "after": verdict}}}]
        return after

    with Registry(db) as reg:
        reg.add_provider("acme")
        v = reg.register_version("acme", "m", "1", "local/x", actor="t")
        reg.grant_access(v.id, "api", by="t")
        a = reg.create_audit(v.id, "p", "api", actor="t")
        reg.claim_next("w")
        reg.finish_audit(a.id, "w", outcome="certified", verdicts=[], out_dir="o", certificate=data,
                         issued_at=st.predicate.issued_at, valid_until=st.predicate.valid_until)
        assert certificate_verdicts(reg.certificates(version_id=v.id)[0].body) == {"R": "PASS", "S": "PASS"}
        config = LabConfig(db=db, data_dir=tmp_path, lab_id="t")
        same = follow_redecision(config, reg, a.id, result, review("PASS"), actor="auditor")
        assert same.status is None and reg.version(v.id).status == "certified"
        assert verify_bytes(reg, key.public_key(), data).valid
        changed = follow_redecision(config, reg, a.id, result, review("INCONCLUSIVE"), actor="auditor")
        assert changed.status == "certifiable" and changed.outcome == "certified"
        assert "states verdicts this review changed" in changed.reason
        got = verify_bytes(reg, key.public_key(), data)
        assert not got.valid and got.genuine and got.status == "certifiable"
