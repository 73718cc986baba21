"""Acceptance: any change to a stored record is detected and the record is named.

Two layers: an exhaustive in-memory sweep (every character of every column of every
record) over the verification function, and raw SQL edits of a real SQLite and
PostgreSQL database checked through ``verify_run`` (the code behind
``modelcert evidence verify``).
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import create_engine, text

from modelcert.evidence.chain import record_hash
from modelcert.evidence.store import EvidenceStore, Record
from modelcert.evidence.verify import verify_records, verify_run


def _fill(store: EvidenceStore) -> str:
    run = store.create_run()
    store.append(run, "preregistration", {"policy_digest": "ab" * 32, "plan": {"alpha": 0.05}})
    store.append(run, "run_start", {"check": {"id": "safety", "version": "1"}, "seed": 0, "model": "local/x"})
    store.append(run, "sample", {"sample_id": 1, "epoch": 1, "output": "Jä, ok", "scores": {"s": {"value": 1.5}}})
    store.append(run, "sample_error", {"sample_id": "two", "epoch": 1, "error": {"message": "HTTP 500"}})
    store.append(run, "sample", {"sample_id": 3, "epoch": 1, "output": "", "scores": {}})
    store.append(run, "round", {"requested": 3, "completed": 2})
    store.finish(run)
    return run


def _other_char(c: str) -> str:
    return "b" if c != "b" else "c"


def test_every_character_of_every_column_is_covered(tmp_path) -> None:
    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        run = _fill(store)
        records = list(store.records(run))
    assert verify_records(run, records).ok
    checked = 0
    for i, rec in enumerate(records):
        for field in ("body", "prev", "hash", "kind", "item", "run_id"):
            value = getattr(rec, field)
            if value is None:
                forged = dataclasses.replace(rec, **{field: "[1,1]"})
                variants = [forged]
            else:
                variants = [
                    dataclasses.replace(rec, **{field: value[:k] + _other_char(value[k]) + value[k + 1 :]})
                    for k in range(len(value))
                ]
            for forged in variants:
                result = verify_records(run, [*records[:i], forged, *records[i + 1 :]])
                assert not result.ok and result.bad_seq == i, (i, field, result)
                checked += 1
        for seq in (rec.seq - 1, rec.seq + 1, rec.seq + 100):
            result = verify_records(run, [*records[:i], dataclasses.replace(rec, seq=seq), *records[i + 1 :]])
            assert not result.ok and result.bad_seq <= i + 1, (i, seq, result)
    assert checked > 2000


def _drop_guards(conn, dialect: str) -> None:
    if dialect == "sqlite":
        for name in ("evidence_records_no_update", "evidence_records_no_delete"):
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
    else:
        conn.execute(text("DROP TRIGGER IF EXISTS evidence_records_append_only ON evidence_records"))


def _raw(store_url: str, *statements: tuple[str, dict]) -> None:
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            _drop_guards(conn, engine.dialect.name)
            for sql, params in statements:
                conn.execute(text(sql), params)
    finally:
        engine.dispose()


def _flip(value: str, k: int) -> str:
    return value[:k] + _other_char(value[k]) + value[k + 1 :]


@pytest.mark.parametrize("column", ["body", "prev", "hash", "kind"])
def test_single_byte_change_in_the_database_names_the_record(store_url: str, column: str) -> None:
    with EvidenceStore(store_url) as store:
        runs = []
        for seq in range(7):  # one fresh run per record position
            run = _fill(store)
            rec = list(store.records(run))[seq]
            value = getattr(rec, column)
            runs.append((run, seq, value))
    for n, (run, seq, value) in enumerate(runs):
        k = [0, len(value) // 2, len(value) - 1][n % 3]
        _raw(
            store_url,
            (f"UPDATE evidence_records SET {column} = :v WHERE run_id = :r AND seq = :s",
             {"v": _flip(value, k), "r": run, "s": seq}),
        )
    with EvidenceStore(store_url, create=False) as store:
        for run, seq, _ in runs:
            result = verify_run(store, run)
            assert not result.ok and result.bad_seq == seq, (column, seq, result)
            assert f"record {seq}" in result.summary()


def test_item_and_run_columns_are_covered(store_url: str) -> None:
    with EvidenceStore(store_url) as store:
        a, b, c = _fill(store), _fill(store), store.create_run()
    _raw(
        store_url,
        ("UPDATE evidence_records SET item = :v WHERE run_id = :r AND seq = 2", {"v": "[1,2]", "r": a}),
        ("UPDATE evidence_records SET run_id = :o WHERE run_id = :r AND seq = 4", {"o": c, "r": b}),
    )
    with EvidenceStore(store_url, create=False) as store:
        ra, rb, rc = verify_run(store, a), verify_run(store, b), verify_run(store, c)
    assert ra.bad_seq == 2 and "item" in ra.problem
    assert rb.bad_seq == 4 and "missing" in rb.problem
    assert rc.bad_seq == 0 and not rc.ok  # the moved record does not fit its new run either


def test_deletion_reordering_and_insertion(store_url: str) -> None:
    with EvidenceStore(store_url) as store:
        deleted, swapped, inserted, appended, truncated = (_fill(store) for _ in range(5))
        recs = list(store.records(inserted))
        prev_rec = recs[2]
        forged_env = {"at": "2026-01-01T00:00:00Z", "data": {"sample_id": 99, "epoch": 1}, "kind": "sample",
                      "run": inserted, "seq": 3}
        forged_body = json.dumps(forged_env, sort_keys=True, separators=(",", ":"))
        after_end = {**forged_env, "run": appended, "seq": 7}
        end = list(store.records(appended))[-1]
        root = store.run_root(truncated)
    _raw(
        store_url,
        ("DELETE FROM evidence_records WHERE run_id = :r AND seq = 3", {"r": deleted}),
        # swap records 2 and 4 by renumbering
        ("UPDATE evidence_records SET seq = 100 WHERE run_id = :r AND seq = 2", {"r": swapped}),
        ("UPDATE evidence_records SET seq = 2 WHERE run_id = :r AND seq = 4", {"r": swapped}),
        ("UPDATE evidence_records SET seq = 4 WHERE run_id = :r AND seq = 100", {"r": swapped}),
        # insert a self-consistent forged record at 3, shifting the rest up
        *[("UPDATE evidence_records SET seq = seq + 1 WHERE run_id = :r AND seq = :s", {"r": inserted, "s": s})
          for s in range(6, 2, -1)],
        ("INSERT INTO evidence_records (run_id, seq, kind, item, body, prev, hash) "
         "VALUES (:r, 3, 'sample', '[99,1]', :b, :p, :h)",
         {"r": inserted, "b": forged_body, "p": prev_rec.hash, "h": record_hash(forged_env, prev_rec.hash)}),
        # a valid-looking record chained after run_end
        ("INSERT INTO evidence_records (run_id, seq, kind, item, body, prev, hash) "
         "VALUES (:r, 7, 'sample', '[99,1]', :b, :p, :h)",
         {"r": appended, "b": json.dumps(after_end, sort_keys=True, separators=(",", ":")), "p": end.hash,
          "h": record_hash(after_end, end.hash)}),
        # cut the tail, run_end included: only the anchored root reveals it
        ("DELETE FROM evidence_records WHERE run_id = :r AND seq >= 5", {"r": truncated}),
    )
    with EvidenceStore(store_url, create=False) as store:
        r = verify_run(store, deleted)
        assert (r.ok, r.bad_seq) == (False, 3) and "missing" in r.problem
        r = verify_run(store, swapped)
        assert (r.ok, r.bad_seq) == (False, 2)
        r = verify_run(store, inserted)
        assert (r.ok, r.bad_seq) == (False, 4)  # the forged record chains; its successor no longer does
        r = verify_run(store, appended)
        assert (r.ok, r.bad_seq) == (False, 7) and "after run_end" in r.problem
        assert verify_run(store, truncated).ok  # an open-looking run...
        r = verify_run(store, truncated, expected_root=root)
        assert not r.ok and "expected" in r.problem  # ...is caught against the certified root


def test_untouched_runs_stay_intact_next_to_tampered_ones(store_url: str) -> None:
    with EvidenceStore(store_url) as store:
        good, bad = _fill(store), _fill(store)
    _raw(store_url, ("UPDATE evidence_records SET body = body || ' ' WHERE run_id = :r AND seq = 5", {"r": bad}))
    with EvidenceStore(store_url, create=False) as store:
        assert verify_run(store, good).ok
        r = verify_run(store, bad)
        assert r.bad_seq == 5 and "canonical" in r.problem


def test_record_type_is_frozen() -> None:
    rec = Record("r", 0, "note", None, "{}", "0" * 64, "0" * 64)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.body = "x"  # type: ignore[misc]
