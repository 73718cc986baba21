"""Certificates are identified by the SHA-256 of their signed payload, not of the file.

Revision ID: 0002
Revises: 0001

Before this revision the id was the file's hash, so a certificate re-encoded around the
same signed payload missed its registry row (and its revocation). Existing rows get the
payload digest as their id; a body that cannot be read keeps its old id.
"""

import base64
import binascii
import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _payload_digest(body: str) -> str | None:
    try:
        obj = json.loads(body)
        env = obj.get("dsseEnvelope", obj)
        return hashlib.sha256(base64.b64decode(env["payload"], validate=True)).hexdigest()
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        return None


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, body FROM registry_certificates")).all()
    for old, body in rows:
        new = _payload_digest(body)
        if new and new != old:
            conn.execute(sa.text("UPDATE registry_certificates SET id = :new WHERE id = :old"), {"new": new, "old": old})


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, body FROM registry_certificates")).all()
    for old, body in rows:
        conn.execute(
            sa.text("UPDATE registry_certificates SET id = :new WHERE id = :old"),
            {"new": hashlib.sha256(body.encode("utf-8")).hexdigest(), "old": old},
        )
