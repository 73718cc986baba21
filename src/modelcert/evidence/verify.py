"""Re-check a run's records: every byte, every link, the order and the Merkle root.

The same function checks records read from the database and records read from an
exported bundle, so a third party runs exactly the checks we run.

What it catches, and where it points:

* a changed byte in any column: the record whose body no longer hashes to its
  ``hash``, whose body is not in canonical form, or whose ``run``/``seq``/``kind``/
  ``item`` columns disagree with its body;
* a deleted record: the first missing ``seq``;
* reordered records: the first record whose ``seq`` or ``prev`` is out of place;
* an inserted record: the first record whose ``seq`` or ``prev`` no longer chains, or
  any record after ``run_end``;
* a rewritten tail: the ``run_end`` count, Merkle root and answers root, and, against an attacker
  who recomputes everything, the root you hold from a certificate or the transparency
  log (``expected_root``).

The run's root (:attr:`VerifyResult.merkle_root`, the value certificates anchor) is
the RFC 6962 root over *every* record hash, ``run_end`` included. A deleted, truncated
or rewritten ``run_end`` therefore changes it. (``run_end`` itself carries the root of
the records before it, which lets a reader check the run in one pass.)

Deleting trailing records of a run cannot be told apart from a run that stopped
there without an anchor; an anchored root shows it, ``run_end`` included.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from modelcert.evidence.answers import answers_root
from modelcert.evidence.chain import GENESIS, canonical_json, merkle_root
from modelcert.evidence.store import RUN_END, SAMPLE_KINDS, Record, chained_hash, item_key

_ENVELOPE_KEYS = {"at", "data", "kind", "run", "seq"}


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of verifying one run."""

    run_id: str
    ok: bool
    records: int
    closed: bool
    merkle_root: str | None
    """The run's anchored root: RFC 6962 over every record hash, ``run_end`` included."""
    head: str | None
    """Hash of the last record: it commits to the whole chain, ``run_end`` included."""
    bad_seq: int | None = None
    problem: str | None = None

    def summary(self) -> str:
        if self.ok:
            state = "closed" if self.closed else "open (no run_end yet)"
            return f"run {self.run_id}: intact, {self.records} records, {state}, merkle root {self.merkle_root}"
        return f"run {self.run_id}: TAMPERED at record {self.bad_seq}: {self.problem}"


class _Bad(Exception):
    def __init__(self, seq: int, problem: str) -> None:
        super().__init__(problem)
        self.seq = seq
        self.problem = problem


def _check_record(run_id: str, expected_seq: int, prev: str, rec: Record) -> dict[str, Any]:
    """Check one record in position; return its parsed envelope or raise _Bad."""
    seq = expected_seq
    if rec.run_id != run_id:
        raise _Bad(seq, f"belongs to run {rec.run_id!r}")
    if rec.seq != expected_seq:
        if rec.seq > expected_seq:
            raise _Bad(seq, f"missing (next stored record is {rec.seq}): deleted or renumbered")
        raise _Bad(seq, f"appears again (a record with seq {rec.seq} came before): duplicated or reordered")
    try:
        env = json.loads(rec.body)
    except ValueError:
        raise _Bad(seq, "body is not valid JSON") from None
    if not isinstance(env, dict) or set(env) != _ENVELOPE_KEYS:
        raise _Bad(seq, "body is not a record envelope")
    try:
        canonical = canonical_json(env).decode()
    except ValueError:
        raise _Bad(seq, "body holds a value canonical JSON forbids") from None
    if canonical != rec.body:
        raise _Bad(seq, "body is not in canonical form (bytes were changed)")
    if env["seq"] != rec.seq:
        raise _Bad(seq, f"body says seq {env['seq']!r}: reordered or renumbered")
    if env["run"] != run_id:
        raise _Bad(seq, f"body says run {env['run']!r}: moved from another run")
    if env["kind"] != rec.kind:
        raise _Bad(seq, f"kind column {rec.kind!r} disagrees with body kind {env['kind']!r}")
    data = env["data"]
    if rec.kind in SAMPLE_KINDS:
        if not isinstance(data, dict) or "sample_id" not in data or "epoch" not in data:
            raise _Bad(seq, "sample record without sample_id/epoch")
        if rec.item != item_key(data["sample_id"], data["epoch"]):
            raise _Bad(seq, "item column disagrees with the body's sample id/epoch")
    elif rec.item is not None:
        raise _Bad(seq, "item column set on a non-sample record")
    if rec.prev != prev:
        raise _Bad(seq, "prev does not match the previous record's hash: chain broken")
    if chained_hash(rec.body, rec.prev) != rec.hash:  # == record_hash(env, prev): body is canonical
        raise _Bad(seq, "hash does not match body and prev")
    return env


