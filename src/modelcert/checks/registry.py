"""The catalogue of bundled checks.

Each check is an Inspect ``@task`` factory, registered here with the legal
requirements it serves, the lowest access tier it needs and a version (bumped when
its items or scoring change, because the version is recorded with the evidence).
Registering through :func:`check` keeps the Inspect task usable on its own under
``inspect eval`` while modelcert knows what it is for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from modelcert.errors import ConfigError
from modelcert.targets import Tier, tier_rank

F = TypeVar("F", bound=Callable[..., Any])

#: Modules that define bundled checks; imported on first lookup.
CHECK_MODULES: list[str] = [
    "modelcert.checks.bias",
    "modelcert.checks.safety",
    "modelcert.checks.overrefusal",
    "modelcert.checks.jailbreak",
    "modelcert.checks.injection",
    "modelcert.checks.backdoor",
    "modelcert.checks.integrity",
]


@dataclass(frozen=True)
class CheckSpec:
    id: str
    factory: Callable[..., Any]
    tier: Tier
    requirements: tuple[str, ...]
    version: str
    description: str
    family: str

    def task(self, **kwargs: Any) -> Any:
        return self.factory(**kwargs)


_CHECKS: dict[str, CheckSpec] = {}


def check(
    id: str,
    *,
    tier: Tier,
    requirements: tuple[str, ...] | list[str],
    version: str,
    family: str = "",
) -> Callable[[F], F]:
    """Register an Inspect task factory as a modelcert check.

    Args:
        id: Dotted id used on the command line and in policies (``safety.harmful``).
        tier: Lowest access tier the check needs; the engine refuses lower targets.
        requirements: Requirement ids the check provides evidence for.
        version: Recorded with every run; bump when items or scoring change.
        family: Item family / area, for listings.
    """
    tier_rank(tier)

    def wrap(factory: F) -> F:
        doc = (factory.__doc__ or "").strip().splitlines()
        _CHECKS[id] = CheckSpec(
            id=id,
            factory=factory,
            tier=tier,
            requirements=tuple(requirements),
            version=version,
            description=doc[0] if doc else "",
            family=family or id.split(".")[0],
        )
        return factory

    return wrap


def _load() -> None:
    for name in CHECK_MODULES:
        importlib.import_module(name)


def all_checks() -> list[CheckSpec]:
    _load()
    return sorted(_CHECKS.values(), key=lambda c: c.id)


def get_check(id: str) -> CheckSpec:
    _load()
    if id not in _CHECKS:
        known = ", ".join(sorted(_CHECKS)) or "none"
        raise ConfigError(f"unknown check {id!r}; bundled checks: {known}")
    return _CHECKS[id]
