"""The transparency log's storage: entries and signed tree heads, append-only, via SQLAlchemy.

It lives in the same database as the registry and the evidence store (its own tables
and its own Alembic version table). An entry is the canonical JSON of a small object
(see :mod:`modelcert.translog.entries`); the log keeps its leaf hash beside it so a
proof over *n* entries reads 32 bytes per entry. Every append signs a new tree head in
the same transaction, so every published size has a signed head.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, func, insert, select
from sqlalchemy.exc import IntegrityError

from modelcert.db import open_engine, safe_url, upgrade_schema
from modelcert.errors import ConfigError, ModelcertError
from modelcert.evidence.chain import canonical_json
from modelcert.evidence.location import resolve_url, sqlite_path
from modelcert.translog import merkle
from modelcert.translog.heads import TreeHead, sign_head

SCHEMA_HEAD = "0001"
VERSION_TABLE = "translog_alembic_version"

metadata = MetaData()

entries_table = Table(
    "translog_entries",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("subject", String(64), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("leaf_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

heads_table = Table(
    "translog_heads",
    metadata,
    Column("size", Integer, primary_key=True, autoincrement=False),
    Column("root", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


class LogError(ModelcertError):
    """The transparency log is missing, or a proof was asked for what it does not hold."""


@dataclass(frozen=True)
class Entry:
    index: int
    kind: str
    subject: str
    body: str  # canonical JSON: the leaf's bytes, UTF-8

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.body)


class TransparencyLog:
    """Append-only Merkle log of audits (RFC 9162 tree), stored next to the registry.

    Args:
        url: SQLAlchemy URL or SQLite path; None resolves ``MODELCERT_DB`` like the other stores.
        create: create a missing SQLite file (the lab) or refuse (readers).
    """

    def __init__(self, url: str | None = None, *, create: bool = True) -> None:
        self.url = resolve_url(url)
        path = sqlite_path(self.url)
        if path is not None and not path.exists():
            if not create:
                raise LogError(f"no transparency log at {path}")
            path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = open_engine(self.url, label="transparency log", error=LogError, migrate=self._migrate)

    @staticmethod
    def _migrate(engine: Any) -> None:
        upgrade_schema(engine, Path(__file__).with_name("migrations"), VERSION_TABLE, SCHEMA_HEAD)

    @property
    def safe_url(self) -> str:
        return safe_url(self.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> TransparencyLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------------

    def append(self, entry: dict[str, Any], key: Ed25519PrivateKey) -> tuple[Entry, TreeHead]:
        """Append one entry and sign the new tree head, in one transaction.

        ``entry`` must have ``kind`` and ``subject`` (a 64-hex digest the entry is about).
        """
        kind, subject = entry.get("kind"), entry.get("subject")
        if not isinstance(kind, str) or not kind or len(kind) > 32:
            raise ConfigError("a log entry needs a 'kind' of 1-32 characters")
        if not isinstance(subject, str) or len(subject) != 64 or any(c not in "0123456789abcdef" for c in subject):
            raise ConfigError("a log entry needs a 'subject': 64 lowercase hex characters")
        try:
            body = canonical_json(entry)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"log entry is not canonical JSON: {exc}") from None
        leaf = merkle.leaf_hash(body)
        for _attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    leaves = self._leaves(conn)
                    index = len(leaves)
                    now = datetime.now(UTC)
                    conn.execute(insert(entries_table), {
                        "idx": index, "subject": subject, "kind": kind, "body": body.decode(),
                        "leaf_hash": leaf.hex(), "created_at": now,
                    })
                    head = sign_head(index + 1, merkle.root([*leaves, leaf]), key, timestamp=now)
                    conn.execute(insert(heads_table), {
                        "size": head.size, "root": head.root, "body": canonical_json(head.envelope).decode(),
                        "created_at": now,
                    })
                return Entry(index, kind, subject, body.decode()), head
            except IntegrityError:
                continue  # another writer took this index: re-read and chain after it
        raise LogError("could not append to the transparency log (too many concurrent writers)")

    def sign_empty_head(self, key: Ed25519PrivateKey) -> TreeHead | None:
        """Publish the signed head of the empty log (size 0), if the log has no head yet."""
        if self.head() is not None:
            return None
        head = sign_head(0, merkle.EMPTY_ROOT, key)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(heads_table), {
                    "size": 0, "root": head.root, "body": canonical_json(head.envelope).decode(),
                    "created_at": datetime.now(UTC),
                })
        except IntegrityError:  # another process published it first
            return None
        return head

    # -- reading --------------------------------------------------------------------------

    @staticmethod
    def _leaves(conn: Any, size: int | None = None) -> list[bytes]:
        q = select(entries_table.c.leaf_hash).order_by(entries_table.c.idx)
        if size is not None:
            q = q.limit(size)
        return [bytes.fromhex(h) for h in conn.execute(q).scalars()]

    def leaves(self, size: int | None = None) -> list[bytes]:
        with self.engine.connect() as conn:
            return self._leaves(conn, size)

    def size(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(entries_table)).scalar_one()

    def head(self, size: int | None = None) -> dict[str, Any] | None:
        """The latest signed tree head (or the one signed at ``size``) as published JSON."""
        q = select(heads_table.c.body)
        q = q.where(heads_table.c.size == size) if size is not None else q.order_by(heads_table.c.size.desc())
        with self.engine.connect() as conn:
            body = conn.execute(q.limit(1)).scalar()
        return json.loads(body) if body is not None else None

    def entry(self, index: int) -> Entry:
        with self.engine.connect() as conn:
            row = conn.execute(select(entries_table).where(entries_table.c.idx == index)).first()
        if row is None:
            raise LogError(f"no log entry {index}")
        return Entry(row.idx, row.kind, row.subject, row.body)

    def entries(self, start: int = 0, limit: int = 100) -> list[Entry]:
        q = select(entries_table).where(entries_table.c.idx >= start).order_by(entries_table.c.idx).limit(limit)
        with self.engine.connect() as conn:
            return [Entry(r.idx, r.kind, r.subject, r.body) for r in conn.execute(q)]

    def find(self, subject: str) -> list[Entry]:
        """Entries about ``subject`` (a certificate's payload digest, a pre-registration hash)."""
        q = select(entries_table).where(entries_table.c.subject == subject).order_by(entries_table.c.idx)
        with self.engine.connect() as conn:
            return [Entry(r.idx, r.kind, r.subject, r.body) for r in conn.execute(q)]

    def inclusion(self, index: int, size: int | None = None) -> tuple[int, list[str]]:
        """Audit path of entry ``index`` in the tree of ``size`` entries (default: the whole log)."""
        leaves = self.leaves()
        size = len(leaves) if size is None else size
        if not 0 <= index < size <= len(leaves):
            raise LogError(f"entry {index} is not in a log of size {size} (the log has {len(leaves)})")
        return size, [h.hex() for h in merkle.inclusion_path(index, leaves[:size])]

    def consistency(self, old_size: int, new_size: int | None = None) -> tuple[int, list[str]]:
        """Consistency proof from the tree of ``old_size`` entries to ``new_size`` (default: now)."""
        leaves = self.leaves()
        new_size = len(leaves) if new_size is None else new_size
        if not 0 <= old_size <= new_size <= len(leaves):
            raise LogError(f"no consistency proof from size {old_size} to {new_size} (the log has {len(leaves)})")
        return new_size, [h.hex() for h in merkle.consistency_proof(old_size, leaves[:new_size])]