def verify_records(
    run_id: str, records: Iterable[Record], *, expected_root: str | None = None
) -> VerifyResult:
    """Verify ``records`` (in stored ``seq`` order) as the complete log of ``run_id``.

    Args:
        run_id: The run the records claim to belong to.
        records: The records, ordered by their stored ``seq``.
        expected_root: A Merkle root held independently (e.g. from a certificate); if
            given, the run's root must equal it, which also exposes a truncated or
            wholly recomputed log.
    """
    hashes: list[bytes] = []
    samples: list[dict[str, Any]] = []
    prev = GENESIS
    closed = False
    root: str | None = None
    i = 0
    try:
        for i, rec in enumerate(records):
            if closed:
                raise _Bad(i, "record after run_end: inserted")
            env = _check_record(run_id, i, prev, rec)
            if rec.kind == RUN_END:
                root = merkle_root(hashes)
                data = env["data"]
                if data.get("records") != len(hashes):
                    raise _Bad(i, f"run_end counts {data.get('records')!r} records but {len(hashes)} precede it")
                if data.get("merkle_root") != root:
                    raise _Bad(i, "run_end Merkle root does not match the records before it")
                if "answers_root" in data and data["answers_root"] != answers_root(samples):
                    raise _Bad(i, "run_end answers root does not match the samples before it")
                closed = True
            hashes.append(bytes.fromhex(rec.hash))
            if rec.kind in SAMPLE_KINDS:
                samples.append(env["data"])
            prev = rec.hash
        if not hashes:
            return VerifyResult(run_id, False, 0, False, None, None, 0, "run has no records")
        root = merkle_root(hashes)
        if expected_root is not None and root != expected_root:
            problem = "records missing or rewritten"
            if not closed:
                problem = "the run has no run_end (deleted?) or records are missing or rewritten"
            raise _Bad(len(hashes) - 1, f"Merkle root {root} differs from the expected {expected_root}: {problem}")
    except _Bad as bad:
        return VerifyResult(run_id, False, len(hashes), closed, None, None, bad.seq, bad.problem)
    return VerifyResult(run_id, True, len(hashes), closed, root, prev)


def verify_run(store: Any, run: str, *, expected_root: str | None = None) -> VerifyResult:
    """Verify a run in an :class:`~modelcert.evidence.store.EvidenceStore` (id or prefix),
    and that its stored disclosures (secret-suite plaintext) match the records they open."""
    from modelcert.evidence.disclosure import DisclosureError, check_disclosures

    run_id = store.resolve_run(run)
    result = verify_records(run_id, store.records(run_id), expected_root=expected_root)
    disclosures = list(store.disclosures(run_id)) if result.ok else []
    if not disclosures:
        return result
    seqs = {d.get("seq") for d in disclosures}
    opened = [r for r in store.records(run_id, kinds=SAMPLE_KINDS) if r.seq in seqs]
    try:
        check_disclosures(run_id, opened, disclosures)
    except DisclosureError as exc:
        return VerifyResult(run_id, False, result.records, result.closed, None, None, exc.seq, exc.problem)
    return result
