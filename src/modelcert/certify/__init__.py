"""Verifiable certificates: in-toto statements in DSSE envelopes, signed with Ed25519 lab keys.

See ``docs/certificates.md`` for the formats and ``docs/threat-model.md`` for what they prove.
"""

from modelcert.certify.issue import issue_certificate, load_audit_result
from modelcert.certify.keys import generate_keypair, key_id, load_private_key, load_public_key
from modelcert.certify.statement import PREDICATE_TYPE, STATEMENT_TYPE, AuditPredicate, AuditResult, Statement
from modelcert.certify.verify import (
    VerifiedCertificate,
    check_audit_result,
    read_certificate,
    verify_certificate,
)

__all__ = [
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "AuditPredicate",
    "AuditResult",
    "Statement",
    "VerifiedCertificate",
    "check_audit_result",
    "generate_keypair",
    "issue_certificate",
    "key_id",
    "load_audit_result",
    "load_private_key",
    "load_public_key",
    "read_certificate",
    "verify_certificate",
]
