"""Monitoring through the lab server: REST enroll/check as background jobs of the lab's
worker, status, the alarm suspends the version, the provider sees it, and the dashboard
plots the e-process (Chromium).

The monitored endpoint is an OpenAI-compatible server on 127.0.0.1 serving the zoo's
clean organism (tests/monitor/chat_server.py); mid-test the "provider" swaps the
model behind it for the overrefusing organism.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from web_lab import PASSWORD, free_port, keep_artifact, seed_lab, start_server, wait_for

from modelcert.registry import Registry

CHROMIUM = os.environ.get("MODELCERT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SERVER = Path(__file__).parents[1] / "monitor" / "chat_server.py"


def zoo(name: str) -> str:
    from modelcert.targets import resolve_local_path

    return str(resolve_local_path(f"zoo:{name}"))


@pytest.fixture
def endpoint():
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, str(SERVER), str(port), zoo("clean")], env=env)
    url = f"http://127.0.0.1:{port}/v1"
    wait_for(lambda: _up(url), 120, "the model server")
    yield url
    proc.kill()
    proc.wait(10)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/models", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def run_job(api: httpx.Client, path: str, headers: dict[str, str], body: dict) -> dict:
    """POST a monitoring job, then follow it at /audits/{id} until it ends; return the job."""
    r = api.post(path, headers=headers, json=body)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] in ("monitor-enroll", "monitor-check") and job["state"] == "queued"
    return wait_for(lambda: _ended(api, job["id"], headers), 240, f"job {job['id']}")


def _ended(api: httpx.Client, job_id: str, headers: dict[str, str]) -> dict | None:
    j = api.get(f"/api/v1/audits/{job_id}", headers=headers).json()
    return j if j["state"] in ("finished", "failed", "interrupted") else None


def test_alarm_suspends_and_the_dashboard_plots_it(tmp_path: Path, endpoint: str) -> None:
    lab = seed_lab(tmp_path / "lab", queued=False)
    with Registry(lab.db) as reg:
        v = reg.register_version("acme", "acme-monitored", "1.0", "openai-api/monsrv/chat", actor="t")
        reg.grant_access(v.id, "logprobs", by="t")
        reg.set_status(v.id, "under_audit", reason="audit", actor="t")
        reg.set_status(v.id, "certified", reason="audit passed", actor="t")
        vid = v.id
    srv = start_server(lab.db, lab.data, lab.key, worker=True,
                       env={"MONSRV_BASE_URL": endpoint, "MONSRV_API_KEY": "k"})
    staff = {"Authorization": f"Bearer {lab.tokens['auditor']}"}
    try:
        with httpx.Client(base_url=srv.url, timeout=300) as api:
            # the provider may not enroll or check; staff may
            prov = {"Authorization": f"Bearer {lab.tokens['provider_a']}"}
            assert api.post(f"/api/v1/monitor/{vid}/enroll", json={}, headers=prov).status_code == 403
            # refused at once, before any job is queued: nothing to check yet, a tier above the grant
            r = api.post(f"/api/v1/monitor/{vid}/check", headers=staff, json={})
            assert r.status_code == 409 and "not enrolled" in r.json()["detail"], r.text
            r = api.post(f"/api/v1/monitor/{vid}/enroll", headers=staff, json={"tier": "api", "blocks": 0})
            assert r.status_code == 422
            enrolled = run_job(api, f"/api/v1/monitor/{vid}/enroll", staff, {
                "prompts": 5, "per_prompt": 2, "reference_per_prompt": 2, "max_tokens": 12, "seed": 1})
            assert enrolled["state"] == "finished" and enrolled["outcome"] == "enrolled", enrolled
            assert enrolled["progress_done"] == enrolled["progress_total"] == 20  # 5 x 2 reference + replicate
            assert enrolled["result"]["test"] == "logprob-tolerance"
            assert "folder" not in enrolled["result"]
            first = run_job(api, f"/api/v1/monitor/{vid}/check", staff, {"seed": 2})
            assert first["outcome"] == "no_alarm", first
            assert first["result"]["alarm"] is False and first["result"]["test"]["mismatches"] == 0, first
            httpx.post(endpoint.replace("/v1", "/control/swap"), json={"folder": zoo("overrefusing")}, timeout=120)
            job = run_job(api, f"/api/v1/monitor/{vid}/check", staff, {"seed": 3})
            second = job["result"]
            assert job["outcome"] == "alarm" and second["alarm"] is True, job
            assert second["status_change"] == "suspended" and second["e_process"] >= 20
            # a further check is refused at once; the monitoring view lists the jobs
            r = api.post(f"/api/v1/monitor/{vid}/check", headers=staff, json={})
            assert r.status_code == 409 and "already raised an alarm" in r.json()["detail"]
            # the provider sees the alarm, its figures and the status change in its own view
            mine = api.get(f"/api/v1/monitor/{vid}", headers=prov).json()
            assert mine["alarm"] and len(mine["checks"]) == 2 and "folder" not in mine["prompt_set"]
            assert mine["jobs"][0]["id"] == job["id"] and mine["jobs"][0]["state"] == "finished"
            detail = api.get(f"/api/v1/versions/{vid}", headers=prov).json()
            assert detail["status"] == "suspended"
            assert second["run_id"] in detail["history"][-1]["reason"]
            other = {"Authorization": f"Bearer {lab.tokens['provider_b']}"}
            assert api.get(f"/api/v1/monitor/{vid}", headers=other).status_code == 404

        if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
            pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium; .ci/run does)")
        from playwright.sync_api import expect, sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            page.goto(f"{srv.url}/login?next=/dashboard")
            page.fill("#username", "provider_a")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            box = page.locator(f"#monitor-{vid}")
            expect(box).to_contain_text("suspended")
            expect(box).to_contain_text("alarm")
            points = box.locator("svg.eplot circle.point")
            expect(points).to_have_count(2)
            assert float(points.nth(1).get_attribute("data-value")) >= 20
            expect(box.locator("svg.eplot line.threshold")).to_have_count(1)
            expect(box.locator(".monitor-job .progress")).to_have_attribute("data-state", "finished")
            expect(box.locator(".monitor-job")).to_contain_text("alarm")
            shot = tmp_path / "monitor-dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            keep_artifact(shot)
            page.goto(f"{srv.url}/versions/{vid}")
            expect(page.locator("#version-status")).to_have_text("suspended")
            expect(page.locator("#history")).to_contain_text("monitoring alarm")
            browser.close()
    finally:
        srv.stop()
