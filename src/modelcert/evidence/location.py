"""Where the evidence store lives: ``--db URL``, else ``MODELCERT_DB``, else a user data file.

A bare filesystem path is accepted as shorthand for a SQLite file, so
``--db ./audit.sqlite`` and ``--db sqlite:///audit.sqlite`` mean the same.
"""

from __future__ import annotations

import os
from pathlib import Path

from modelcert.errors import ConfigError

ENV_VAR = "MODELCERT_DB"


def default_path() -> Path:
    """The per-user default: ``<user data dir>/modelcert/evidence.sqlite``."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("modelcert")) / "evidence.sqlite"


def resolve_url(db: str | None = None) -> str:
    """The SQLAlchemy URL to use, from the option, the environment or the default."""
    raw = db or os.environ.get(ENV_VAR) or str(default_path())
    raw = raw.strip()
    if not raw:
        raise ConfigError("empty evidence store location (--db / MODELCERT_DB)")
    if "://" in raw:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(raw)
        except (ArgumentError, ValueError) as exc:
            raise ConfigError(f"invalid evidence store URL {raw!r}: {exc}") from None
        return raw
    return f"sqlite:///{Path(raw).expanduser().resolve()}"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL (None for other backends or in-memory)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)
