"""One exception hierarchy for modelcert.

The CLI maps ``ModelcertError`` subclasses to a one-line message and exit code 2
(user errors); FAIL verdicts exit 1. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class ModelcertError(Exception):
    """Base class: a problem the user can fix, reported on one line."""

    exit_code: int = 2


class ConfigError(ModelcertError):
    """Malformed input: a bad policy, option, file or model address."""


class AccessError(ModelcertError):
    """The target does not grant the access tier a check or option needs."""


class UnsafeArtifactError(ModelcertError):
    """A model file was refused because it could execute code or is malformed.

    Exit code 1: the gate found a problem in the artifact, not in the user's command.
    """

    exit_code = 1


class ModelCallError(ModelcertError):
    """The model under test failed (timeout, server error) beyond the retry budget."""

    exit_code = 1


class EvidenceError(ModelcertError):
    """The evidence store is missing, corrupt or was tampered with."""

    exit_code = 1


class VerificationError(ModelcertError):
    """A certificate, signature or proof did not verify."""

    exit_code = 1
