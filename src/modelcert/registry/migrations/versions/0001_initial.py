"""Registry: providers, models, versions, status history, grants, audits, certificates, users.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)
_HISTORY = "registry_status_events"


def upgrade() -> None:
    op.create_table(
        "registry_providers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(120), nullable=False, unique=True),
        sa.Column("created_at", _TZ, nullable=False),
    )
    op.create_table(
        "registry_models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("provider_id", sa.Integer, sa.ForeignKey("registry_providers.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.UniqueConstraint("provider_id", "name", name="uq_registry_models_provider_name"),
    )
    op.create_index("ix_registry_models_provider_id", "registry_models", ["provider_id"])
    op.create_table(
        "registry_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("registry_models.id"), nullable=False),
        sa.Column("version", sa.String(120), nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("identity_digest", sa.String(64), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_seq", sa.Integer, nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.UniqueConstraint("model_id", "version", name="uq_registry_versions_model_version"),
    )
    op.create_index("ix_registry_versions_model_id", "registry_versions", ["model_id"])
    op.create_table(
        _HISTORY,
        sa.Column("version_id", sa.Integer, sa.ForeignKey("registry_versions.id"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("from_status", sa.String(32), nullable=True),
        sa.Column("to_status", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("audit_id", sa.String(40), nullable=True),
        sa.Column("at", _TZ, nullable=False),
    )
    op.create_table(
        "registry_access_grants",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("registry_versions.id"), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("granted_at", _TZ, nullable=False),
        sa.Column("granted_by", sa.String(120), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
    )
    op.create_index("ix_registry_access_grants_version_id", "registry_access_grants", ["version_id"])
    op.create_table(
        "registry_audits",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("registry_versions.id"), nullable=False),
        sa.Column("policy", sa.String(200), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress_done", sa.Integer, nullable=False),
        sa.Column("progress_total", sa.Integer, nullable=False),
        sa.Column("progress_note", sa.Text, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("verdicts", sa.Text, nullable=True),
        sa.Column("out_dir", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("requested_by", sa.String(120), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("started_at", _TZ, nullable=True),
        sa.Column("heartbeat_at", _TZ, nullable=True),
        sa.Column("finished_at", _TZ, nullable=True),
    )
    op.create_index("ix_registry_audits_version_id", "registry_audits", ["version_id"])
    op.create_index("ix_registry_audits_state", "registry_audits", ["state"])
    op.create_table(
        "registry_certificates",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("registry_versions.id"), nullable=False),
        sa.Column("audit_id", sa.String(40), sa.ForeignKey("registry_audits.id"), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("issued_at", _TZ, nullable=False),
        sa.Column("valid_until", _TZ, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_registry_certificates_version_id", "registry_certificates", ["version_id"])
    op.create_table(
        "registry_users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(80), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("provider_id", sa.Integer, sa.ForeignKey("registry_providers.id"), nullable=True),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
    )
    op.create_table(
        "registry_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("registry_users.id"), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("label", sa.String(120), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("revoked_at", _TZ, nullable=True),
    )
    op.create_index("ix_registry_tokens_user_id", "registry_tokens", ["user_id"])

    # The status history is append-only in the database too, not just in our API.
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {_HISTORY}_no_{action.lower()} BEFORE {action} ON {_HISTORY} "
                f"BEGIN SELECT RAISE(ABORT, '{_HISTORY} is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION registry_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {_HISTORY}_append_only BEFORE UPDATE OR DELETE ON {_HISTORY} "
            "FOR EACH ROW EXECUTE FUNCTION registry_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {_HISTORY}_append_only ON {_HISTORY}")
        op.execute("DROP FUNCTION IF EXISTS registry_append_only()")
    for table in (
        "registry_tokens",
        "registry_users",
        "registry_certificates",
        "registry_audits",
        "registry_access_grants",
        _HISTORY,
        "registry_versions",
        "registry_models",
        "registry_providers",
    ):
        op.drop_table(table)
