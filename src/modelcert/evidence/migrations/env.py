"""Alembic environment for the evidence schema.

Migrations run programmatically from :class:`modelcert.evidence.store.EvidenceStore`,
which passes its open connection in ``config.attributes["connection"]``; there is no
alembic.ini. The version table has its own name so the evidence schema can share a
database with other modelcert schemas that use Alembic too.
"""

from alembic import context

from modelcert.evidence.store import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("evidence migrations run only through EvidenceStore (no alembic.ini)")

context.configure(connection=connection, target_metadata=metadata, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
