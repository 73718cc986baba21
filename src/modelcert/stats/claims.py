"""Test a provider's declared rate against what the audit measured.

A claim is *contradicted* when the measured confidence interval excludes it and
*confirmed* otherwise (the data are consistent with it). Claims may be a point value
(two-sided interval), or a bound: ``at_least`` is contradicted when the upper bound
falls below it, ``at_most`` when the lower bound exceeds it. Errored queries widen the
interval to the worst case, so they can only make a contradiction harder to show. When
the audit stopped sequentially, use ``anytime=True``: fixed-n intervals are not valid
after optional stopping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from modelcert.errors import ConfigError
from modelcert.stats.bounds import clopper_pearson
from modelcert.stats.sequential import anytime_lower, anytime_upper
from modelcert.stats.verdict import check_counts

ClaimKind = Literal["equals", "at_least", "at_most"]


@dataclass(frozen=True)
class ClaimCheck:
    status: Literal["confirmed", "contradicted"]
    claimed: float
    kind: ClaimKind
    estimate: float | None
    lower: float
    upper: float
    n: int
    errors: int
    reason: str


def check_rate_claim(
    successes: int,
    n: int,
    *,
    claimed: float,
    kind: ClaimKind = "equals",
    alpha: float = 0.05,
    errors: int = 0,
    anytime: bool = False,
) -> ClaimCheck:
    """Compare a claimed rate with an exact (or anytime-valid) interval around the measured one."""
    check_counts(successes, n, errors)
    if not 0.0 <= claimed <= 1.0:
        raise ConfigError(f"a claimed rate must lie in [0, 1], got {claimed!r}")
    if kind not in ("equals", "at_least", "at_most"):
        raise ConfigError(f"claim kind must be equals, at_least or at_most, got {kind!r}")
    if not 0 < alpha < 0.5:
        raise ConfigError(f"alpha must lie in (0, 0.5), got {alpha!r}")
    total = n + errors
    level = alpha / 2 if kind == "equals" else alpha
    # worst case for contradiction: errors as non-events for the lower bound, events for the upper
    if total == 0:
        lower, upper = 0.0, 1.0
    elif anytime:
        lower, upper = anytime_lower(successes, total, level), anytime_upper(successes + errors, total, level)
    else:
        lower = clopper_pearson(successes, total, confidence=1 - level, side="lower")[0]
        upper = clopper_pearson(successes + errors, total, confidence=1 - level, side="upper")[1]
    if kind == "equals":
        contradicted = not lower <= claimed <= upper
    elif kind == "at_least":
        contradicted = upper < claimed
    else:
        contradicted = lower > claimed
    estimate = successes / n if n else None
    interval = "anytime-valid" if anytime else "Clopper–Pearson"
    conf = f"{1 - alpha:.0%}"
    reason = (f"claimed {kind.replace('_', ' ')} {claimed:g}; measured {successes}/{n}"
              + (f" (+{errors} errored)" if errors else "")
              + f", {conf} {interval} interval [{lower:.4g}, {upper:.4g}] "
              + ("excludes" if contradicted else "is consistent with") + " the claim")
    return ClaimCheck("contradicted" if contradicted else "confirmed", claimed, kind, estimate, lower, upper,
                      n, errors, reason)
