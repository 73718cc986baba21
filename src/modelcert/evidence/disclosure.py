"""Secret-suite samples: hash the committed form, keep the plaintext beside the chain.

A sample drawn from a sealed suite names the suite's root in its metadata
(``suite_root``, set by :mod:`modelcert.checks.external`). Before such a sample is
appended, :func:`commit_secret` replaces every value that carries the secret item by
:func:`~modelcert.evidence.suites.redaction` (the item's commitment plus a salted hash
of the replaced value), and returns the plaintext as a **disclosure**. The store keeps
the disclosure in its own table, outside the hash chain, so:

* the hashed record, and therefore the run's Merkle root and the certificate, never
  depend on secret text: a bundle without disclosures verifies against the same root;
* a disclosure is still checkable: its item and salt must give the commitment in the
  record, and each disclosed value must give that value's salted hash.

What is replaced (JSON Pointers into the record's ``data``): the content of every
``input`` message; in ``messages``, the content of the input messages and of any later
non-assistant message; ``target``; ``metadata.request``; and any other string (in
metadata, scores, errors, call records) that contains one of those texts. The model's
own answer (``output.completion``, ``output.logprobs``, assistant messages) stays: it is
the evidence being judged. An answer that repeats its prompt therefore repeats a secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelcert.errors import EvidenceError
from modelcert.evidence import suites
from modelcert.evidence.chain import canonical_json, sha256_hex
from modelcert.evidence.store import SAMPLE_KINDS, Record

FORMAT = "modelcert-disclosure/1"
#: Sample-metadata keys that identify the item; never secret, never redacted.
ID_KEYS = ("item_id", "suite", "suite_root", "source", "row")
#: Data keys handled explicitly (messages) or never secret (identifiers, the answer, timings).
_NOT_SCANNED = {"sample_id", "epoch", "input", "messages", "timing", "usage"}
_ANSWER = {"completion", "logprobs", "model", "stop_reason"}
_MIN_ECHO = 8  # shorter secret texts are redacted where they stand, not hunted elsewhere


def _texts(value: Any) -> list[str]:
    """The text a message content or target carries (string, text parts, list of strings)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        out: list[str] = []
        for part in value:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                out.append(part["text"])
        return out
    return []


def _strings(node: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict) and not suites.is_redaction(node):
        for k, v in node.items():
            yield from _strings(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, (*path, i))


def secret_pointers(data: Mapping[str, Any]) -> list[str]:
    """Where a secret-suite sample's record carries the secret item (see the module docstring)."""
    ptrs: list[str] = []
    secrets: list[str] = []
    inputs = data.get("input") if isinstance(data.get("input"), list) else []
    for i, msg in enumerate(inputs):
        if isinstance(msg, dict) and "content" in msg:
            ptrs.append(suites.pointer("input", i, "content"))
            secrets += _texts(msg["content"])
    messages = data.get("messages") if isinstance(data.get("messages"), list) else []
    for i, msg in enumerate(messages):
        if isinstance(msg, dict) and "content" in msg and (i < len(inputs) or msg.get("role") != "assistant"):
            ptrs.append(suites.pointer("messages", i, "content"))
            secrets += _texts(msg["content"])
    if data.get("target") not in (None, "", []):
        ptrs.append("/target")
        secrets += _texts(data["target"])
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    if isinstance(meta.get("request"), str):
        ptrs.append("/metadata/request")
        secrets.append(meta["request"])
    hunted = [s for s in set(secrets) if len(s) >= _MIN_ECHO]
    for key, value in data.items():
        if key in _NOT_SCANNED:
            continue
        for path, text in _strings(value, (key,)):
            if path[0] == "output" and path[1:2] and path[1] in _ANSWER:
                continue
            if path[0] == "metadata" and len(path) == 2 and path[1] in ID_KEYS:
                continue
            ptr = suites.pointer(*path)
            if ptr not in ptrs and any(s in text for s in hunted):
                ptrs.append(ptr)
    return ptrs


def _sealed_item(metadata: Any, sample_id: Any) -> tuple[suites.SealedSuite, int] | None:
    root = metadata.get("suite_root") if isinstance(metadata, dict) else None
    if root is None:
        return None
    suite = suites.loaded(str(root))
    if suite is None:
        raise EvidenceError(
            f"sample {sample_id!r} names sealed suite {str(root)[:16]}…, which is not loaded: "
            "refusing to record its plaintext"
        )
    item_id = metadata.get("item_id", sample_id)
    n = suite.position(item_id)
    if n is None:
        raise EvidenceError(f"sample {sample_id!r}: item {item_id!r} is not in sealed suite {suite.name!r}")
    return suite, n


def hide_secret(metadata: Any, sample_id: Any, value: Any) -> Any:
    """``value`` of a secret-suite sample as its salted :func:`~modelcert.evidence.suites.redaction`
    (binding, hiding); the value itself for any other sample. For digests over a dataset
    (the run start's ``dataset.digest``), which would otherwise confirm a guessed suite."""
    found = _sealed_item(metadata, sample_id)
    if found is None:
        return value
    suite, n = found
    return suites.redaction(suite.commitments[n], value, suite.salts[n])


