"""Self-contained evidence bundles that a third party re-verifies without our database.

A bundle is a folder with two files:

* ``records.jsonl``: one line per record, in ``seq`` order, each the canonical JSON of
  ``{"body", "hash", "item", "kind", "prev", "run", "seq"}`` where ``body`` is the
  stored canonical-JSON text of the record envelope, byte for byte;
* ``manifest.json``: the format, run id, record count, SHA-256 of ``records.jsonl``,
  Merkle root and head hash, plus how those are computed;
* ``disclosures.jsonl`` (optional): the lab's plaintext of secret-suite samples, one
  disclosure per line (:mod:`modelcert.evidence.disclosure`). It is outside the hash
  chain, so leaving it out (``--redact secret``) gives the same Merkle root; when present
  each line must match the commitments in the record it opens.

Verification needs only SHA-256 and a JSON parser: for each record check
``hash == sha256(canonical_json({"body": envelope, "prev": prev}))``, that ``prev`` is
the previous record's hash (64 zeros for the first) and that ``run_end`` carries the
RFC 6962 Merkle root of the 32-byte record hashes before it. The bundle's root (the one
a certificate names) is the RFC 6962 root over all record hashes, ``run_end`` included.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelcert import __version__
from modelcert.errors import EvidenceError
from modelcert.evidence.chain import canonical_json, sha256_hex
from modelcert.evidence.disclosure import DisclosureError, check_disclosures, secret_texts
from modelcert.evidence.store import EvidenceStore, Record
from modelcert.evidence.verify import VerifyResult, verify_records

FORMAT = "modelcert-evidence-bundle/2"
RECORDS = "records.jsonl"
MANIFEST = "manifest.json"
DISCLOSURES = "disclosures.jsonl"

_HOW = {
    "canonical_json": "keys sorted, UTF-8, separators ',' ':', no NaN/Infinity",
    "record_hash": "sha256(canonical_json({'body': envelope, 'prev': prev})) as hex",
    "merkle": "RFC 6962 over the 32-byte hashes of all records, run_end included",
    "run_end_merkle": "run_end.data.merkle_root: RFC 6962 over the record hashes before run_end",
    "genesis_prev": "0" * 64,
}


def _line(rec: Record) -> bytes:
    return canonical_json(
        {
            "body": rec.body,
            "hash": rec.hash,
            "item": rec.item,
            "kind": rec.kind,
            "prev": rec.prev,
            "run": rec.run_id,
            "seq": rec.seq,
        }
    )


def export_bundle(store: EvidenceStore, run: str, out: Path, *, redact: bool = False) -> dict[str, Any]:
    """Write the bundle for ``run`` to ``out`` (created; must not hold files) atomically.

    The run must verify before it is exported, its disclosures included: a bundle never
    carries a broken log. Without ``redact`` the run's disclosures (secret-suite
    plaintext) go into ``disclosures.jsonl``; with it they stay in the lab, and the
    manifest lists the records whose non-redacted text (the model's answer) still
    contains a secret text, for review before the bundle is handed out.
    Returns the manifest.
    """
    run_id = store.resolve_run(run)
    records = list(store.records(run_id))
    result = verify_records(run_id, records)
    if not result.ok:
        raise EvidenceError(f"refusing to export: {result.summary()}")
    disclosures = list(store.disclosures(run_id))
    try:
        check_disclosures(run_id, records, disclosures)
    except EvidenceError as exc:
        raise EvidenceError(f"refusing to export run {run_id}: {exc}") from None
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise EvidenceError(f"bundle destination {out} exists and is not an empty folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        payload = b"".join(_line(r) + b"\n" for r in records)
        (tmp / RECORDS).write_bytes(payload)
        redaction: dict[str, Any] = {"mode": "secret" if redact else "none", "secret_samples": len(disclosures)}
        if redact:
            redaction["secret_text_in_answers"] = _echoes(records, secret_texts(disclosures))
        elif disclosures:
            (tmp / DISCLOSURES).write_bytes(b"".join(canonical_json(d) + b"\n" for d in disclosures))
        manifest = {
            "format": FORMAT,
            "run_id": run_id,
            "records": result.records,
            "closed": result.closed,
            "records_sha256": sha256_hex(payload),
            "merkle_root": result.merkle_root,
            "head": result.head,
            "redaction": redaction,
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "exporter": f"modelcert {__version__}",
            "how": _HOW,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _echoes(records: list[Record], secrets: set[str]) -> list[int]:
    """``seq`` of the records whose text still holds a secret text (an answer echoing its prompt)."""
    if not secrets:
        return []
    hits = []
    for rec in records:
        if any(s in rec.body for s in map(_escaped, secrets)):
            hits.append(rec.seq)
    return hits


def _escaped(text: str) -> str:
    """How ``text`` appears inside a canonical-JSON body (quotes, backslashes, control characters escaped)."""
    return canonical_json(text).decode()[1:-1]


def _read_records(path: Path) -> list[Record]:
    records = []
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                obj = json.loads(raw)
                records.append(
                    Record(obj["run"], obj["seq"], obj["kind"], obj["item"], obj["body"], obj["prev"], obj["hash"])
                )
            except (ValueError, KeyError, TypeError):
                raise EvidenceError(f"{path.name} line {n} is not a bundle record") from None
    return records


def verify_bundle(folder: Path, *, expected_root: str | None = None) -> str:
    """Verify a bundle folder and return its Merkle root; :class:`EvidenceError` if not intact."""
    result = check_bundle(folder, expected_root=expected_root)
    if not result.ok:
        raise EvidenceError(result.summary())
    assert result.merkle_root is not None
    return result.merkle_root


def check_bundle(folder: Path, *, expected_root: str | None = None) -> VerifyResult:
    """Verify a bundle folder and return the full result (for reporting)."""
    folder = Path(folder)
    rec_path, man_path = folder / RECORDS, folder / MANIFEST
    for p in (rec_path, man_path):
        if not p.is_file():
            raise EvidenceError(f"not an evidence bundle: {p} is missing")
    try:
        manifest = json.loads(man_path.read_text(encoding="utf-8"))
        run_id = manifest["run_id"]
        fmt = manifest["format"]
    except (ValueError, KeyError, TypeError):
        raise EvidenceError(f"{man_path} is not a bundle manifest") from None
    if fmt != FORMAT:
        hint = "; format 1 roots did not cover run_end: re-export the run" if fmt == "modelcert-evidence-bundle/1" else ""
        raise EvidenceError(f"unsupported bundle format {fmt!r} (expected {FORMAT}){hint}")
    records = _read_records(rec_path)
    result = verify_records(run_id, records, expected_root=expected_root)
    if not result.ok:
        return result
    mismatch = [
        k
        for k, v in (("records", result.records), ("merkle_root", result.merkle_root), ("head", result.head))
        if manifest.get(k) != v
    ]
    if sha256_hex(rec_path.read_bytes()) != manifest.get("records_sha256"):
        mismatch.append("records_sha256")
    if mismatch:
        return VerifyResult(
            run_id, False, result.records, result.closed, None, None, None,
            f"manifest disagrees with the records on {', '.join(mismatch)}",
        )
    disc_path = folder / DISCLOSURES
    if disc_path.exists():
        try:
            check_disclosures(run_id, records, _read_disclosures(disc_path))
        except DisclosureError as exc:
            return VerifyResult(run_id, False, result.records, result.closed, None, None, exc.seq,
                                f"{DISCLOSURES}: {exc.problem}")
    return result


def _read_disclosures(path: Path) -> Iterator[Any]:
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                yield json.loads(raw)
            except ValueError:
                raise DisclosureError(None, f"line {n} is not JSON") from None
