"""Disclosures: the plaintext of secret-suite samples, kept beside the hashed records.

A secret-suite sample is hashed in committed form; what was really sent is stored here,
keyed by the record it belongs to, so lab staff can review it. The table is not part of
the hash chain: deleting a row (e.g. retiring a suite) leaves the chain intact, and a
changed row no longer matches the commitments in its record. UPDATE is refused by the
database, like on the records.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLE = "evidence_disclosures"


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(["run_id", "seq"], ["evidence_records.run_id", "evidence_records.seq"]),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            f"CREATE TRIGGER {_TABLE}_no_update BEFORE UPDATE ON {_TABLE} "
            f"BEGIN SELECT RAISE(ABORT, '{_TABLE} cannot be rewritten'); END"
        )
    elif dialect == "postgresql":
        op.execute(
            f"CREATE TRIGGER {_TABLE}_no_update BEFORE UPDATE ON {_TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION evidence_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_no_update ON {_TABLE}")
    op.drop_table(_TABLE)
