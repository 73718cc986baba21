"""The evidence store: append-only, chained, migrated, located by --db / MODELCERT_DB."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from modelcert.errors import ConfigError, EvidenceError
from modelcert.evidence.chain import GENESIS, merkle_root, record_hash
from modelcert.evidence.location import ENV_VAR, resolve_url
from modelcert.evidence.store import SCHEMA_HEAD, EvidenceStore
from modelcert.evidence.verify import verify_run


def _sample(i: int, epoch: int = 1) -> dict:
    return {"sample_id": i, "epoch": epoch, "output": f"answer {i}"}


def test_append_chains_and_finish_writes_root(store_url: str) -> None:
    with EvidenceStore(store_url) as store:
        run = store.create_run(resume_key="k1")
        recs = [store.append(run, "run_start", {"seed": 0})]
        recs += [store.append(run, "sample", _sample(i)) for i in range(3)]
        end = store.finish(run)
        assert [r.seq for r in recs] == [0, 1, 2, 3]
        assert recs[0].prev == GENESIS
        for a, b in itertools.pairwise(recs):
            assert b.prev == a.hash
            assert b.hash == record_hash(b.envelope, a.hash)
        assert end.data["merkle_root"] == merkle_root([bytes.fromhex(r.hash) for r in recs])
        assert end.data["counts"] == {"run_start": 1, "sample": 3}
        stored = list(store.records(run))
        assert [r.hash for r in stored] == [r.hash for r in [*recs, end]]
        assert verify_run(store, run).ok
        with pytest.raises(EvidenceError, match="closed"):
            store.append(run, "sample", _sample(9))
        assert store.find_open_run("k1") is None


def test_records_after_a_seq_reads_only_later_records(store_url: str) -> None:
    with EvidenceStore(store_url) as store:
        run = store.create_run()
        recs = [store.append(run, "sample", _sample(i)) for i in range(4)]
        assert [r.seq for r in store.records(run, after=recs[1].seq)] == [2, 3]
        assert [r.seq for r in store.records(run, kinds=("sample",), after=-1)] == [0, 1, 2, 3]
        assert list(store.records(run, after=recs[-1].seq)) == []


def test_reopen_sees_completed_items_and_open_runs(store_url: str) -> None:
    with EvidenceStore(store_url) as store:
        run = store.create_run(resume_key="key")
        store.append(run, "sample", _sample(1))
        store.append(run, "sample", _sample("b", epoch=2))
        store.append(run, "sample_error", _sample(3))
    with EvidenceStore(store_url) as store:  # a fresh process would see the same
        assert store.find_open_run("key") == run
        assert store.completed_items(run) == {(1, 1), ("b", 2)}
        (info,) = store.runs()
        assert (info.samples, info.errors, info.records, info.closed) == (2, 1, 3, False)
        # appending after reopening continues the same chain
        rec = store.append(run, "sample", _sample(4))
        assert rec.seq == 3
        assert verify_run(store, run).ok


def test_two_writers_on_one_run_never_fork_the_chain(store_url: str) -> None:
    a, b = EvidenceStore(store_url), EvidenceStore(store_url)
    try:
        run = a.create_run()
        for i in range(6):
            (a if i % 2 else b).append(run, "sample", _sample(i))  # each writer's cached head goes stale
        records = list(a.records(run))
        assert [r.seq for r in records] == list(range(6))
        assert verify_run(a, run).ok
    finally:
        a.close()
        b.close()


def test_preregistration_must_precede_samples(store_url: str) -> None:
    with EvidenceStore(store_url) as store:
        run = store.create_run()
        store.append(run, "preregistration", {"policy_digest": "ab" * 32})
        store.append(run, "run_start", {})
        store.append(run, "sample", _sample(1))
        with pytest.raises(EvidenceError, match="preregistration"):
            store.append(run, "preregistration", {"policy_digest": "cd" * 32})


def test_bad_records_are_refused_with_one_line(store_url: str) -> None:
    with EvidenceStore(store_url) as store:
        run = store.create_run()
        with pytest.raises(EvidenceError, match="sample_id"):
            store.append(run, "sample", {"output": "x"})
        with pytest.raises(EvidenceError, match="canonical JSON"):
            store.append(run, "note", {"x": float("nan")})
        with pytest.raises(EvidenceError, match="kind"):
            store.append(run, "Bad Kind", {})
        with pytest.raises(EvidenceError, match="no run"):
            store.append("nonexistent", "note", {})
        assert list(store.records(run)) == []  # nothing half-written
        with pytest.raises(EvidenceError, match="already exists"):
            store.create_run(run_id=run)


def test_database_refuses_update_and_delete(store_url: str) -> None:
    with EvidenceStore(store_url) as store:
        run = store.create_run()
        store.append(run, "note", {"x": 1})
    engine = create_engine(store_url)
    try:
        for stmt in ("UPDATE evidence_records SET body = 'x'", "DELETE FROM evidence_records",
                     "DELETE FROM evidence_runs"):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(stmt))
    finally:
        engine.dispose()


def test_resolve_run_by_prefix(store_url: str) -> None:
    with EvidenceStore(store_url) as store:
        run = store.create_run(run_id="20260101T000000Z-aaaa1111")
        store.create_run(run_id="20260101T000000Z-aaaa2222")
        assert store.resolve_run("20260101T000000Z-aaaa1") == run
        with pytest.raises(EvidenceError, match="ambiguous"):
            store.resolve_run("20260101T000000Z-aaaa")
        with pytest.raises(EvidenceError, match="no run"):
            store.resolve_run("zzz")


def test_schema_head_matches_alembic_scripts() -> None:
    from alembic.script import ScriptDirectory

    import modelcert.evidence.store as store_mod

    scripts = ScriptDirectory(str(Path(store_mod.__file__).with_name("migrations")))
    assert scripts.get_current_head() == SCHEMA_HEAD


def test_migration_runs_once_and_records_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'e.sqlite'}"
    EvidenceStore(url).close()
    EvidenceStore(url).close()
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM evidence_alembic_version")).scalars().all() == [SCHEMA_HEAD]
    engine.dispose()


def test_location_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_url(str(tmp_path / "a.sqlite")) == f"sqlite:///{tmp_path / 'a.sqlite'}"
    monkeypatch.setenv(ENV_VAR, "postgresql+psycopg://u@h/db")
    assert resolve_url(None) == "postgresql+psycopg://u@h/db"
    assert resolve_url("sqlite:///x.db") == "sqlite:///x.db"  # the option wins over the variable
    monkeypatch.delenv(ENV_VAR)
    default = resolve_url(None)
    assert default.startswith("sqlite:///") and default.endswith("modelcert/evidence.sqlite")
    with pytest.raises(ConfigError):
        resolve_url("bad url://x")
    with pytest.raises(ConfigError):
        resolve_url("postgresql://u@h:notaport/db")


def test_missing_store_and_bad_urls_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="no evidence store"):
        EvidenceStore(str(tmp_path / "missing.sqlite"), create=False)
    assert not (tmp_path / "missing.sqlite").exists()
    with pytest.raises(ConfigError, match="cannot use"):
        EvidenceStore("nosuchdialect://u@h/db")
    with pytest.raises(EvidenceError, match="cannot open"):
        EvidenceStore("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(EvidenceError, match="cannot open"):
        EvidenceStore(str(garbage))


@pytest.mark.parametrize(
    "envelope",
    [
        {"at": "t", "data": {}, "kind": "note", "run": "r", "seq": 0},
        {"at": "t", "data": {"x": [1.5, -0.0, 1e300, "é\u2028\"\\"], "y": None, "z": {"b": 1, "a": 2}},
         "kind": "sample", "run": "r\u00e9", "seq": 12},
    ],
)
def test_chained_hash_is_record_hash(envelope: dict) -> None:
    from modelcert.evidence.chain import canonical_json
    from modelcert.evidence.store import chained_hash

    body = canonical_json(envelope).decode()
    for prev in (GENESIS, "ab" * 32):
        assert chained_hash(body, prev) == record_hash(envelope, prev)
