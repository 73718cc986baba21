"""The lab in a real browser (Debian's Chromium via Playwright): log in, start an audit,
watch it finish live, open its report, verify its certificate on the public page.

The audited model is the zoo's clean organism when it is installed; otherwise the
refusing test model server stands in (the flow under test is the lab's, not the
model's). Screenshots are saved under ``tmp_path`` and copied to
``out/test-artifacts/web/``.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from web_lab import (
    PASSWORD,
    POLICIES,
    STUB_MODEL,
    add_version,
    keep_artifact,
    seed_lab,
    start_model_server,
    start_server,
    zoo_model,
)

CHROMIUM = os.environ.get("MODELCERT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None,
    reason=f"{CHROMIUM} not installed (apt-get install chromium; .ci/run does)",
)


def test_login_audit_report_and_public_verification(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    lab = seed_lab(tmp_path / "lab", queued=False)
    address = zoo_model()
    model = None
    env: dict[str, str] = {}
    if address is None:
        model, env = start_model_server()
        address = STUB_MODEL
    vid = add_version(lab, "browser-model", address, tier="weights" if address.startswith("local/") else "api")
    srv = start_server(lab.db, lab.data, lab.key, worker=True, policies=POLICIES, env=env)
    shots: list[Path] = []

    def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
        path = tmp_path / f"{len(shots):02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)
        keep_artifact(path)

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            page.set_default_timeout(30_000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))

            # log in
            page.goto(f"{srv.url}/dashboard")
            expect(page).to_have_url(f"{srv.url}/login?next=/dashboard")
            page.fill("#username", "auditor")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            expect(page.locator("h1")).to_have_text("Dashboard")
            shot(page, "dashboard")

            # start an audit of the model with the small policy
            page.select_option("#audit-version", str(vid))
            page.select_option("#audit-policy", "tiny-smoke")
            page.select_option("#audit-tier", "api")
            page.click("#audit-submit")
            expect(page.locator("h1")).to_contain_text("Audit ")
            audit_url = page.url
            shot(page, "audit-started")

            # watch it: live progress, then the page reloads itself when the audit ends
            expect(page.locator("#audit-progress [data-field=state]")).to_have_text(
                re.compile("running|finished"), timeout=90_000
            )
            shot(page, "audit-running")
            expect(page.locator("#audit-outcome")).to_have_text("certified", timeout=180_000)
            expect(page.locator("#verdicts")).to_contain_text("PASS")
            shot(page, "audit-finished")

            # the report, embedded and on its own
            expect(page.locator("#report-frame")).to_be_visible()
            page.click("#report-link")
            expect(page.locator("body")).to_contain_text("CoP-SSR-harmful-compliance")
            shot(page, "report")
            page.goto(audit_url)

            # the certificate, verified by a member of the public (a fresh browser context)
            cert_href = page.get_attribute("#certificate-link", "href")
            assert cert_href
            cert_text = page.request.get(f"{srv.url}{cert_href}").text()
            cert_file = tmp_path / "certificate.json"
            cert_file.write_text(cert_text)
            public = browser.new_context().new_page()
            public.goto(f"{srv.url}/")
            expect(public.locator("#registry")).to_contain_text("browser-model")
            expect(public.locator("#registry")).to_contain_text("certified")
            shot(public, "public-registry")
            public.goto(f"{srv.url}/verify")
            public.fill("#certificate", cert_text)
            public.click("#verify-submit")
            expect(public.locator("#verify-verdict")).to_have_text("Valid certificate")
            expect(public.locator("#v-outcome")).to_have_text("certified")
            expect(public.locator("#v-status")).to_have_text("certified")
            shot(public, "verify-pasted")

            public.goto(f"{srv.url}/verify")
            public.set_input_files("#upload", str(cert_file))
            public.click("#verify-submit")
            expect(public.locator("#verify-verdict")).to_have_text("Valid certificate")

            tampered = cert_text.replace('"sig":"', '"sig":"A', 1)
            public.goto(f"{srv.url}/verify")
            public.fill("#certificate", tampered)
            public.click("#verify-submit")
            expect(public.locator("#verify-verdict")).to_have_text("Not valid")
            shot(public, "verify-tampered")
            assert errors == []
            browser.close()
    finally:
        srv.stop()
        if model is not None:
            model.kill()
            model.wait(10)
    assert len(shots) == 8 and all(s.stat().st_size > 1000 for s in shots)
