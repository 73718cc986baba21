"""The evidence store: an append-only, hash-chained log of records per run.

Each record is one event (run start, one sample, run end, ...). Its ``body`` is the
canonical JSON (see :mod:`modelcert.evidence.chain`) of an envelope
``{"at", "data", "kind", "run", "seq"}``; ``prev`` is the previous record's hash in the
same run (``GENESIS`` for the first) and ``hash = record_hash(envelope, prev)``. The
``run_id``, ``seq``, ``kind`` and ``item`` columns repeat what the envelope says so the
database can index them; :mod:`modelcert.evidence.verify` checks they agree.

The store only ever INSERTs. There is no update or delete in this API, and the
migration installs triggers that make the database itself refuse UPDATE and DELETE
on records, so an accidental write path cannot rewrite history.

SQLite (the default) runs in WAL mode with ``synchronous=NORMAL``: every committed
record survives a crash of the process (SIGKILL), though not necessarily a power cut;
that keeps a commit at tens of microseconds, so recording every sample as it
completes costs little. PostgreSQL commits are fully durable.

Writes go through one writer thread per store. :meth:`EvidenceStore.submit` puts an
append on a bounded queue and returns at once with a future; the writer takes whatever
has queued up (up to ``batch_size``), chains it (``seq``, ``prev``, ``hash``) and commits
it in one transaction, then resolves the futures. A record is *acknowledged* when its
future resolves: it is committed, and survives a SIGKILL. :meth:`EvidenceStore.append`
is ``submit(...).result()``, so callers that need the record (run start, round, run end)
still get it committed before they go on. The queue keeps a slow database (a PostgreSQL
round trip per commit) off Inspect's event loop; a full queue makes ``submit`` wait, so
memory stays bounded. See ``docs/evidence.md`` ("Acknowledged").
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from modelcert.db import open_engine, safe_url, upgrade_schema
from modelcert.errors import EvidenceError
from modelcert.evidence.answers import answers_root
from modelcert.evidence.chain import GENESIS, canonical_json, merkle_root, sha256_hex
from modelcert.evidence.location import resolve_url, sqlite_path

#: Record kinds with a meaning the store enforces; other lowercase kinds are allowed.
PREREGISTRATION = "preregistration"
RUN_START = "run_start"
SAMPLE = "sample"
SAMPLE_ERROR = "sample_error"
ROUND = "round"
RUN_END = "run_end"
SAMPLE_KINDS = (SAMPLE, SAMPLE_ERROR)

#: Alembic revision the code expects; checked on open to skip loading Alembic.
SCHEMA_HEAD = "0002"
VERSION_TABLE = "evidence_alembic_version"

metadata = MetaData()

runs_table = Table(
    "evidence_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("resume_key", String(64), nullable=True, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

records_table = Table(
    "evidence_records",
    metadata,
    Column("run_id", String(64), ForeignKey("evidence_runs.run_id"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(32), nullable=False),
    Column("item", Text, nullable=True),
    Column("body", Text, nullable=False),
    Column("prev", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_evidence_records_item", "run_id", "item"),
    Index("ix_evidence_records_kind", "run_id", "kind"),
)

#: Plaintext of secret-suite samples, beside (not in) the hash chain; see :meth:`EvidenceStore.append`.
disclosures_table = Table(
    "evidence_disclosures",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("body", Text, nullable=False),
    ForeignKeyConstraint(["run_id", "seq"], ["evidence_records.run_id", "evidence_records.seq"]),
)


@dataclass(frozen=True)
class Record:
    """One stored record, exactly as the database holds it."""

    run_id: str
    seq: int
    kind: str
    item: str | None
    body: str
    prev: str
    hash: str

    @property
    def envelope(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def data(self) -> dict[str, Any]:
        return self.envelope["data"]


@dataclass(frozen=True)
class RunInfo:
    """A run as listed: id, creation time, record count and its start/end summaries."""

    run_id: str
    created_at: datetime
    resume_key: str | None
    records: int
    samples: int
    errors: int
    closed: bool
    start: dict[str, Any] | None


def item_key(sample_id: Any, epoch: int) -> str:
    """The ``item`` column for a sample record: canonical JSON of ``[sample_id, epoch]``."""
    return canonical_json([sample_id, epoch]).decode()


def new_run_id() -> str:
    """A sortable, unique run id: UTC timestamp plus 8 random hex digits."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def chained_hash(body: str, prev: str) -> str:
    """``record_hash(envelope, prev)`` computed from the envelope's canonical text.

    ``canonical_json({"body": env, "prev": prev})`` is exactly these bytes (keys sorted,
    no whitespace), so the envelope need not be serialized twice. Valid only for a body
    already in canonical form; tests pin it to :func:`~modelcert.evidence.chain.record_hash`.
    """
    return sha256_hex(b'{"body":' + body.encode() + b',"prev":' + canonical_json(prev) + b"}")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class _Pending:
    """One queued append, resolved by the writer thread once committed."""

    run_id: str
    kind: str
    data: dict[str, Any]
    item: str | None
    disclosure: dict[str, Any] | None
    waited: bool = False  # a caller blocks on it (append): commit without lingering
    future: Future[Record] = field(default_factory=Future)


