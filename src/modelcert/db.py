"""Database plumbing shared by the evidence store and the registry.

Both keep their own tables and their own Alembic version table, so they can live in
one database; what they share is how a URL is shown, how SQLite is tuned, and how a
schema is brought to its head revision on open.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<invalid url>"


def sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL so a committed record survives SIGKILL; a busy timeout for concurrent writers."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def upgrade_schema(engine: Engine, migrations: Path, version_table: str, head: str) -> None:
    """Run Alembic to ``head`` unless the version table already says so (the cheap common case)."""
    from sqlalchemy import inspect as sa_inspect
    from sqlalchemy import text

    with engine.connect() as conn:
        if sa_inspect(conn).has_table(version_table):
            current = conn.execute(text(f"SELECT version_num FROM {version_table}")).scalars().all()
            if current == [head]:
                return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_engine(
    url: str, *, label: str, error: type[Exception], migrate: Callable[[Engine], None], **engine_kw: Any
) -> Engine:
    """An engine on ``url`` with our SQLite pragmas and the schema brought to head.

    Both stores (evidence, registry) open their database this way, so a bad URL is a one-line
    ``ConfigError`` and an unreadable database a one-line ``error`` naming the ``label``.
    """
    from sqlalchemy import create_engine, event
    from sqlalchemy.exc import DatabaseError, NoSuchModuleError

    from modelcert.errors import ConfigError

    try:
        engine = create_engine(url, **engine_kw)
    except (ArgumentError, NoSuchModuleError, ModuleNotFoundError, ImportError) as exc:
        raise ConfigError(f"cannot use {label} URL {safe_url(url)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", sqlite_pragmas)
    try:
        migrate(engine)
    except DatabaseError as exc:
        engine.dispose()
        msg = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise error(f"cannot open {label} {safe_url(url)}: {msg}") from None
    return engine
