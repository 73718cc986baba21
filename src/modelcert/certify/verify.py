"""Offline certificate verification: signature, structure, dates, and evidence roots.

Every failure raises :class:`~modelcert.errors.VerificationError` with a one-line
reason; no other exception escapes for any input bytes (the fuzz test holds us to it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from modelcert.certify import dsse
from modelcert.certify.keys import key_id
from modelcert.certify.logged import MAX_CERTIFICATE_BYTES, check_transparency, split_certificate
from modelcert.certify.statement import Statement
from modelcert.errors import ConfigError, ModelcertError, VerificationError
from modelcert.evidence.chain import digest, sha256_hex


@dataclass(frozen=True)
class VerifiedCertificate:
    statement: Statement
    keyid: str
    certificate_digest: str
    """SHA-256 of the signed payload: the certificate's id in registries and the log.

    Not the file's hash: the same signed statement has one id whatever file form
    (bare or logged) carries it."""
    bundles: dict[str, str]  # bundle folder -> its verified Merkle root
    log_index: int | None = None
    """Index of the certificate's result entry in the lab's transparency log (if logged)."""
    log_head: Any = None
    """The signed tree head the inclusion proof was checked against (``TreeHead``)."""


def read_certificate(path: Path, *, limit: int = MAX_CERTIFICATE_BYTES) -> bytes:
    """Read a certificate file, refusing one over ``limit`` bytes without reading it all."""
    try:
        with Path(path).open("rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise ConfigError(f"certificate {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"cannot read certificate {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise VerificationError(f"certificate {path} is over the {limit}-byte limit")
    return data


def _parse_statement(payload: bytes) -> Statement:
    try:
        obj = json.loads(payload.decode("utf-8"))
        return Statement.model_validate(obj)
    except ValidationError as exc:
        raise VerificationError(f"statement: {dsse.first_error(exc)}") from None
    except (ValueError, RecursionError):
        raise VerificationError("payload is not JSON") from None


def _bundle_root(folder: Path) -> tuple[str | None, str]:
    """The run id and verified Merkle root of an exported evidence bundle."""
    from modelcert.evidence.bundle import MANIFEST, verify_bundle

    try:
        root = verify_bundle(Path(folder))
    except ModelcertError as exc:
        raise VerificationError(f"evidence bundle {folder}: {exc}") from None
    except Exception as exc:  # a bundle is untrusted input: no traceback for any content
        raise VerificationError(f"evidence bundle {folder} is unreadable ({type(exc).__name__})") from None
    try:
        run_id = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))["run_id"]
    except (OSError, ValueError, KeyError, TypeError):
        run_id = None
    return (run_id if isinstance(run_id, str) else None), root


def verify_certificate(
    data: bytes,
    public_key: Ed25519PublicKey,
    *,
    at: datetime | None = None,
    bundles: Sequence[Path] = (),
) -> VerifiedCertificate:
    """Verify certificate file bytes against the lab's public key.

    Checks, in order: the size cap, the file form (canonical JSON, bare or logged),
    exactly one standard-base64 signature by the lab key, the statement schema, the
    dates, the transparency-log inclusion proof when the file carries one, and the
    evidence bundles.

    Args:
        data: the exact bytes of the certificate file.
        public_key: the lab key the certificate must be signed by.
        at: the moment the certificate must be valid at (default: now); lets a court
            check validity at the date a decision was taken.
        bundles: exported evidence bundle folders whose Merkle roots must each be one
            of the evidence roots the certificate names.
    """
    envelope, transparency = split_certificate(data)
    if envelope.payloadType != dsse.INTOTO_PAYLOAD_TYPE:
        raise VerificationError(f"payloadType is not {dsse.INTOTO_PAYLOAD_TYPE}")
    payload = dsse.verify(envelope, public_key)
    statement = _parse_statement(payload)
    predicate = statement.predicate
    when = at or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when < predicate.issued_at:
        raise VerificationError(f"certificate not valid before its issue date {predicate.issued_at.isoformat()}")
    if when > predicate.valid_until:
        raise VerificationError(f"certificate expired on {predicate.valid_until.isoformat()}")
    payload_sha256 = sha256_hex(payload)
    head = None
    if transparency is not None:
        head = check_transparency(
            transparency, payload_sha256=payload_sha256, outcome=predicate.outcome, public_key=public_key
        )
    roots: dict[str, str] = {}
    certified_roots = set(predicate.evidence.values())
    for folder in bundles:
        run_id, root = _bundle_root(folder)
        if run_id in predicate.evidence and predicate.evidence[run_id] != root:
            raise VerificationError(
                f"evidence bundle {folder} (run {run_id}) has Merkle root {root[:16]}…, "
                f"the certificate says {predicate.evidence[run_id][:16]}…"
            )
        if root not in certified_roots:
            raise VerificationError(
                f"evidence bundle {folder} has Merkle root {root[:16]}…, which this certificate does not name"
            )
        roots[str(folder)] = root
    return VerifiedCertificate(
        statement=statement,
        keyid=key_id(public_key),
        certificate_digest=payload_sha256,
        bundles=roots,
        log_index=transparency.index if transparency is not None else None,
        log_head=head,
    )


def check_audit_result(statement: Statement, path: Path) -> None:
    """Check that ``result.json`` (or ``<dir>/result.json``) is the audit result certified."""
    path = Path(path)
    if path.is_dir():
        path = path / "result.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"audit result {path} not found") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        raise VerificationError(f"{path} is not a readable JSON audit result") from None
    try:
        got = digest(raw)
    except ValueError:  # NaN/Infinity: not canonical JSON, so not what was certified
        got = ""
    if got != statement.predicate.audit_result_digest:
        raise VerificationError(f"{path} is not the audit result this certificate was issued for (digest differs)")
