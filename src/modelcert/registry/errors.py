"""Registry errors (all one-line :class:`~modelcert.errors.ModelcertError` subclasses)."""

from __future__ import annotations

from modelcert.errors import ModelcertError


class RegistryError(ModelcertError):
    """The registry cannot do what was asked (bad input, unknown id, closed database)."""


class NotFound(RegistryError):
    """No such provider, model, version, audit, certificate or user."""


class Conflict(RegistryError):
    """The request clashes with what is recorded (duplicate name, concurrent change)."""


class IllegalTransition(RegistryError):
    """The status lifecycle does not allow this change."""
