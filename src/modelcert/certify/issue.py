"""Issue a certificate: audit result in, signed DSSE envelope bytes out."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from modelcert.certify import dsse
from modelcert.certify.statement import AuditResult, Statement, build_statement
from modelcert.errors import ConfigError
from modelcert.evidence.chain import canonical_json, digest


def load_audit_result(path: Path) -> tuple[AuditResult, str]:
    """Read ``result.json`` (or ``<dir>/result.json``); return it and its content digest."""
    path = Path(path)
    if path.is_dir():
        path = path / "result.json"
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"audit result {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read audit result {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    try:
        result = AuditResult.model_validate(raw)
        result_digest = digest(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: not an audit result: {dsse.first_error(exc)}") from None
    except ValueError as exc:  # NaN/Infinity cannot be hashed canonically
        raise ConfigError(f"{path}: {exc}") from None
    return result, result_digest


def issue_certificate(
    result: AuditResult,
    private_key: Ed25519PrivateKey,
    *,
    lab_id: str,
    valid_days: int = 365,
    issued_at: datetime | None = None,
    result_digest: str | None = None,
) -> tuple[bytes, Statement]:
    """Build the in-toto statement for ``result``, sign it, and return the file bytes."""
    statement = build_statement(
        result, lab_id=lab_id, issued_at=issued_at, valid_days=valid_days, result_digest=result_digest
    )
    payload = canonical_json(statement.to_json_obj())
    envelope = dsse.sign(payload, dsse.INTOTO_PAYLOAD_TYPE, private_key)
    return dsse.envelope_bytes(envelope), statement
