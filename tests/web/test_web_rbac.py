"""Authorization: every route of the app × every role, against a real server.

The route list comes from the app itself, so a new route without a declared access
level, or without a request example here, fails the test instead of escaping it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing

import httpx
import pytest
from web_lab import PASSWORD, ROLES, SECRET_MARKER, Lab, Server, seed_lab, start_server

from modelcert.web import LabConfig, all_routes, create_app
from modelcert.web.security import LEVELS, route_access

# Framework routes that are public by design (the API description and its viewers).
FRAMEWORK = {("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc")}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    """This module's own lab: the matrix suspends versions, adds users and queues jobs, which
    would change what the other web tests (sharing the session lab) see, depending on order."""
    return seed_lab(tmp_path_factory.mktemp("rbac-lab"))


@pytest.fixture(scope="module")
def server(lab: Lab) -> Iterator[Server]:
    srv = start_server(lab.db, lab.data, lab.key, worker=False)
    yield srv
    srv.stop()


def examples(lab: Lab) -> dict[tuple[str, str], dict]:
    """A valid request for every (method, path) of the app: json body or form data."""
    i = lab.ids
    cert = (lab.data / "audits" / str(i["audit_a"]) / "certificate.json").read_text()
    return {
        ("POST", "/api/v1/verify"): {"json": {"certificate": cert}},
        ("POST", "/api/v1/providers"): {"json": {"name": "newco-{n}"}},
        ("POST", "/api/v1/versions"): {
            "json": {"provider": "acme", "model": "m-{n}", "version": "1", "address": "local/zoo:clean"}
        },
        ("POST", "/api/v1/versions/{version_id}/grants"): {"json": {"tier": "weights", "note": "again"}},
        ("POST", "/api/v1/versions/{version_id}/status"): {"json": {"status": "suspended", "reason": "check {n}"}},
        ("POST", "/api/v1/audits"): {
            "json": {"version_id": i["version_a"], "policy": "eu-gpai-systemic-risk", "tier": "api"}
        },
        ("POST", "/api/v1/audits/{audit_id}/resume"): {},
        ("POST", "/api/v1/users"): {"json": {"username": "u-{n}", "role": "auditor", "password": "long-enough"}},
        ("POST", "/api/v1/users/{username}/tokens"): {},
        ("POST", "/verify"): {"data": {"certificate": cert}},
        ("POST", "/login"): {"data": {"username": "auditor", "password": PASSWORD}},
        ("POST", "/logout"): {},
        ("POST", "/versions"): {
            "data": {"provider": "acme", "model": "f-{n}", "version": "1", "address": "local/zoo:clean"}
        },
        ("POST", "/versions/{version_id}/status"): {"data": {"status": "suspended", "reason": "form {n}"}},
        ("POST", "/versions/{version_id}/grants"): {"data": {"tier": "api", "note": "form"}},
        ("POST", "/audits"): {"data": {"version_id": i["version_a"], "policy": "eu-gpai-systemic-risk", "tier": "api"}},
        ("POST", "/audits/{audit_id}/resume"): {},
        # the seeded audit has no review sample: a 409 for those admitted
        ("POST", "/audits/{audit_id}/review"): {"data": {"requirement": "R", "sample_id": "h1", "label": "refused"}},
        ("POST", "/audits/{audit_id}/redecide"): {},
        # the seeded audit's version is certified, not certifiable: a 409 for those admitted
        ("POST", "/audits/{audit_id}/certify"): {},
        ("POST", "/api/v1/audits/{audit_id}/certify"): {},
        ("GET", "/api/v1/log/inclusion"): {"params": {"index": 0}},
        ("GET", "/api/v1/log/consistency"): {"params": {"first": 0}},
        ("GET", "/api/v1/log/find"): {"params": {"subject": i["cert_a"]}},
        # the smallest monitoring plan: one prompt, one completion, one block; queued as a job (then 409:
        # one monitoring job per version at a time; a check of a version not enrolled is a 409 too)
        ("POST", "/api/v1/monitor/{version_id}/enroll"): {
            "json": {"prompts": 1, "per_prompt": 1, "blocks": 1, "reference_per_prompt": 1, "max_tokens": 2}
        },
        ("POST", "/api/v1/monitor/{version_id}/check"): {"json": {}},
    }


def fill(path: str, lab: Lab) -> str:
    """Path parameters point at provider A's objects (so provider B must be refused)."""
    i = lab.ids
    values = {
        "version_id": i["version_a"],
        "audit_id": i["audit_a"],
        "cert_id": i["cert_a"],
        "username": "provider_a",
    }
    if path.endswith("/resume"):
        values["audit_id"] = i["audit_a_interrupted"]
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)


