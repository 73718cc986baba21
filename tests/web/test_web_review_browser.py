"""The judge review in a real browser (Debian's Chromium via Playwright): a reviewer labels an
audit's pre-registered sample of the model's answers, an auditor re-decides from those labels.

The audit is a real one (the zoo's clean organism on 12 English harmful requests, review n = 12,
i.e. the whole suite), registered in the lab as finished; the lab server runs on 127.0.0.1.
The reviewer agrees with the judge on every answer (the organism's canned refusals).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from web_lab import PASSWORD, add_version, keep_artifact, seed_lab, start_server, write_review_policy

CHROMIUM = os.environ.get("MODELCERT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None,
    reason=f"{CHROMIUM} not installed (apt-get install chromium; .ci/run does)",
)



def _audit(tmp: Path, lab) -> tuple[str, Path]:  # type: ignore[no-untyped-def]
    from modelcert.policy.audit import AuditOptions, run_audit
    from modelcert.registry import Registry
    from modelcert.runner import Limits

    policy = write_review_policy(tmp, id="review-browser", title="judge review in the browser", refused_on="FAIL")
    vid = add_version(lab, "review-model", "local/zoo:clean")
    out = lab.data / "audits" / "review-1"
    report = run_audit(AuditOptions(model="local/zoo:clean", policy=str(policy), access="api", out=out, db=lab.db,
                                    fingerprint=False, limits=Limits(max_retries=0, attempt_timeout=60, timeout=120)))
    with Registry(lab.db) as reg:
        a = reg.create_audit(vid, str(policy), "api", actor="test")
        reg.claim_next("test-worker")
        reg.finish_audit(a.id, "test-worker", outcome=report.outcome, out_dir=str(out),
                         verdicts=[{k: v for k, v in r.items() if k != "examples"} for r in report.result["requirements"]])
        return a.id, out


def test_reviewer_labels_in_the_browser_and_the_auditor_redecides(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from modelcert.evidence.store import EvidenceStore
    from modelcert.policy.judge_review import REVIEW_LABEL, review_items

    lab = seed_lab(tmp_path / "lab", queued=False)
    audit_id, out = _audit(tmp_path, lab)
    before = json.loads((out / "result.json").read_text())
    req = before["requirements"][0]
    ids = before["preregistration"]["data"]["analysis_plan"]["R-harm"]["judge_review"]["ids"]
    with EvidenceStore(lab.db) as st:
        calls = {sid: it.judge for sid, it in review_items(st, req["run_id"], "complied", ids).items()}
    srv = start_server(lab.db, lab.data, lab.key, worker=False)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            page.set_default_timeout(30_000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{srv.url}/login")
            page.fill("#username", "reviewer")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            expect(page.locator("h1")).to_have_text("Judge review")
            page.click(f"a[href='/audits/{audit_id}/review']")
            items = page.locator("tr.review-item")
            expect(items).to_have_count(sum(1 for c in calls.values() if c))
            assert "judge" not in page.locator("table.review").inner_text().lower()  # blind: no judge call shown
            for i in range(items.count()):
                row = page.locator("tr.review-item").nth(i)
                sid = row.get_attribute("data-sample")
                row.locator(f"button[value='{calls[sid]}']").click()
                expect(page.locator("tr.review-item").nth(i).locator(".current-label")).to_have_text(calls[sid])
            expect(page.locator("#redecide-submit")).to_have_count(0)  # a reviewer labels, an auditor decides
            page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
            keep_artifact(tmp_path / "review.png")
            page.click("form[action='/logout'] button")

            page.goto(f"{srv.url}/login?next=/audits/{audit_id}/review")
            page.fill("#username", "auditor")
            page.fill("#password", PASSWORD)
            page.click("#login-submit")
            page.click("#redecide-submit")
            expect(page.locator("#redecided")).to_contain_text(f"R-harm: {req['verdict']} →")
            assert errors == []
            browser.close()
    finally:
        srv.stop()
    after = json.loads((out / "result.json").read_text())
    r = after["requirements"][0]
    jv = r["details"]["judge_validation"]
    assert jv["kind"] == "review" and jv["misses"] == 0 and jv["labelled"] == len(ids)
    assert r["verdict"] == "PASS" and req["verdict"] == "INCONCLUSIVE", (req["reason"], r["reason"])  # a census, no error
    with EvidenceStore(lab.db) as st:
        run = after["judge_reviews"][-1]["run_id"]
        rec = next(st.records(run, kinds=("judge_review",)))
        assert {x["reviewer"] for x in rec.data["labels"]} == {"reviewer"}
        labelled = [x for info in st.runs() if info.resume_key == f"judge-review:{before['preregistration']['run_id']}"
                    for x in st.records(info.run_id, kinds=(REVIEW_LABEL,))]
        assert len(labelled) == len(ids) and all(x.data["via"] == "session" and x.data["at"] for x in labelled)
