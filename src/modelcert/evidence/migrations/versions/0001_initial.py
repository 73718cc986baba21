"""Evidence runs and append-only records.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = ("evidence_runs", "evidence_records")


def upgrade() -> None:
    op.create_table(
        "evidence_runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("resume_key", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_evidence_runs_resume_key", "evidence_runs", ["resume_key"])
    op.create_table(
        "evidence_records",
        sa.Column("run_id", sa.String(64), sa.ForeignKey("evidence_runs.run_id"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("item", sa.Text, nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("prev", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_evidence_records_item", "evidence_records", ["run_id", "item"])
    op.create_index("ix_evidence_records_kind", "evidence_records", ["run_id", "kind"])

    # The database itself refuses to rewrite history (defence in depth: the store API
    # has no update/delete). Someone with raw access can drop these; verify still
    # detects any change they then make.
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in _TABLES:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION evidence_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for table in _TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION evidence_append_only()"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in _TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS evidence_append_only()")
    op.drop_table("evidence_records")
    op.drop_table("evidence_runs")
