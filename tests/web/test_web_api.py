"""REST API and pages against a real server: lifecycle, verification edge cases, headers."""

from __future__ import annotations

import re

import httpx
from web_lab import PASSWORD, Lab, Server


def _auth(lab: Lab, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {lab.tokens[who]}"}


def test_register_grant_audit_and_status_lifecycle_over_the_api(server: Server, lab: Lab) -> None:
    h = _auth(lab, "auditor")
    with httpx.Client(base_url=server.url, headers=h, timeout=30) as c:
        assert c.post("/api/v1/providers", json={"name": "initech"}).status_code == 201
        v = c.post("/api/v1/versions", json={"provider": "initech", "model": "api-model", "version": "3",
                                             "address": "local/zoo:clean"})
        assert v.status_code == 201 and v.json()["status"] == "submitted"
        vid = v.json()["id"]
        r = c.post("/api/v1/audits", json={"version_id": vid, "policy": "eu-gpai-systemic-risk", "tier": "api"})
        assert r.status_code == 409 and "no access grant" in r.json()["detail"]
        assert c.post(f"/api/v1/versions/{vid}/grants", json={"tier": "logprobs"}).status_code == 201
        r = c.post("/api/v1/audits", json={"version_id": vid, "policy": "eu-gpai-systemic-risk", "tier": "weights"})
        assert r.status_code == 409 and "granted 'logprobs'" in r.json()["detail"]
        r = c.post("/api/v1/audits", json={"version_id": vid, "policy": "/etc/passwd", "tier": "api"})
        assert r.status_code == 400 and "unknown policy" in r.json()["detail"]
        r = c.post("/api/v1/audits", json={"version_id": vid, "policy": "eu-gpai-systemic-risk", "tier": "api"})
        assert r.status_code == 202 and r.json()["state"] == "queued"
        r = c.post(f"/api/v1/versions/{vid}/status", json={"status": "certified", "reason": ""})
        assert r.status_code == 422  # a reason is mandatory
        r = c.post(f"/api/v1/versions/{vid}/status", json={"status": "expired", "reason": "try"})
        assert r.status_code == 409 and "under_audit -> expired" in r.json()["detail"]
        r = c.post(f"/api/v1/versions/{vid}/status", json={"status": "access_refused", "reason": "no weights"})
        assert r.status_code == 200 and r.json()["from_status"] == "under_audit"
        assert c.post(f"/api/v1/versions/{vid}/status",
                      json={"status": "restricted", "reason": "market restricted"}).status_code == 200
        detail = c.get(f"/api/v1/versions/{vid}").json()
        assert [e["to_status"] for e in detail["history"]] == [
            "submitted", "under_audit", "access_refused", "restricted"
        ]
        assert detail["history"][-1]["reason"] == "market restricted" and detail["history"][-1]["actor"] == "auditor"
        assert detail["grants"][0]["tier"] == "logprobs" and detail["grants"][0]["granted_by"] == "auditor"
        public = httpx.get(f"{server.url}/api/v1/registry").json()
        entry = next(e for e in public if e["model"] == "api-model")
        assert entry["status"] == "restricted" and "address" not in entry


def test_public_verification_edge_cases(server: Server, lab: Lab) -> None:
    cert = (lab.data / "audits" / str(lab.ids["audit_a"]) / "certificate.json").read_text()
    with httpx.Client(base_url=server.url, timeout=30) as c:
        ok = c.post("/api/v1/verify", json={"certificate": "  " + cert.replace("\n", "\r\n") + "\n\n"}).json()
        assert ok["valid"] is True and ok["certificate_id"] == lab.ids["cert_a"]
        bad = c.post("/api/v1/verify", json={"certificate": cert.replace('"payload":"', '"payload":"x', 1)}).json()
        assert bad["valid"] is False and bad["reason"]
        assert c.post("/api/v1/verify", json={"certificate": ""}).status_code == 422
        assert c.post("/api/v1/verify", json={"certificate": "{" * 5000}).json()["valid"] is False
        page = c.get("/verify").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        empty = c.post("/verify", data={"csrf_token": csrf, "certificate": ""})
        assert empty.status_code == 400 and "upload a certificate file or paste its text" in empty.text
        big = c.post("/verify", data={"csrf_token": csrf}, files={"upload": ("c.json", b"x" * 1_000_001)})
        assert big.status_code == 413
        up = c.post("/verify", data={"csrf_token": csrf}, files={"upload": ("c.json", cert.encode())})
        assert up.status_code == 200 and "Valid certificate" in up.text
        junk = c.post("/verify", data={"csrf_token": csrf}, files={"upload": ("c.json", b"\xff\xfe garbage")})
        assert junk.status_code == 200 and "Not valid" in junk.text


def test_security_headers_and_inert_report(server: Server, lab: Lab) -> None:
    r = httpx.get(f"{server.url}/")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff" and "set-cookie" not in r.headers
    rep = httpx.get(f"{server.url}/audits/{lab.ids['audit_a']}/report", headers=_auth(lab, "admin"))
    assert rep.status_code == 200 and "script-src 'none'" in rep.headers["content-security-policy"]


def test_login_redirects_only_to_local_paths(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        page = c.get("/login?next=//evil.example/x").text
        assert 'value="/dashboard"' in page and "evil.example" not in page
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        r = c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf,
                                   "next": "https://evil.example/"})
        assert r.status_code == 303 and r.headers["location"] == "/dashboard"


def test_unknown_ids_give_one_line_errors(server: Server, lab: Lab) -> None:
    h = _auth(lab, "admin")
    r = httpx.get(f"{server.url}/api/v1/audits/nope", headers=h)
    assert r.status_code == 404 and r.json() == {"detail": "no audit nope"}
    page = httpx.get(f"{server.url}/audits/nope", headers={**h, "Accept": "text/html"})
    assert page.status_code == 404 and 'id="error-message">no audit nope<' in page.text
    assert httpx.get(f"{server.url}/api/v1/certificates/{'0' * 64}").status_code == 404
    anon = httpx.get(f"{server.url}/dashboard", headers={"Accept": "text/html"})
    assert anon.status_code == 303 and anon.headers["location"] == "/login?next=/dashboard"
