"""Top-level ``modelcert certify`` and ``modelcert verify``: issue and check certificates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import typer
from rich.console import Console

from modelcert.certify import keys
from modelcert.certify.issue import issue_certificate, load_audit_result
from modelcert.certify.verify import (
    VerifiedCertificate,
    check_audit_result,
    read_certificate,
    verify_certificate,
)
from modelcert.cli.keys_cmd import PASSPHRASE_ENV, load_signing_key
from modelcert.errors import ConfigError, VerificationError

console = Console(soft_wrap=True)


def _parse_at(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--at {text!r} is not an ISO date or date-time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def certify(
    audit: Path = typer.Argument(..., help="Audit output folder (with result.json) or a result.json file."),
    key: Path = typer.Option(..., "--key", help="The lab's private key file."),
    lab_id: str = typer.Option(None, "--lab-id", help="Lab identifier (default: lab-<key id prefix>)."),
    valid_days: int = typer.Option(365, "--valid-days", help="Validity period in days."),
    out: Path = typer.Option(None, "--out", help="Certificate file (default: certificate.json beside the result)."),
    passphrase_env: str = PASSPHRASE_ENV,
) -> None:
    """Sign an audit result as an in-toto statement in a DSSE envelope."""
    result, result_digest = load_audit_result(audit)
    private_key = load_signing_key(key, passphrase_env)
    kid = keys.key_id(private_key.public_key())
    data, statement = issue_certificate(
        result, private_key, lab_id=lab_id or f"lab-{kid[:16]}", valid_days=valid_days, result_digest=result_digest
    )
    target = out or (audit if audit.is_dir() else audit.parent) / "certificate.json"
    keys.write_new_file(target, data)
    p = statement.predicate
    console.print(f"certificate: {target}")
    console.print(f"subject:     {statement.subject[0].name} sha256:{p.target.subject_digest}")
    console.print(f"outcome:     {p.outcome} under {p.policy.id} at the {p.access_tier} tier")
    console.print(f"valid:       {p.issued_at.isoformat()} to {p.valid_until.isoformat()}; key id {kid}")


def verify(
    certificate: Path = typer.Argument(..., help="Certificate file (DSSE envelope JSON)."),
    key: Path = typer.Option(..., "--key", help="The lab's public key file."),
    evidence: list[Path] = typer.Option(
        None, "--evidence", help="Exported evidence bundle folder to re-check (repeatable)."
    ),
    at: str = typer.Option(None, "--at", help="Check validity at this ISO date/time instead of now."),
    result: Path = typer.Option(
        None, "--result", help="Also check that this result.json (or audit folder) is the one certified."
    ),
    require_outcome: str = typer.Option(
        None, "--require-outcome", help="Also fail (exit 1) unless the outcome is this, e.g. 'certified'."
    ),
) -> None:
    """Verify a certificate offline: exit 0 if genuine, 1 with a one-line reason if not.

    The first line says the outcome in words: a genuine certificate may record a
    refusal. Use --require-outcome certified where only a certification will do.
    """
    public_key = keys.load_public_key(key)
    when = _parse_at(at)
    verified = verify_certificate(read_certificate(certificate), public_key, at=when, bundles=evidence or [])
    p = verified.statement.predicate
    if result is not None:
        check_audit_result(verified.statement, result)
    if require_outcome is not None and p.outcome != require_outcome:
        raise VerificationError(f"the certificate is genuine but its outcome is {p.outcome!r}, not {require_outcome!r}")
    for line in verify_lines(verified, result_checked=result is not None):
        print(line)


#: The outcome in words, printed first: a genuine certificate can record a refusal.
OUTCOME_WORDS = {
    "certified": "CERTIFIED — this certificate records a certification",
    "conditionally_certified": "CONDITIONALLY CERTIFIED — this certificate records a certification with conditions",
    "refused": "REFUSED — this certificate records a refusal",
}


def verify_lines(verified: VerifiedCertificate, *, result_checked: bool = False) -> list[str]:
    """What ``verify`` prints: the outcome in words first, then why the file is genuine."""
    p = verified.statement.predicate
    subject = verified.statement.subject[0]
    lines = [
        f"{OUTCOME_WORDS[p.outcome]}: {p.target.model} under policy {p.policy.id} at the {p.access_tier} tier",
        f"genuine: signed by {p.lab_id} (key {verified.keyid[:16]}…), issued {p.issued_at.date().isoformat()}, "
        f"valid until {p.valid_until.date().isoformat()}; certificate id sha256:{verified.certificate_digest}",
        f"subject: {subject.name} sha256:{subject.digest.sha256}",
    ]
    head = verified.log_head
    if head is not None:
        lines.append(
            f"logged: entry {verified.log_index} of the lab's transparency log, proven against its signed "
            f"tree head of size {head.size} ({head.timestamp}); check later heads with 'modelcert log monitor'"
        )
    else:
        lines.append("not logged: this certificate carries no transparency-log inclusion proof")
    if verified.bundles:
        lines.append(f"{len(verified.bundles)} evidence bundle(s) match the certified Merkle roots")
    if result_checked:
        lines.append("audit result matches the certified digest")
    return lines


def register(root: typer.Typer) -> None:
    root.command("certify")(certify)
    root.command("verify")(verify)
