"""Issuing and verifying certificates in-process: subjects, structure, dates, evidence."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from certify_fixtures import audit_result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from modelcert.certify import dsse, keys
from modelcert.certify.issue import issue_certificate, load_audit_result
from modelcert.certify.statement import PREDICATE_TYPE, STATEMENT_TYPE, AuditResult
from modelcert.certify.verify import check_audit_result, verify_certificate
from modelcert.errors import ConfigError, VerificationError
from modelcert.evidence.bundle import export_bundle
from modelcert.evidence.chain import canonical_json, digest
from modelcert.evidence.store import EvidenceStore

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _issue(tier="api", key=None, **kw):
    key = key or Ed25519PrivateKey.generate()
    raw = audit_result(tier)
    raw.update(kw)
    data, statement = issue_certificate(AuditResult.model_validate(raw), key, lab_id="lab-test",
                                        issued_at=T0, valid_days=30)
    return key, data, statement


def _payload(data: bytes) -> dict:
    return json.loads(base64.b64decode(json.loads(data)["payload"]))


def test_api_and_weights_tiers_carry_different_subject_kinds():
    key, api_cert, _ = _issue("api")
    _, w_cert, _ = _issue("weights", key=key)
    api_st, w_st = _payload(api_cert), _payload(w_cert)
    assert api_st["subject"][0]["name"] == "model-behaviour-fingerprint"
    assert w_st["subject"][0]["name"] == "model-weights-manifest"
    assert api_st["subject"][0]["digest"]["sha256"] == audit_result("api")["target"]["subject_digest"]
    assert w_st["subject"][0]["digest"]["sha256"] == audit_result("weights")["target"]["subject_digest"]
    for st in (api_st, w_st):
        assert st["_type"] == STATEMENT_TYPE and st["predicateType"] == PREDICATE_TYPE
    for cert in (api_cert, w_cert):
        verify_certificate(cert, key.public_key(), at=T0 + timedelta(days=1))


def test_predicate_carries_what_the_issue_requires():
    _, data, _ = _issue("api")
    p = _payload(data)["predicate"]
    raw = audit_result("api")
    assert p["policy"] == {"id": raw["policy"]["id"], "digest": raw["policy"]["digest"]}
    assert p["suites"] == raw["suites"] and p["evidence"] == raw["evidence"]
    assert p["access_tier"] == "api" and p["lab_id"] == "lab-test" and p["outcome"] == "certified"
    assert p["issued_at"] == "2026-03-01T12:00:00Z" and p["valid_until"] == "2026-03-31T12:00:00Z"
    req = p["requirements"][0]
    assert (req["id"], req["verdict"], req["estimate"], req["bound"], req["n"]) == (
        "CoP-SSR-harmful-compliance", "PASS", 0.0, 0.0295, 100)
    assert "queries" not in req  # extra audit fields are not signed field by field...
    assert p["requirements"][1]["verdict"] == "NOT_ASSESSED"


def test_audit_result_digest_covers_the_whole_result_file(tmp_path, audit_dir):
    result, result_digest = load_audit_result(audit_dir)
    raw = json.loads((audit_dir / "result.json").read_text())
    assert result_digest == digest(raw)  # ...but the whole file is bound by its digest
    data, _ = issue_certificate(result, Ed25519PrivateKey.generate(), lab_id="x", result_digest=result_digest)
    assert _payload(data)["predicate"]["audit_result_digest"] == digest(raw)


def test_subject_kind_must_match_tier(tmp_path):
    raw = audit_result("api")
    raw["target"]["subject_kind"] = "weights-manifest"  # an api audit cannot name weights
    (tmp_path / "result.json").write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="needs subject_kind 'behaviour-fingerprint'"):
        load_audit_result(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("{not json", "result.json:1: not valid JSON"),
        ('{"outcome": "certified"}', "not an audit result: policy: Field required"),
        (json.dumps({**audit_result(), "outcome": "great"}), "outcome: Input should be"),
        (json.dumps(audit_result()).replace('"n": 100', '"n": -1'), "requirements.0.n"),
        (json.dumps(audit_result()).replace('"bound": 0.0295', '"bound": NaN'), "bound"),
    ],
)
def test_bad_audit_results_give_one_line_errors(tmp_path, content, message):
    if content is not None:
        (tmp_path / "result.json").write_text(content)
    with pytest.raises(ConfigError, match=message) as err:
        load_audit_result(tmp_path)
    assert "\n" not in str(err.value)


def test_validity_window():
    key, data, _ = _issue()
    pub = key.public_key()
    verify_certificate(data, pub, at=T0)
    verify_certificate(data, pub, at=T0 + timedelta(days=30))
    with pytest.raises(VerificationError, match="not valid before"):
        verify_certificate(data, pub, at=T0 - timedelta(seconds=1))
    with pytest.raises(VerificationError, match="expired on 2026-03-31"):
        verify_certificate(data, pub, at=T0 + timedelta(days=30, seconds=1))


def test_wrong_key_is_rejected():
    _, data, _ = _issue()
    with pytest.raises(VerificationError, match="no signature by key"):
        verify_certificate(data, Ed25519PrivateKey.generate().public_key(), at=T0)


def _sign_raw(key, payload_obj, payload_type=dsse.INTOTO_PAYLOAD_TYPE) -> bytes:
    return dsse.envelope_bytes(dsse.sign(canonical_json(payload_obj), payload_type, key))


def test_correctly_signed_but_malformed_statements_are_rejected():
    """A valid signature over the wrong content still fails: the structure is checked too."""
    key, data, _ = _issue()
    good = _payload(data)
    pub = key.public_key()

    with pytest.raises(VerificationError, match="payloadType"):
        verify_certificate(_sign_raw(key, good, "application/json"), pub, at=T0)

    cases = {
        "_type": ({**good, "_type": "https://in-toto.io/Statement/v0.1"}, "_type"),
        "predicateType": ({**good, "predicateType": "https://slsa.dev/provenance/v1"}, "predicateType"),
        "extra": ({**good, "extra": 1}, "extra"),
        "subject-digest": (
            {**good, "subject": [{"name": "model-behaviour-fingerprint", "digest": {"sha256": "ab" * 32}}]},
            "subject digest differs",
        ),
        "subject-kind": (
            {**good, "subject": [{"name": "model-weights-manifest", "digest": good["subject"][0]["digest"]}]},
            "does not match kind",
        ),
        "dates": ({**good, "predicate": {**good["predicate"], "valid_until": good["predicate"]["issued_at"]}},
                  "valid_until is not after"),
        "naive-date": ({**good, "predicate": {**good["predicate"], "issued_at": "2026-03-01T12:00:00"}},
                       "issued_at"),
        "verdict": ({**good, "predicate": {**good["predicate"], "requirements": [
            {**good["predicate"]["requirements"][0], "verdict": "MAYBE"}]}}, "verdict"),
    }
    for name, (payload, message) in cases.items():
        with pytest.raises(VerificationError, match=message) as err:
            verify_certificate(_sign_raw(key, payload), pub, at=T0)
        assert "\n" not in str(err.value), name
    with pytest.raises(VerificationError, match="payload is not JSON"):
        data = dsse.envelope_bytes(dsse.sign(b"\xff not json", dsse.INTOTO_PAYLOAD_TYPE, key))
        verify_certificate(data, pub, at=T0)


def _bundle(tmp_path, name: str, n: int = 3):
    """A real evidence run in SQLite, closed and exported as a bundle."""
    with EvidenceStore(f"sqlite:///{tmp_path / 'ev.db'}") as store:
        run = store.create_run()
        store.append(run, "preregistration", {"policy": "eu-gpai-systemic-risk"})
        for i in range(n):
            store.append(run, "sample", {"sample_id": f"s{i}", "epoch": 1, "input": f"q{i}", "output": "no"})
        store.finish(run)
        root = store.run_root(run)
        export_bundle(store, run, tmp_path / name)
    return run, root


def test_evidence_bundles_are_rechecked(tmp_path):
    run, root = _bundle(tmp_path, "b1")
    other_run, _ = _bundle(tmp_path, "b2", n=2)
    key = Ed25519PrivateKey.generate()
    _, data, _ = _issue(key=key, evidence={run: root})
    pub = key.public_key()
    ok = verify_certificate(data, pub, at=T0, bundles=[tmp_path / "b1"])
    assert ok.bundles == {str(tmp_path / "b1"): root}
    with pytest.raises(VerificationError, match="does not name"):
        verify_certificate(data, pub, at=T0, bundles=[tmp_path / "b2"])
    # a bundle whose records were altered fails its own verification
    rec = tmp_path / "b1" / "records.jsonl"
    rec.write_bytes(rec.read_bytes().replace(b"q1", b"q9"))
    with pytest.raises(VerificationError, match="evidence bundle"):
        verify_certificate(data, pub, at=T0, bundles=[tmp_path / "b1"])
    with pytest.raises(VerificationError, match="evidence bundle"):
        verify_certificate(data, pub, at=T0, bundles=[tmp_path / "missing"])
    assert other_run != run


def test_same_run_id_with_different_root_is_named(tmp_path):
    run, root = _bundle(tmp_path, "b1")
    key = Ed25519PrivateKey.generate()
    _, data, _ = _issue(key=key, evidence={run: "cd" * 32, "other": root})
    with pytest.raises(VerificationError, match=f"run {run}"):
        verify_certificate(data, key.public_key(), at=T0, bundles=[tmp_path / "b1"])


def test_key_id_in_signature_is_the_documented_one():
    key, data, _ = _issue()
    assert json.loads(data)["signatures"][0]["keyid"] == keys.key_id(key.public_key())


def test_audit_result_file_is_checked_against_the_certificate(tmp_path, audit_dir):
    result, result_digest = load_audit_result(audit_dir)
    key = Ed25519PrivateKey.generate()
    data, _ = issue_certificate(result, key, lab_id="x", issued_at=T0, result_digest=result_digest)
    statement = verify_certificate(data, key.public_key(), at=T0).statement
    check_audit_result(statement, audit_dir)  # the very file: OK, however it is formatted
    raw = json.loads((audit_dir / "result.json").read_text())
    (tmp_path / "same.json").write_text(json.dumps(raw, sort_keys=True))
    check_audit_result(statement, tmp_path / "same.json")
    raw["queries_total"] = 99  # a field the predicate does not copy is still bound
    (tmp_path / "edited.json").write_text(json.dumps(raw))
    with pytest.raises(VerificationError, match="not the audit result"):
        check_audit_result(statement, tmp_path / "edited.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(VerificationError, match="not a readable JSON"):
        check_audit_result(statement, tmp_path / "bad.json")