def commit_secret(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``(data to hash, disclosure)`` for one sample record's data.

    A sample that names no sealed suite passes unchanged, with no disclosure. One that
    does must belong to a suite registered in this process
    (:func:`modelcert.evidence.suites.register`), or this raises
    :class:`EvidenceError` rather than let plaintext into the hashed log.
    """
    sample_id = data["sample_id"]
    found = _sealed_item(data.get("metadata"), sample_id)
    if found is None:
        return data, None
    suite, n = found
    c, salt = suite.commitments[n], suite.salts[n]
    ptrs = [p for p in secret_pointers(data) if not suites.is_redaction(_get(data, p))]
    values = {p: _get(data, p) for p in ptrs}
    key = str(sample_id)
    redacted = suites.redact_record(data, {key: c}, fields=ptrs, salts={key: salt})
    disclosure = {
        "format": FORMAT,
        "sample_id": sample_id,
        "epoch": data["epoch"],
        "suite": suite.name,
        "root": suite.root,
        "item": suite.items[n],
        "salt": salt.hex(),
        "commitment": c,
        "values": values,
    }
    return redacted, disclosure


def _get(data: Any, ptr: str) -> Any:
    node, key = suites.resolve(data, ptr)
    return node[key]


def _redactions(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str, dict[str, Any]]]:
    if suites.is_redaction(node):
        yield suites.pointer(*path), node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _redactions(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _redactions(v, (*path, i))


class _Disclosure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str
    run: str
    seq: int = Field(ge=0)
    sample_id: str | int
    epoch: int
    suite: str
    root: str = Field(pattern=r"^[0-9a-f]{64}$")
    item: dict[str, Any]
    salt: str = Field(pattern=r"^[0-9a-f]{64}$")
    commitment: str = Field(pattern=r"^[0-9a-f]{64}$")
    values: dict[str, Any]


class DisclosureError(EvidenceError):
    """A disclosure does not match the hashed record it claims to open."""

    def __init__(self, seq: int | None, problem: str) -> None:
        super().__init__(f"disclosure of record {seq}: {problem}" if seq is not None else f"disclosure: {problem}")
        self.seq = seq
        self.problem = problem


def check_disclosures(run_id: str, records: Iterable[Record], disclosures: Iterable[Any]) -> int:
    """Check each disclosure against the (already verified) records it opens; return how many.

    For each one: its item and salt must reproduce its commitment; it must name a sample
    record of this run by ``seq``, sample id and epoch; the record's redactions must be
    exactly the disclosed values' places, each carrying this commitment and the salted
    hash of the disclosed value. Any subset of the secret samples may be disclosed.
    Raises :class:`DisclosureError` at the first mismatch.
    """
    by_seq = {r.seq: r for r in records}
    seen: set[int] = set()
    for raw in disclosures:
        try:
            d = _Disclosure.model_validate(raw)
        except ValidationError as exc:
            seq = raw.get("seq") if isinstance(raw, dict) and isinstance(raw.get("seq"), int) else None
            raise DisclosureError(seq, f"not a disclosure ({suites._first_error(exc)})") from None
        if d.format != FORMAT:
            raise DisclosureError(d.seq, f"unsupported format {d.format!r}")
        if d.run != run_id:
            raise DisclosureError(d.seq, f"belongs to run {d.run!r}, not {run_id!r}")
        if d.seq in seen:
            raise DisclosureError(d.seq, "disclosed twice")
        seen.add(d.seq)
        salt = bytes.fromhex(d.salt)
        try:
            c = suites.commitment(d.item, salt)
        except ValueError:
            raise DisclosureError(d.seq, "the item cannot be hashed canonically") from None
        if c != d.commitment:
            raise DisclosureError(d.seq, "item and salt do not match its commitment (changed item or salt)")
        rec = by_seq.get(d.seq)
        if rec is None or rec.kind not in SAMPLE_KINDS:
            raise DisclosureError(d.seq, "names no sample record of this run")
        data = json.loads(rec.body)["data"]
        if data.get("sample_id") != d.sample_id or data.get("epoch") != d.epoch:
            raise DisclosureError(d.seq, "names another sample than the record holds")
        meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        if meta.get("suite_root") != d.root:
            raise DisclosureError(d.seq, "names another suite root than the record")
        marks = dict(_redactions(data))
        if set(marks) != set(d.values):
            raise DisclosureError(d.seq, "its values do not match the record's redacted places")
        for ptr, mark in marks.items():
            if mark.get("commitment") != c:
                raise DisclosureError(d.seq, f"{ptr} in the record carries another commitment")
            try:
                value_hash = sha256_hex(salt + canonical_json(d.values[ptr]))
            except ValueError:
                raise DisclosureError(d.seq, f"value for {ptr} cannot be hashed canonically") from None
            if mark.get("value") != value_hash:
                raise DisclosureError(d.seq, f"disclosed value for {ptr} does not match the record (changed text)")
    return len(seen)


def secret_texts(disclosures: Iterable[Mapping[str, Any]], *, min_len: int = _MIN_ECHO) -> set[str]:
    """Every secret text the disclosures hold (the values their records carry redacted)."""
    out: set[str] = set()
    for d in disclosures:
        for value in d.get("values", {}).values():
            out.update(t for t in _texts(value) if len(t) >= min_len)
    return out
