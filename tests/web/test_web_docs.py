"""``/docs`` renders the API's operations in Chromium with every request outside the lab refused.

FastAPI's default page loads Swagger UI from a CDN and is blank offline; ours serves the
files itself. The browser is cut off from everything but the lab server (any other
request is aborted and recorded), and the test checks that the operation list renders
and that no request left 127.0.0.1. A screenshot is kept.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest
from web_lab import keep_artifact, start_server

CHROMIUM = os.environ.get("MODELCERT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _server(tmp_path: Path):
    from modelcert.certify import generate_keypair

    key, pub = tmp_path / "lab.key", tmp_path / "lab.pub"
    generate_keypair(key, pub)
    return start_server(f"sqlite:///{tmp_path / 'lab.sqlite'}", tmp_path / "data", key, worker=False)


def test_docs_assets_are_served_locally(tmp_path: Path) -> None:
    srv = _server(tmp_path)
    try:
        page = httpx.get(f"{srv.url}/docs", timeout=10)
        assert page.status_code == 200
        assert "cdn" not in page.text.lower() and "https://" not in page.text
        for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/docs/start.js"):
            r = httpx.get(f"{srv.url}{asset}", timeout=10)
            assert r.status_code == 200 and len(r.content) > 100, asset
    finally:
        srv.stop()


@pytest.mark.skipif(not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None,
                    reason=f"{CHROMIUM} not installed (apt-get install chromium; .ci/run does)")
def test_docs_render_offline_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    srv = _server(tmp_path)
    outside: list[str] = []
    errors: list[str] = []

    def only_the_lab(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(srv.url + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", only_the_lab)
            page.goto(f"{srv.url}/docs")
            # the operation list: one block per operation, with its method and path
            ops = page.locator(".opblock")
            expect(ops.first).to_be_visible()
            expect(page.locator(".opblock-summary-path", has_text="/api/v1/verify").first).to_be_visible()
            spec = httpx.get(f"{srv.url}/openapi.json", timeout=10).json()
            n_ops = sum(1 for item in spec["paths"].values() for m in item if m in ("get", "post", "put", "delete"))
            assert n_ops > 10 and ops.count() == n_ops  # every operation of the API is listed
            shot = tmp_path / "docs-offline.png"
            page.screenshot(path=str(shot), full_page=False)
            keep_artifact(shot)
            browser.close()
    finally:
        srv.stop()
    assert outside == [], f"/docs tried to leave the lab: {outside}"
    assert errors == []
    assert shot.stat().st_size > 10_000
