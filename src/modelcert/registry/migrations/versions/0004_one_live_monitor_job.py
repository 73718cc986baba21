"""At most one live monitoring job per model version, enforced by the database.

Revision ID: 0004
Revises: 0003

The store refuses a second queued or running monitoring job of a version, but two
requests checked side by side could both pass that check before either inserts. A
partial unique index (SQLite and PostgreSQL both support ``WHERE`` on an index) closes
the gap; the store turns the violation into the same 409 Conflict.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLE = "registry_audits"
_INDEX = "uq_registry_one_live_monitor_job"
_LIVE = "kind IN ('monitor-enroll', 'monitor-check') AND state IN ('queued', 'running')"


def upgrade() -> None:
    if _INDEX in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes(_TABLE)}:
        return  # a database whose version number was set back by hand
    op.create_index(_INDEX, _TABLE, ["version_id"], unique=True,
                    sqlite_where=sa.text(_LIVE), postgresql_where=sa.text(_LIVE))


def downgrade() -> None:
    op.drop_index(_INDEX, table_name=_TABLE)
