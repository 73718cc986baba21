"""Alembic environment for the transparency log schema.

Migrations run programmatically from :class:`modelcert.translog.store.TransparencyLog`,
which passes its open connection in ``config.attributes["connection"]``; there is no
alembic.ini. The version table has its own name so the log shares a database with the
registry and the evidence store.
"""

from alembic import context

from modelcert.translog.store import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("transparency log migrations run only through TransparencyLog (no alembic.ini)")

context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