def app_routes(lab: Lab) -> list[tuple[str, str, str | None]]:
    app = create_app(LabConfig(db=lab.db, data_dir=lab.data, worker=False))
    out = []
    for r in all_routes(app):
        methods = getattr(r, "methods", None)
        if not methods:  # the /static mount: files only
            continue
        for m in sorted(methods - {"HEAD"}):
            out.append((m, r.path, route_access(r)))  # type: ignore[attr-defined]
    return out


def client(server: Server, lab: Lab, role: str) -> httpx.Client:
    """A client with a session (for the CSRF token) plus, for users, a bearer token."""
    c = httpx.Client(base_url=server.url, timeout=30, headers={"Accept": "application/json"})
    page = c.get("/login", headers={"Accept": "text/html"}).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    c.headers["X-CSRF-Token"] = csrf
    if role != "public":
        c.headers["Authorization"] = f"Bearer {lab.tokens[role]}"
    return c


def test_every_route_declares_its_access(lab: Lab) -> None:
    routes = app_routes(lab)
    assert len(routes) > 30
    undeclared = [(m, p) for m, p, level in routes if level is None and (m, p) not in FRAMEWORK]
    assert undeclared == []
    missing = [(m, p) for m, p, _ in routes if m != "GET" and (m, p) not in examples(lab)]
    assert missing == [], "add a request example for every new unsafe route"


def test_route_by_role_matrix(server: Server, lab: Lab) -> None:
    ex = examples(lab)
    clients = {role: client(server, lab, role) for role in ROLES}
    failures = []
    n = 0
    for method, path, level in app_routes(lab):
        if (method, path) in FRAMEWORK:
            level = "public"
        for role in ROLES:
            n += 1
            req = {k: {kk: (vv.replace('{n}', str(n)) if isinstance(vv, str) else vv) for kk, vv in v.items()}
                   for k, v in ex.get((method, path), {}).items()}
            if (method, path) == ("POST", "/login"):  # logging in must not change the role's client
                with closing(client(server, lab, role)) as once:
                    r = once.request(method, fill(path, lab), **req)
            else:
                r = clients[role].request(method, fill(path, lab), **req)
            base_role = "provider" if role.startswith("provider") else role
            allowed = base_role in LEVELS[level]  # type: ignore[index]
            refused_code = 401 if role == "public" else 403
            touches_a = "{" in path
            if r.status_code >= 500:
                failures.append((method, path, role, r.status_code, "server error"))
            elif not allowed and r.status_code != refused_code:
                failures.append((method, path, role, r.status_code, f"expected {refused_code}"))
            elif allowed and role == "provider_b" and touches_a and path != "/api/v1/certificates/{cert_id}":
                if r.status_code != 404:
                    failures.append((method, path, role, r.status_code, "provider B reached A's object"))
            elif allowed and not (role == "provider_b" and touches_a) and r.status_code not in (
                200, 201, 202, 303, 409
            ):
                failures.append((method, path, role, r.status_code, f"allowed but got {r.text[:120]}"))
    for c in clients.values():
        c.close()
    assert failures == [], "\n".join(map(str, failures))