_STOP = None  # queue sentinel: the writer thread ends



class EvidenceStore:
    """Append-only access to the evidence database.

    Args:
        url: SQLAlchemy URL or SQLite file path; None resolves ``MODELCERT_DB`` or the
            per-user default (see :mod:`modelcert.evidence.location`).
        create: Create a missing SQLite file (writers) or refuse with an
            :class:`EvidenceError` (readers such as ``evidence verify``).
    """

    #: Appends waiting for the writer at most; a full queue makes ``submit`` wait.
    QUEUE_SIZE = 4096
    #: Records committed in one transaction at most.
    BATCH_SIZE = 256
    #: Seconds the writer waits for the next queued append before it commits a batch.
    LINGER = 0.005

    def __init__(self, url: str | None = None, *, create: bool = True) -> None:
        self.url = resolve_url(url)
        path = sqlite_path(self.url)
        if path is not None:
            if not path.exists():
                if not create:
                    raise EvidenceError(f"no evidence store at {path}")
                path.parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = open_engine(self.url, label="evidence store", error=EvidenceError,
                                          migrate=self._migrate_engine)
        self._insert_record = insert(records_table)
        self._insert_disclosure = insert(disclosures_table)
        # one held connection for appends, used by the writer thread only: a pool checkout
        # per record costs more than the insert
        self._wconn: Any = None
        self._write_lock = threading.RLock()
        # run_id -> (last seq, last hash, closed); rebuilt from the database on a miss
        self._heads: dict[str, tuple[int, str, bool]] = {}
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=self.QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    @property
    def safe_url(self) -> str:
        """The store's URL with any password hidden (for printing)."""
        return safe_url(self.url)

    # -- schema -------------------------------------------------------------------------

    @staticmethod
    def _migrate_engine(engine: Engine) -> None:
        upgrade_schema(engine, Path(__file__).with_name("migrations"), VERSION_TABLE, SCHEMA_HEAD)

    def close(self) -> None:
        """Commit everything queued, stop the writer thread and release the database."""
        with self._thread_lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join()
        with self._write_lock:
            self._drop_writer()
        self.engine.dispose()

    def __enter__(self) -> EvidenceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------

    def create_run(self, *, resume_key: str | None = None, run_id: str | None = None) -> str:
        """Register a new, empty run and return its id."""
        rid = run_id or new_run_id()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(runs_table).values(
                        run_id=rid, resume_key=resume_key, created_at=datetime.now(UTC)
                    )
                )
        except IntegrityError:
            raise EvidenceError(f"run {rid} already exists") from None
        self._heads[rid] = (-1, GENESIS, False)
        return rid

    def _head(self, conn: Any, run_id: str) -> tuple[int, str, bool]:
        row = conn.execute(
            select(records_table.c.seq, records_table.c.hash, records_table.c.kind)
            .where(records_table.c.run_id == run_id)
            .order_by(records_table.c.seq.desc())
            .limit(1)
        ).first()
        if row is None:
            exists = conn.execute(
                select(runs_table.c.run_id).where(runs_table.c.run_id == run_id)
            ).first()
            if exists is None:
                raise EvidenceError(f"no run {run_id} in the evidence store")
            return (-1, GENESIS, False)
        return (row.seq, row.hash, row.kind == RUN_END)

    def append(
        self, run_id: str, kind: str, data: dict[str, Any], *, disclosure: dict[str, Any] | None = None
    ) -> Record:
        """Append one record to ``run_id`` and return it once it is committed.

        Sample records (``sample``, ``sample_error``) must carry ``sample_id`` and
        ``epoch`` in ``data``. Nothing may follow ``run_end``, and a
        ``preregistration`` must precede every sample.

        ``disclosure`` (a secret-suite sample's plaintext, see
        :mod:`modelcert.evidence.disclosure`) is stored beside the record, outside the
        hash chain, in the same transaction: there is never one without the other.
        """
        if threading.current_thread() is self._thread:  # from a commit callback: write inline
            return self._write_one(_Pending(run_id, kind, data, self._item(kind, data, disclosure), disclosure))
        pending = _Pending(run_id, kind, data, self._item(kind, data, disclosure), disclosure, waited=True)
        self._ensure_writer()
        self._queue.put(pending)
        return pending.future.result()

    def submit(
        self,
        run_id: str,
        kind: str,
        data: dict[str, Any],
        *,
        disclosure: dict[str, Any] | None = None,
        on_commit: Callable[[Future[Record]], None] | None = None,
    ) -> Future[Record]:
        """Queue one append (as :meth:`append`) and return at once.

        The future resolves to the committed :class:`Record` (the record is then
        acknowledged) or to the :class:`EvidenceError` that refused it. ``on_commit``
        runs on the writer thread when the future resolves, either way; it must be quick
        and must not raise. Invalid kinds and sample records without ids are refused here,
        before anything is queued.
        """
        item = self._item(kind, data, disclosure)
        pending = _Pending(run_id, kind, data, item, disclosure)
        if on_commit is not None:
            pending.future.add_done_callback(on_commit)
        self._ensure_writer()
        self._queue.put(pending)
        return pending.future

    def flush(self) -> None:
        """Wait until every queued append is committed (or refused)."""
        if self._thread is not None and threading.current_thread() is not self._thread:
            self._queue.join()

    @staticmethod
    def _item(kind: str, data: dict[str, Any], disclosure: dict[str, Any] | None) -> str | None:
        if disclosure is not None and kind not in SAMPLE_KINDS:
            raise EvidenceError("only sample records carry a disclosure")
        if not kind or not kind.replace("_", "").isalpha() or not kind.islower() or len(kind) > 32:
            raise EvidenceError(f"invalid record kind {kind!r}")
        if kind in SAMPLE_KINDS:
            if "sample_id" not in data or "epoch" not in data:
                raise EvidenceError(f"{kind} record needs 'sample_id' and 'epoch'")
            return item_key(data["sample_id"], data["epoch"])
        return None

    # -- the writer thread ----------------------------------------------------------------

    def _ensure_writer(self) -> None:
        with self._thread_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._write_loop, name="modelcert-evidence-writer",
                                                daemon=True)
                self._thread.start()

    def _write_loop(self) -> None:
        """Commit whatever has queued up, in batches, until the stop sentinel.

        After the first queued append the writer lingers while more keep coming (at most
        ``LINGER`` seconds between two), so that the samples an eval finishes together
        (a forward batch's worth, about a millisecond apart) go into one transaction
        instead of a dozen small ones: every commit is a database round trip, and on a
        busy machine every wake-up of this thread takes the GIL from the event loop. An
        append that a caller waits on (:meth:`append`) is committed without lingering.
        """
        stop = False
        while not stop:
            first = self._queue.get()
            batch: list[_Pending] = []
            if first is _STOP:
                stop = True
            else:
                batch.append(first)
            linger = bool(batch) and not first.waited  # type: ignore[union-attr]
            while not stop and len(batch) < self.BATCH_SIZE:
                try:
                    nxt = self._queue.get(timeout=self.LINGER) if linger else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                else:
                    batch.append(nxt)
                    linger = linger and not nxt.waited
            try:
                if batch:
                    self._write_batch(batch)
            except BaseException as exc:  # never leave a waiter hanging
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
            finally:
                for _ in range(len(batch) + (1 if stop else 0)):
                    self._queue.task_done()
        with self._write_lock:
            self._drop_writer()  # the connection belongs to this thread

    def _write_batch(self, batch: list[_Pending]) -> None:
        """All of ``batch`` in one transaction; on any failure, each one on its own (isolating a refusal)."""
        with self._write_lock:
            try:
                records = self._transaction(batch)
            except Exception:  # rolled back as a whole: retried one by one below
                for p in batch:
                    self._heads.pop(p.run_id, None)
                for p in batch:
                    try:
                        rec = self._write_one(p)
                    except BaseException as exc:  # delivered to the waiter
                        p.future.set_exception(exc)
                    else:
                        p.future.set_result(rec)
                return
        for p, rec in zip(batch, records):
            p.future.set_result(rec)

    def _write_one(self, p: _Pending) -> Record:
        """One append in its own transaction, retried on a lost race or a dropped connection."""
        last: Exception | None = None
        with self._write_lock:
            for _attempt in range(5):
                try:
                    return self._transaction([p])[0]
                except IntegrityError as exc:
                    # another writer appended first: reload the head and chain onto it
                    self._heads.pop(p.run_id, None)
                    last = exc
                except OperationalError as exc:
                    # a dropped connection (e.g. a database restart): reconnect and retry
                    self._drop_writer()
                    self._heads.pop(p.run_id, None)
                    last = exc
        raise EvidenceError(f"could not append to run {p.run_id}: {str(last).splitlines()[0]}")

    def _writer(self) -> Any:
        if self._wconn is None:
            self._wconn = self.engine.connect()
        return self._wconn

    def _drop_writer(self) -> None:
        if self._wconn is not None:
            with contextlib.suppress(Exception):
                self._wconn.close()
            self._wconn = None

    def _transaction(self, batch: list[_Pending]) -> list[Record]:
        """Chain and insert ``batch`` in one transaction; the heads cache changes only on commit.

        The records are chained in Python first and then sent as one ``executemany``: one
        statement for the whole batch, not a round trip per record (on PostgreSQL, a round
        trip per record cost about 3 ms of wall time per sample on a loaded 2-core machine).
        """
        conn = self._writer()
        heads: dict[str, tuple[int, str, bool]] = {}
        out: list[Record] = []
        rows: list[dict[str, Any]] = []
        disclosures: list[dict[str, Any]] = []
        sampled: set[str] = set()
        try:
            with conn.begin():
                for p in batch:
                    rec, disclosure = self._chain(conn, heads, sampled, p)
                    out.append(rec)
                    rows.append({"run_id": rec.run_id, "seq": rec.seq, "kind": rec.kind, "item": rec.item,
                                 "body": rec.body, "prev": rec.prev, "hash": rec.hash})
                    if disclosure is not None:
                        disclosures.append({"run_id": rec.run_id, "seq": rec.seq, "body": disclosure})
                conn.execute(self._insert_record, rows)
                if disclosures:
                    conn.execute(self._insert_disclosure, disclosures)
        except BaseException:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise
        self._heads.update(heads)
        return out

    def _chain(
        self, conn: Any, heads: dict[str, tuple[int, str, bool]], sampled: set[str], p: _Pending
    ) -> tuple[Record, str | None]:
        """The next record of ``p.run_id`` (``seq``, ``prev``, ``hash``) and its disclosure text; refuses
        what may not follow the head. Advances ``heads`` (and ``sampled``: runs with a sample record
        earlier in this batch, not yet inserted); writes nothing."""
        run_id, kind = p.run_id, p.kind
        head = heads.get(run_id) or self._heads.get(run_id) or self._head(conn, run_id)
        seq, prev, closed = head
        if closed:
            raise EvidenceError(f"run {run_id} is closed (run_end written); nothing may follow")
        if kind == PREREGISTRATION and seq >= 0 and (run_id in sampled or self._has_samples(conn, run_id)):
            raise EvidenceError("a preregistration must be written before any sample record")
        envelope = {"at": _now(), "data": p.data, "kind": kind, "run": run_id, "seq": seq + 1}
        try:
            body = canonical_json(envelope).decode()
        except (TypeError, ValueError) as exc:
            raise EvidenceError(f"{kind} record is not canonical JSON: {exc}") from None
        h = chained_hash(body, prev)
        text = None
        if p.disclosure is not None:
            try:
                text = canonical_json({**p.disclosure, "run": run_id, "seq": seq + 1}).decode()
            except (TypeError, ValueError) as exc:
                raise EvidenceError(f"disclosure is not canonical JSON: {exc}") from None
        heads[run_id] = (seq + 1, h, kind == RUN_END)
        if kind in SAMPLE_KINDS:
            sampled.add(run_id)
        return Record(run_id, seq + 1, kind, p.item, body, prev, h), text

    def _has_samples(self, conn: Any, run_id: str) -> bool:
        return (
            conn.execute(
                select(records_table.c.seq)
                .where(records_table.c.run_id == run_id, records_table.c.kind.in_(SAMPLE_KINDS))
                .limit(1)
            ).first()
            is not None
        )

    def finish(self, run_id: str, data: dict[str, Any] | None = None) -> Record:
        """Write ``run_end``: counts per kind, the Merkle root of all earlier records and
        the answers root of their samples (:mod:`modelcert.evidence.answers`).

        The root inside ``run_end`` lets a reader check the run in one pass; the root a
        certificate anchors is :meth:`run_root`, which covers ``run_end`` itself.
        """
        self.flush()
        records = list(self.records(run_id))
        counts: dict[str, int] = {}
        for r in records:
            counts[r.kind] = counts.get(r.kind, 0) + 1
        end = {
            **(data or {}),
            "records": len(records),
            "counts": counts,
            "merkle_root": merkle_root([bytes.fromhex(r.hash) for r in records]),
            "answers_root": answers_root(r.data for r in records if r.kind in SAMPLE_KINDS),
        }
        return self.append(run_id, RUN_END, end)

    def run_root(self, run_id: str) -> str:
        """The run's anchored Merkle root: RFC 6962 over every record hash, ``run_end`` included.

        This is the value certificates and the transparency log carry. It covers the
        ``run_end`` record too, so deleting or rewriting the run's end changes it.
        """
        self.flush()  # appends still queued belong to the run
        with self.engine.connect() as conn:
            hashes = conn.execute(
                select(records_table.c.hash).where(records_table.c.run_id == run_id).order_by(records_table.c.seq)
            ).scalars()
            return merkle_root([bytes.fromhex(h) for h in hashes])

    # -- reading ------------------------------------------------------------------------

    def resolve_run(self, run: str) -> str:
        """A run id from a full id or a unique prefix (like git)."""
        with self.engine.connect() as conn:
            ids = (
                conn.execute(select(runs_table.c.run_id).where(runs_table.c.run_id.startswith(run)).limit(2))
                .scalars()
                .all()
            )
        if run in ids:
            return run
        if not ids:
            raise EvidenceError(f"no run {run!r} in the evidence store")
        if len(ids) > 1:
            raise EvidenceError(f"run prefix {run!r} is ambiguous")
        return ids[0]

    def records(self, run_id: str, *, kinds: tuple[str, ...] | None = None,
                after: int | None = None) -> Iterator[Record]:
        """The run's records in ``seq`` order (all, or only the given kinds; only those with
        ``seq > after`` if given, for a reader that keeps what it has already read)."""
        q = select(records_table).where(records_table.c.run_id == run_id)
        if kinds:
            q = q.where(records_table.c.kind.in_(kinds))
        if after is not None:
            q = q.where(records_table.c.seq > after)
        with self.engine.connect() as conn:
            for row in conn.execute(q.order_by(records_table.c.seq)):
                yield Record(row.run_id, row.seq, row.kind, row.item, row.body, row.prev, row.hash)

    def disclosures(self, run_id: str) -> Iterator[dict[str, Any]]:
        """The run's disclosures (secret-suite plaintext), in ``seq`` order."""
        q = select(disclosures_table.c.body).where(disclosures_table.c.run_id == run_id)
        with self.engine.connect() as conn:
            for body in conn.execute(q.order_by(disclosures_table.c.seq)).scalars():
                yield json.loads(body)

    def completed_items(self, run_id: str) -> set[tuple[Any, int]]:
        """``(sample_id, epoch)`` pairs that have a successful ``sample`` record."""
        with self.engine.connect() as conn:
            items = conn.execute(
                select(records_table.c.item).where(
                    records_table.c.run_id == run_id, records_table.c.kind == SAMPLE
                )
            ).scalars()
            return {tuple(json.loads(i)) for i in items}  # type: ignore[misc]

    def find_open_run(self, resume_key: str) -> str | None:
        """The newest run with this resume key that has no ``run_end`` yet."""
        ended = select(records_table.c.run_id).where(records_table.c.kind == RUN_END)
        with self.engine.connect() as conn:
            return conn.execute(
                select(runs_table.c.run_id)
                .where(runs_table.c.resume_key == resume_key, runs_table.c.run_id.not_in(ended))
                .order_by(runs_table.c.created_at.desc(), runs_table.c.run_id.desc())
                .limit(1)
            ).scalar()

    def runs(self) -> list[RunInfo]:
        """All runs, oldest first, with counts and their ``run_start`` data."""
        rc = records_table.c
        with self.engine.connect() as conn:
            counts: dict[str, dict[str, int]] = {}
            for run_id, kind, n in conn.execute(
                select(rc.run_id, rc.kind, func.count()).group_by(rc.run_id, rc.kind)
            ):
                counts.setdefault(run_id, {})[kind] = n
            starts = {
                r.run_id: json.loads(r.body)["data"]
                for r in conn.execute(select(rc.run_id, rc.body).where(rc.kind == RUN_START))
            }
            out = []
            for row in conn.execute(
                select(runs_table).order_by(runs_table.c.created_at, runs_table.c.run_id)
            ):
                c = counts.get(row.run_id, {})
                out.append(
                    RunInfo(
                        run_id=row.run_id,
                        created_at=row.created_at,
                        resume_key=row.resume_key,
                        records=sum(c.values()),
                        samples=c.get(SAMPLE, 0),
                        errors=c.get(SAMPLE_ERROR, 0),
                        closed=c.get(RUN_END, 0) > 0,
                        start=starts.get(row.run_id),
                    )
                )
        return out
