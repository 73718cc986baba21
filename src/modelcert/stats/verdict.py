"""The decision record every statistical design returns, and direction handling.

A requirement's metric is a rate with a threshold and a direction: ``max`` means the
rate must stay at or below the threshold (harmful compliance <= 0.05), ``min`` means
it must reach it (refusal of harmful requests >= 0.95). Internally every design works
on the *bad* outcome in ``max`` form, so one set of boundaries serves both directions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from modelcert.errors import ConfigError

Direction = Literal["max", "min"]
Verdict = Literal["PASS", "FAIL", "INCONCLUSIVE", "CONTINUE"]


@dataclass(frozen=True)
class Decision:
    """One verdict with the numbers that justify it.

    ``estimate`` is the observed rate over resolved outcomes (``None`` without any).
    ``lower``/``upper`` bound the metric's rate; the bound on the PASS side is at
    confidence 1-alpha and the one on the FAIL side at 1-alpha_fail (or 1-beta), with
    errored queries imputed to the worst case for each side. ``n`` counts resolved
    outcomes, ``errors`` the queries that produced no outcome.
    """

    verdict: Verdict
    estimate: float | None
    lower: float
    upper: float
    n: int
    errors: int
    reason: str
    method: str

    @property
    def queries(self) -> int:
        """Queries spent, including those that errored."""
        return self.n + self.errors

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "estimate": self.estimate,
            "lower": self.lower,
            "upper": self.upper,
            "n": self.n,
            "errors": self.errors,
            "queries": self.queries,
            "reason": self.reason,
            "method": self.method,
        }


def check_counts(k: int, n: int, errors: int = 0) -> None:
    """Reject impossible counts with a one-line error."""
    for name, v in (("successes", k), ("n", n), ("errors", errors)):
        if isinstance(v, bool) or int(v) != v or v < 0:
            raise ConfigError(f"{name} must be a non-negative integer, got {v!r}")
    if k > n:
        raise ConfigError(f"successes ({k}) cannot exceed n ({n})")


def check_level(name: str, value: float) -> None:
    if not 0.0 < value < 0.5:
        raise ConfigError(f"{name} must lie in (0, 0.5), got {value!r}")


def check_rate(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{name} must lie strictly between 0 and 1, got {value!r}")


def check_direction(direction: str) -> None:
    if direction not in ("max", "min"):
        raise ConfigError(f"direction must be 'max' or 'min', got {direction!r}")


def to_bad(k: int, n: int, threshold: float, direction: Direction) -> tuple[int, float]:
    """Map (metric count, threshold) to (bad count, bad-rate threshold) in ``max`` form."""
    return (k, threshold) if direction == "max" else (n - k, 1.0 - threshold)


def from_bad_bounds(lower: float, upper: float, direction: Direction) -> tuple[float, float]:
    """Map bounds on the bad rate back to bounds on the metric's rate."""
    return (lower, upper) if direction == "max" else (1.0 - upper, 1.0 - lower)
