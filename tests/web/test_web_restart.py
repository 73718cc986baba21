"""A lab server killed mid-audit shows the audit as interrupted and resumable after restart.

The model under audit (a real HTTP server on 127.0.0.1) holds every call for 30 s, so the
audit is certainly mid-way when the lab server receives SIGKILL; then it answers at once. After the restart the audit must
be ``interrupted`` (never finished, no outcome, no certificate), and resuming it must
run the same engine to a real, verifiable result.
"""

from __future__ import annotations

import signal

import httpx
from web_lab import POLICIES, STUB_MODEL, add_version, seed_lab, start_model_server, start_server, wait_for


def test_killed_server_shows_interrupted_audit_and_resumes_it(tmp_path) -> None:
    lab = seed_lab(tmp_path, queued=False)
    vid = add_version(lab, "slow-refuser", STUB_MODEL)
    model, env = start_model_server(delay=30.0)  # every model call hangs: the audit cannot finish
    srv = start_server(lab.db, lab.data, lab.key, worker=True, policies=POLICIES, env=env)
    auth = {"Authorization": f"Bearer {lab.tokens['auditor']}"}
    try:
        r = httpx.post(f"{srv.url}/api/v1/audits", headers=auth, timeout=30,
                       json={"version_id": vid, "policy": "tiny-smoke", "tier": "api"})
        assert r.status_code == 202, r.text
        aid = r.json()["id"]

        def mid_audit() -> dict | None:
            a = httpx.get(f"{srv.url}/api/v1/audits/{aid}", headers=auth, timeout=30).json()
            note = a["progress_note"] or ""
            return a if a["state"] == "running" and ("pre-registered" in note or "fingerprint" in note
                                                     or "round" in note) else None

        before = wait_for(mid_audit, 120, "the audit to be running")
        srv.stop(signal.SIGKILL)
        assert srv.proc.returncode == -signal.SIGKILL
        httpx.post(env["STUB_BASE_URL"].removesuffix("/v1") + "/control/delay", json={"seconds": 0}, timeout=10)

        srv = start_server(lab.db, lab.data, lab.key, worker=True, policies=POLICIES, env=env)
        a = httpx.get(f"{srv.url}/api/v1/audits/{aid}", headers=auth, timeout=30).json()
        assert a["state"] == "interrupted" and a["resumable"] is True
        assert a["outcome"] is None and a["finished_at"] is None and a["certificate_id"] is None
        assert a["progress_done"] >= before["progress_done"] and "interrupted" in a["progress_note"]
        v = httpx.get(f"{srv.url}/api/v1/versions/{vid}", headers=auth, timeout=30).json()
        assert v["status"] == "under_audit"  # not certified by a half-run audit
        page = httpx.get(f"{srv.url}/audits/{aid}", headers={**auth, "Accept": "text/html"}, timeout=30).text
        assert "resumable" in page and "Resume audit" in page

        r = httpx.post(f"{srv.url}/api/v1/audits/{aid}/resume", headers=auth, timeout=30)
        assert r.status_code == 200 and r.json()["state"] == "queued"
        done = wait_for(
            lambda: (x := httpx.get(f"{srv.url}/api/v1/audits/{aid}", headers=auth, timeout=30).json())["state"]
            in ("finished", "failed") and x,
            180,
            "the resumed audit to finish",
        )
        assert done["state"] == "finished", done
        assert done["outcome"] == "certified" and done["attempts"] == 2 and done["certificate_id"]
        assert done["verdicts"][0]["verdict"] == "PASS"
        cert = httpx.get(f"{srv.url}/api/v1/certificates/{done['certificate_id']}", timeout=30).text
        ver = httpx.post(f"{srv.url}/api/v1/verify", json={"certificate": cert}, timeout=30).json()
        assert ver["valid"] is True and ver["registry_status"] == "certified" and ver["model"] == STUB_MODEL
    finally:
        srv.stop()
        model.kill()
        model.wait(10)
