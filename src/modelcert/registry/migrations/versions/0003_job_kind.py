"""Jobs of other kinds beside audits: monitoring enrollments and checks run by the worker.

Revision ID: 0003
Revises: 0002

``registry_audits`` becomes the lab's job queue: ``kind`` says what the worker runs
(``audit``, ``monitor-enroll``, ``monitor-check``; existing rows are audits) and
``result`` holds a finished non-audit job's summary (JSON). Idempotent: a database whose
version number was set back by hand but whose table already has the columns is left as is.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TABLE = "registry_audits"


def _columns() -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(_TABLE)}


def upgrade() -> None:
    have = _columns()
    if "kind" not in have:
        op.add_column(_TABLE, sa.Column("kind", sa.String(32), nullable=False, server_default="audit"))
    if "result" not in have:
        op.add_column(_TABLE, sa.Column("result", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table(_TABLE) as batch:
        batch.drop_column("result")
        batch.drop_column("kind")