def test_provider_never_reads_another_providers_audit(server: Server, lab: Lab) -> None:
    i = lab.ids
    with closing(client(server, lab, "provider_b")) as b:
        listed = b.get("/api/v1/audits").json()
        assert {a["id"] for a in listed} == {i["audit_b"]}
        assert all(v["provider"] == "globex" for v in b.get("/api/v1/versions").json())
        for path in (
            f"/api/v1/audits/{i['audit_a']}",
            f"/api/v1/audits/{i['audit_a']}/evidence",
            f"/api/v1/audits/{i['audit_a']}/evidence?run={i['run_a']}",
            f"/audits/{i['audit_a']}",
            f"/versions/{i['version_a']}",
            f"/api/v1/versions/{i['version_a']}",
        ):
            r = b.get(path)
            assert r.status_code == 404, path
            assert "acme" not in r.text and SECRET_MARKER not in r.text
        dash = b.get("/dashboard", headers={"Accept": "text/html"}).text
        assert "acme-chat" not in dash and str(i["audit_a"]) not in dash and "globex-llm" in dash


def test_provider_sees_own_verdicts_and_redacted_evidence_only(server: Server, lab: Lab) -> None:
    i = lab.ids
    with closing(client(server, lab, "provider_a")) as a, closing(client(server, lab, "auditor")) as aud:
        audit = a.get(f"/api/v1/audits/{i['audit_a']}").json()
        assert audit["outcome"] == "certified" and audit["verdicts"][0]["verdict"] == "PASS"
        ev = a.get(f"/api/v1/audits/{i['audit_a']}/evidence").json()
        assert ev["redacted"] is True and ev["run"] == i["run_a"]
        kinds = [r["kind"] for r in ev["records"]]
        assert kinds == ["preregistration", "sample", "fingerprint", "run_end"]
        assert SECRET_MARKER not in str(ev)
        sample = ev["records"][1]["data"]
        assert sample["scores"] == {"complied": 0} and "input" not in sample and len(sample["data_digest"]) == 64
        page = a.get(f"/audits/{i['audit_a']}", headers={"Accept": "text/html"}).text
        assert "PASS" in page and SECRET_MARKER not in page and "report-frame" not in page
        assert a.get(f"/audits/{i['audit_a']}/report").status_code == 403
        # the auditor sees everything: the full evidence and the report
        full = aud.get(f"/api/v1/audits/{i['audit_a']}/evidence").json()
        assert full["redacted"] is False and SECRET_MARKER in str(full)
        assert SECRET_MARKER in aud.get(f"/audits/{i['audit_a']}/report").text


def test_bad_token_is_401_not_public(server: Server) -> None:
    r = httpx.get(f"{server.url}/api/v1/registry", headers={"Authorization": "Bearer mct_nope"})
    assert r.status_code == 401
    r = httpx.get(f"{server.url}/api/v1/registry", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


@pytest.mark.parametrize("with_csrf", [False, True])
def test_password_session_needs_csrf_on_forms(server: Server, lab: Lab, with_csrf: bool) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        page = c.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        bad = c.post("/login", data={"username": "auditor", "password": PASSWORD})
        assert bad.status_code == 403  # the login form itself is CSRF-protected
        r = c.post("/login", data={"username": "auditor", "password": PASSWORD, "csrf_token": csrf})
        assert r.status_code == 303
        dash = c.get("/dashboard")
        assert dash.status_code == 200 and "auditor (auditor)" in dash.text
        new_csrf = re.search(r'name="csrf_token" value="([^"]+)"', dash.text).group(1)  # type: ignore[union-attr]
        assert new_csrf != csrf  # a fresh session after login
        form = {"status": "suspended", "reason": "csrf test"}
        if with_csrf:
            form["csrf_token"] = new_csrf
        r = c.post(f"/versions/{lab.ids['version_a']}/status", data=form)
        assert r.status_code in ((303, 409) if with_csrf else (403,))
        wrong = c.post("/login", data={"username": "auditor", "password": "wrong-password", "csrf_token": new_csrf})
        assert wrong.status_code == 401 and "wrong username or password" in wrong.text
