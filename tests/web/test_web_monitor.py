"""Monitoring through the lab server: REST enroll/check/status, the alarm suspends the
version, the provider sees it, and the dashboard plots the e-process (Chromium).

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


def test_alarm_suspends_and_the_dashboard_plots_it(tmp_path: Path, endpoint: str) -> None:
    lab = seed_lab(tmp_path / "lab", queued=False)
    with Registry(lab.db) as reg:
        v = reg.register_version("acme", "acme-monitored", "1.0", "openai-api/monsrv/chat", actor="t")
        reg.grant_access(v.id, "logprobs", by="t")
        reg.set_status(v.id, "under_audit", reason="audit", actor="t")
        reg.set_status(v.id, "certified", reason="audit passed", actor="t")
        vid = v.id
    srv = start_server(lab.db, lab.data, lab.key, worker=False,
                       env={"MONSRV_BASE_URL": endpoint, "MONSRV_API_KEY": "k"})
    staff = {"Authorization": f"Bearer {lab.tokens['auditor']}"}
    try:
        with httpx.Client(base_url=srv.url, timeout=300) as api:
            # the provider may not enroll or check; staff may
            prov = {"Authorization": f"Bearer {lab.tokens['provider_a']}"}
            assert api.post(f"/api/v1/monitor/{vid}/enroll", json={}, headers=prov).status_code == 403
            r = api.post(f"/api/v1/monitor/{vid}/enroll", headers=staff, json={
                "prompts": 5, "per_prompt": 2, "reference_per_prompt": 2, "max_tokens": 12, "seed": 1})
            assert r.status_code == 201, r.text
            assert r.json()["plan"]["test"] == "logprob-tolerance"
            first = api.post(f"/api/v1/monitor/{vid}/check", headers=staff, json={"seed": 2}).json()
            assert first["alarm"] is False and first["test"]["mismatches"] == 0, first
            httpx.post(endpoint.replace("/v1", "/control/swap"), json={"folder": zoo("overrefusing")}, timeout=120)
            second = api.post(f"/api/v1/monitor/{vid}/check", headers=staff, json={"seed": 3}).json()
            assert second["alarm"] is True and second["status_change"] == "suspended", second
            assert second["e_process"] >= 20
            # the provider sees the alarm, its figures and the status change in its own view
            mine = api.get(f"/api/v1/monitor/{vid}", headers=prov).json()
            assert mine["alarm"] and len(mine["checks"]) == 2 and "folder" not in mine["prompt_set"]
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
            shot = tmp_path / "monitor-dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            keep_artifact(shot)
            page.goto(f"{srv.url}/versions/{vid}")
            expect(page.locator("#version-status")).to_have_text("suspended")
            expect(page.locator("#history")).to_contain_text("monitoring alarm")
            browser.close()
    finally:
        srv.stop()
