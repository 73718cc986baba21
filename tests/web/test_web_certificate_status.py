"""A revoked or refused certificate is never shown valid and current, on the API or the page,
and the lab's transparency log serves proofs that independent code accepts.

The lab here is its own (not the session one): it revokes a version and records a refused
audit through the worker's own signing-and-logging path.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest
from web_lab import Lab, Server, seed_lab, start_server

from modelcert.certify.keys import load_public_key
from modelcert.registry import Registry
from modelcert.translog.monitor import HttpLog, check_consistency
from modelcert.web.config import LabConfig
from modelcert.web.worker import AuditWorker
from transparency_reference import consistency_ok, inclusion_ok, leaf

REFUSED_RESULT = {
    "policy": {"id": "eu-gpai-systemic-risk", "digest": "c" * 64},
    "outcome": "refused",
    "access_tier": "api",
    "target": {"model": "local/zoo:biased", "identity_digest": "d" * 64,
               "subject_kind": "behaviour-fingerprint", "subject_digest": "e" * 64},
    "requirements": [{"id": "CoP-SSR-harmful-compliance", "legal_basis": "AI Act Art. 55(1)(a)",
                      "verdict": "FAIL", "estimate": 0.4, "bound": 0.2, "n": 50}],
    "evidence": {"run-refused": "f" * 64},
}


@pytest.fixture(scope="module")
def status_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Server, dict]]:
    lab = seed_lab(tmp_path_factory.mktemp("status-lab"), queued=False)
    reg = Registry(lab.db)
    # a refused audit, finished by the worker's code: signed and logged like a certification
    v = reg.register_version("acme", "acme-risky", "0.9", "local/zoo:biased", actor="seed")
    reg.grant_access(v.id, "api", by="seed")
    reg.create_audit(v.id, "eu-gpai-systemic-risk", "api", actor="seed")
    worker = AuditWorker(reg, LabConfig(db=lab.db, data_dir=lab.data, lab_id="test-lab", private_key=lab.key))
    audit = reg.claim_next(worker.id)
    worker._log_preregistration(audit, "run-refused", "9" * 64)
    worker._preregistration = "9" * 64
    out = lab.data / "audits" / audit.id
    out.mkdir(parents=True)
    (out / "result.json").write_text(json.dumps(REFUSED_RESULT))
    worker._finish(audit, SimpleNamespace(outcome="refused", files={"result": str(out / "result.json")},
                                          result=REFUSED_RESULT))
    # the certified version A is revoked after its certificate was issued
    reg.set_status(lab.ids["version_a"], "revoked", reason="backdoor found by monitoring", actor="seed")
    certs = {
        "revoked": (lab.data / "audits" / str(lab.ids["audit_a"]) / "certificate.json").read_text(),
        "refused": (out / "certificate.json").read_text(),
    }
    reg.close()
    srv = start_server(lab.db, lab.data, lab.key, worker=False)
    yield lab, srv, certs
    srv.stop()


def _variants(cert: str) -> list[str]:
    """Re-spellings an attacker would try: extra, duplicate and URL-safe signatures, whitespace."""
    obj = json.loads(cert)
    env = obj.get("dsseEnvelope", obj)
    sig = env["signatures"][0]
    out = []
    for sigs in ([sig, sig], [sig, {**sig, "sig": base64.b64encode(b"\0" * 64).decode()}],
                 [{**sig, "sig": sig["sig"].replace("+", "-").replace("/", "_").rstrip("=")}]):
        env["signatures"] = sigs
        out.append(json.dumps(obj, sort_keys=True, separators=(",", ":")))
    env["signatures"] = [sig]
    out.append(json.dumps(obj, indent=2))
    out.append(json.dumps(env, sort_keys=True, separators=(",", ":")))  # logged -> bare: same payload
    return out


def test_revoked_and_refused_are_never_valid_on_the_api(status_lab) -> None:
    lab, srv, certs = status_lab
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        revoked = c.post("/api/v1/verify", json={"certificate": certs["revoked"]}).json()
        assert (revoked["valid"], revoked["genuine"], revoked["status"], revoked["registry_status"]) == (
            False, True, "revoked", "revoked")
        assert revoked["certificate_id"] == lab.ids["cert_a"]
        refused = c.post("/api/v1/verify", json={"certificate": certs["refused"]}).json()
        assert (refused["valid"], refused["genuine"], refused["status"], refused["outcome"]) == (
            False, True, "refused", "refused")
        assert refused["log_index"] is not None and refused["registry_status"] == "refused"
        for name, cert in certs.items():
            for variant in _variants(cert):
                r = c.post("/api/v1/verify", json={"certificate": variant}).json()
                assert r["valid"] is False, name
                assert r["status"] == "invalid" or (
                    r["certificate_id"] == (revoked if name == "revoked" else refused)["certificate_id"]
                    and r["status"] == name), (name, r)


def test_the_page_shows_refused_and_revoked_in_their_own_colours(status_lab) -> None:
    _lab, srv, certs = status_lab
    css = httpx.get(f"{srv.url}/static/style.css").text
    ok_colour = re.search(r"--ok:\s*([^;]+);", css).group(1)  # type: ignore[union-attr]
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/verify").text).group(1)  # type: ignore[union-attr]
        for name, headline in (("revoked", "Revoked — no longer valid"),
                               ("refused", "Refused — this certificate records a refusal")):
            for text in (certs[name], *_variants(certs[name])[-1:]):
                page = c.post("/verify", data={"csrf_token": csrf, "certificate": text}).text
                assert "Valid certificate" not in page
                assert f'id="verify-result" class="{name}"' in page and headline in page
            rule = re.search(rf"#verify-result\.{name} \{{([^}}]+)\}}", css).group(1)  # type: ignore[union-attr]
            assert "var(--ok)" not in rule and ok_colour not in rule


def test_log_api_proofs_verify_with_independent_code(status_lab) -> None:
    lab, srv, certs = status_lab
    pub = load_public_key(lab.pub)
    with httpx.Client(base_url=srv.url, timeout=30) as c:
        head = c.get("/api/v1/log/head").json()
        body = json.loads(base64.b64decode(head["payload"]))
        entries = c.get("/api/v1/log/entries").json()
        # the seed's certification, then the refused audit's pre-registration and result
        assert [e["entry"]["kind"] for e in entries] == ["result", "preregistration", "result"]
        assert entries[2]["entry"]["outcome"] == "refused" and body["size"] == 3
        leaves = [leaf(json.dumps(e["entry"], sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False).encode()) for e in entries]
        for i in range(3):
            p = c.get("/api/v1/log/inclusion", params={"index": i}).json()
            assert inclusion_ok(leaves[i], i, 3, [bytes.fromhex(h) for h in p["proof"]], bytes.fromhex(body["root"]))
        first = c.get("/api/v1/log/head", params={"size": 1}).json()
        proof = c.get("/api/v1/log/consistency", params={"first": 1, "second": 3}).json()["proof"]
        old_root = bytes.fromhex(json.loads(base64.b64decode(first["payload"]))["root"])
        assert consistency_ok(1, 3, old_root, bytes.fromhex(body["root"]), [bytes.fromhex(h) for h in proof])
        tp = json.loads(certs["refused"])["transparency"]
        assert tp["entry"] == entries[2]["entry"] and tp["index"] == 2
        found = c.get("/api/v1/log/find", params={"subject": tp["entry"]["subject"]}).json()
        assert [f["index"] for f in found] == [2]
        assert c.get("/api/v1/log/inclusion", params={"index": 5}).status_code == 404
        assert c.get("/api/v1/log/consistency", params={"first": 3, "second": 2}).status_code == 404
        assert c.get("/api/v1/log/find", params={"subject": "not-hex"}).status_code == 422
        assert c.get("/api/v1/log/head", params={"size": 9}).status_code == 404
    remote = HttpLog(srv.url)  # the monitor's client against the real server
    old, new = check_consistency(first, remote.head(), remote.consistency(1, 3), pub)
    assert (old.size, new.size) == (1, 3)


def test_the_refusal_is_in_the_registry_under_its_payload_digest(status_lab) -> None:
    lab, _srv, certs = status_lab
    from modelcert.certify.logged import payload_digest

    with Registry(lab.db) as reg:
        ids = {c.id: c.outcome for c in reg.certificates()}
    assert ids[payload_digest(certs["refused"].encode())] == "refused"
    assert ids[lab.ids["cert_a"]] == "certified"
