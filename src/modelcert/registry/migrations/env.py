"""Alembic environment for the registry schema.

Migrations run programmatically from :class:`modelcert.registry.store.Registry`, which
passes its open connection in ``config.attributes["connection"]``; there is no
alembic.ini. The version table has its own name so the registry can share a database
with the evidence store.
"""

from alembic import context

from modelcert.registry.tables import VERSION_TABLE, Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("registry migrations run only through Registry (no alembic.ini)")

context.configure(connection=connection, target_metadata=Base.metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
