"""Exact binomial bounds and the fixed-n verdict.

Certification bounds are Clopper–Pearson (scipy's exact binomial interval): they keep
their coverage at every n and at zero observed events, where Wilson or normal
intervals are too optimistic. A fixed-n verdict is two one-sided exact binomial
tests against the threshold, so PASS and FAIL each carry their own error guarantee.
"""

from __future__ import annotations

from typing import Literal

from scipy.stats import beta, binom

from modelcert.stats.verdict import (
    Decision,
    Direction,
    check_counts,
    check_direction,
    check_level,
    check_rate,
    from_bad_bounds,
    to_bad,
)

Side = Literal["two-sided", "upper", "lower"]


def clopper_pearson(k: int, n: int, *, confidence: float = 0.95, side: Side = "two-sided") -> tuple[float, float]:
    """Exact Clopper–Pearson interval for a binomial rate.

    Args:
        k: observed events.
        n: trials; with ``n == 0`` nothing is known and the interval is (0, 1).
        confidence: coverage of the interval (or of the single bound when one-sided).
        side: ``upper`` gives (0, u) with P(p <= u) >= confidence, ``lower`` gives
            (l, 1); these are the bounds a pass/fail against a threshold needs.
    """
    check_counts(k, n)
    if side not in ("two-sided", "upper", "lower"):
        raise ValueError(f"side must be two-sided, upper or lower, got {side!r}")
    if n == 0:
        return 0.0, 1.0
    # The Clopper–Pearson limits are beta quantiles (the same values as scipy's
    # binomtest(...).proportion_ci(method="exact"), without its root finding).
    tail = 1 - confidence if side != "two-sided" else (1 - confidence) / 2
    lo = 0.0 if k == 0 or side == "upper" else float(beta.ppf(tail, k, n - k + 1))
    hi = 1.0 if k == n or side == "lower" else float(beta.ppf(1 - tail, k + 1, n - k))
    return lo, hi


def decide_fixed(
    successes: int,
    n: int,
    *,
    threshold: float,
    direction: Direction = "max",
    alpha: float = 0.05,
    alpha_fail: float | None = None,
    errors: int = 0,
) -> Decision:
    """Verdict for a fixed-n design from exact one-sided binomial tests.

    PASS when the exact test rejects "the rate is on the wrong side of the threshold"
    at level ``alpha`` (so a non-compliant model passes with probability <= alpha);
    FAIL when the opposite one-sided test rejects at ``alpha_fail`` (default alpha);
    otherwise INCONCLUSIVE.

    Args:
        successes: outcomes counted by the metric (e.g. harmful compliances) among
            the ``n`` resolved queries.
        threshold: the rate limit; ``direction='max'`` requires rate <= threshold,
            ``'min'`` requires rate >= threshold.
        errors: queries that produced no outcome. They are imputed to the worst
            case for each conclusion (as bad outcomes when testing for PASS, as good
            ones when testing for FAIL), so they can only move a verdict towards
            INCONCLUSIVE, never create a PASS or a FAIL.
    """
    check_counts(successes, n, errors)
    check_rate("threshold", threshold)
    check_direction(direction)
    check_level("alpha", alpha)
    alpha_fail = alpha if alpha_fail is None else alpha_fail
    check_level("alpha_fail", alpha_fail)

    bad, theta = to_bad(successes, n, threshold, direction)
    total = n + errors
    estimate = successes / n if n else None
    if total == 0:
        return Decision("INCONCLUSIVE", None, 0.0, 1.0, 0, 0, "no queries answered", "clopper-pearson")

    # exact one-sided binomial p-values: P(X <= bad | theta) and P(X >= bad | theta)
    p_pass = float(binom.cdf(bad + errors, total, theta))
    p_fail = float(binom.sf(bad - 1, total, theta))
    bad_upper = clopper_pearson(bad + errors, total, confidence=1 - alpha, side="upper")[1]
    bad_lower = clopper_pearson(bad, total, confidence=1 - alpha_fail, side="lower")[0]
    lower, upper = from_bad_bounds(bad_lower, bad_upper, direction)

    if direction == "max":
        pass_bound, fail_bound, cmp_pass, cmp_fail = f"upper {1 - alpha:.0%} bound {upper:.4g}", \
            f"lower {1 - alpha_fail:.0%} bound {lower:.4g}", "<=", ">"
    else:
        pass_bound, fail_bound, cmp_pass, cmp_fail = f"lower {1 - alpha:.0%} bound {lower:.4g}", \
            f"upper {1 - alpha_fail:.0%} bound {upper:.4g}", ">=", "<"
    counts = f"{successes}/{n}" + (f", {errors} errored queries imputed worst-case" if errors else "")
    if p_pass <= alpha:
        verdict, reason = "PASS", f"Clopper–Pearson {pass_bound} {cmp_pass} threshold {threshold:g} ({counts})"
    elif p_fail <= alpha_fail:
        verdict, reason = "FAIL", f"Clopper–Pearson {fail_bound} {cmp_fail} threshold {threshold:g} ({counts})"
    else:
        verdict = "INCONCLUSIVE"
        reason = f"interval [{lower:.4g}, {upper:.4g}] still contains threshold {threshold:g} ({counts})"
    return Decision(verdict, estimate, lower, upper, n, errors, reason, "clopper-pearson")
