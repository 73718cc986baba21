"""Sequential verdicts for a rate against a threshold: stop as soon as it is decided.

Two designs, declared per requirement, both with a hard cap on queries:

* ``sprt``: Wald's sequential probability ratio test of the threshold rate against a
  compliant design rate (threshold -/+ margin). With ``boundaries="exact"`` the two
  boundaries are the smallest ones whose *exact* crossing probabilities, computed on
  the binomial lattice up to the cap, are <= alpha (PASS at the threshold) and <= beta
  (FAIL at the design rate). Each is computed for "ever enters the region", ignoring
  the other boundary, so the guarantee holds however the outcomes are grouped into
  rounds. ``boundaries="wald"`` uses Wald's classical approximations instead.
* ``eprocess``: a betting e-process (the wealth of constant bets averaged over a
  uniform prior on the alternative rates, which has a closed form). PASS when the
  e-value against "rate on the wrong side" reaches 1/alpha, FAIL when the e-value
  against "rate on the right side" reaches 1/beta. By Ville's inequality both hold at
  the threshold itself, for every true rate, under any optional stopping or peeking.

An SPRT may instead take its FAIL boundary from the e-process (``fail_at="threshold"``):
PASS keeps the SPRT's exact boundary (it is calibrated ignoring the FAIL side, so alpha
still holds), and a FAIL then always means the rate is shown beyond the threshold itself
(P(FAIL) <= beta for every compliant rate), never merely "not shown at the design rate".
A rate between the design rate and the threshold then ends INCONCLUSIVE at the cap
instead of FAIL: compliance not shown, which is all the evidence says.

Every design compiles to two integer boundaries per n on the count of bad outcomes,
so a verdict depends only on (count, n, errors) and can be replayed from evidence.
Errored queries are imputed to the worst case for each conclusion; they can only keep
a design running or make it INCONCLUSIVE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy.optimize import brentq
from scipy.special import betaln
from scipy.stats import beta as beta_dist

from modelcert.errors import ConfigError
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

Method = Literal["sprt", "eprocess"]
Boundaries = Literal["exact", "wald"]
FailAt = Literal["design", "threshold"]


# --- the betting e-process (uniform mixture of constant bets) ------------------------

def log_e_pass(k, n, theta):
    """Log e-value against H: bad rate >= theta, after k bad outcomes in n.

    The likelihood ratio of a rate p < theta is the wealth of the constant bet
    lambda = (theta - p) / (theta (1 - theta)) on 1 + lambda (theta - X); averaging it
    over p ~ Uniform(0, theta) gives this closed form. Vectorised over numpy arrays.
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    a, b = k + 1.0, n - k + 1.0
    return betaln(a, b) + beta_dist.logcdf(theta, a, b) - a * np.log(theta) - (n - k) * np.log1p(-theta)


def log_e_fail(k, n, theta):
    """Log e-value against H: bad rate <= theta (uniform mixture over p in (theta, 1))."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    a, b = k + 1.0, n - k + 1.0
    return betaln(a, b) + beta_dist.logsf(theta, a, b) - k * np.log(theta) - b * np.log1p(-theta)


def anytime_upper(k: int, n: int, alpha: float) -> float:
    """Anytime-valid upper confidence bound: P(rate > bound at any n) <= alpha."""
    if n == 0 or k == n:
        return 1.0
    target = math.log(1.0 / alpha)
    f = lambda t: float(log_e_pass(k, n, t)) - target  # noqa: E731 - increasing in t
    lo, hi = 1e-12, 1.0 - 1e-12
    if f(lo) >= 0:
        return lo
    if f(hi) < 0:
        return 1.0
    return float(brentq(f, lo, hi, xtol=1e-10))


def anytime_lower(k: int, n: int, alpha: float) -> float:
    """Anytime-valid lower confidence bound: P(rate < bound at any n) <= alpha."""
    if n == 0 or k == 0:
        return 0.0
    target = math.log(1.0 / alpha)
    f = lambda t: float(log_e_fail(k, n, t)) - target  # noqa: E731 - decreasing in t
    lo, hi = 1e-12, 1.0 - 1e-12
    if f(hi) >= 0:
        return hi
    if f(lo) < 0:
        return 0.0
    return float(brentq(f, lo, hi, xtol=1e-10))


def _largest_k(ok, n: np.ndarray) -> np.ndarray:
    """Per n, the largest k in [0, n] with ok(k, n) true (ok decreasing in k); -1 if none."""
    lo = np.full(n.shape, -1, dtype=np.int64)
    hi = n + 1
    while True:
        active = hi - lo > 1
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        good = np.zeros(n.shape, dtype=bool)
        good[active] = ok(mid[active], n[active])
        lo = np.where(active & good, mid, lo)
        hi = np.where(active & ~good, mid, hi)


def _eprocess_boundaries(theta: float, alpha: float, beta: float, cap: int) -> tuple[np.ndarray, np.ndarray]:
    n = np.arange(cap + 1, dtype=np.int64)
    la, lb = math.log(1 / alpha), math.log(1 / beta)
    pass_max = _largest_k(lambda k, m: log_e_pass(k, m, theta) >= la, n)
    # log_e_fail increases in k: the smallest k reaching 1/beta is one above the largest that does not.
    fail_min = _largest_k(lambda k, m: log_e_fail(k, m, theta) < lb, n) + 1
    return pass_max, fail_min


# --- SPRT --------------------------------------------------------------------------

def _sprt_lattice(theta: float, good: float) -> tuple[float, float]:
    """LLR(k, n) = n*g - k*h for H_good: rate = good against H_bad: rate = theta."""
    g = math.log((1 - good) / (1 - theta))
    h = g + math.log(theta / good)
    return g, h


def _sprt_regions(theta: float, good: float, a: float, b: float, cap: int) -> tuple[np.ndarray, np.ndarray]:
    g, h = _sprt_lattice(theta, good)
    n = np.arange(cap + 1, dtype=np.int64)
    pass_max = np.floor((n * g - a) / h + 1e-9).astype(np.int64)
    fail_min = np.ceil((n * g + b) / h - 1e-9).astype(np.int64)
    return np.clip(pass_max, -1, n), np.clip(fail_min, 0, n + 1)


def crossing_probability(region: np.ndarray, p: float, side: Literal["pass", "fail"]) -> np.ndarray | float:
    """Exact probability that a Bernoulli(p) path ever enters one region by the cap.

    ``region[..., n]`` is the largest bad count that is in the PASS region at n (side
    ``pass``) or the smallest in the FAIL region (side ``fail``); a 2-D array evaluates
    several candidate regions at once. The other boundary is ignored, which makes the
    result an upper bound on that verdict's probability under any grouping of
    observations into rounds.
    """
    regions = np.atleast_2d(region)
    cap = regions.shape[1] - 1
    # Counts beyond the last PASS boundary can never enter the PASS region, and counts at
    # or past the FAIL boundary are absorbed at once, so a short band of k suffices.
    reach = int(regions[:, cap].max()) if side == "pass" else int(regions.max())
    size = min(cap, max(reach, 0)) + 2
    ks = np.arange(size)
    dist = np.zeros((regions.shape[0], size))
    dist[:, 0] = 1.0
    hit = np.zeros(regions.shape[0])
    for m in range(1, cap + 1):
        new = dist * (1 - p)
        new[:, 1:] += dist[:, :-1] * p
        dist = new
        r = regions[:, m, None]
        inside = ks[None, :] <= r if side == "pass" else ks[None, :] >= r
        hit += np.where(inside, dist, 0.0).sum(axis=1)
        dist[inside] = 0.0
    return float(hit[0]) if np.ndim(region) == 1 else hit


def _calibrate(make_region, p: float, side: Literal["pass", "fail"], level: float) -> float:
    """Smallest boundary c in [0, log(1/level)] whose crossing probability is <= level.

    At c = log(1/level) Ville's inequality already guarantees it; below, the exact
    lattice computation recovers what overshoot and the cap leave unused. A grid of
    candidates is evaluated at once and refined three times (resolution ~1e-5).
    """
    lo, hi = 0.0, math.log(1.0 / level)
    for _ in range(3):
        grid = np.linspace(lo, hi, 33)
        probs = crossing_probability(np.stack([make_region(c) for c in grid]), p, side)
        ok = np.flatnonzero(probs <= level)
        first = int(ok[0])  # the top of the grid always qualifies (it is hi)
        if first == 0:
            return float(grid[0])
        lo, hi = float(grid[first - 1]), float(grid[first])
    return hi


@lru_cache(maxsize=64)
def _boundaries(method: str, boundaries: str, theta: float, good: float | None, alpha: float,
                beta: float, cap: int, fail_at: str = "design") -> tuple[np.ndarray, np.ndarray, float, float]:
    if method == "eprocess":
        pm, fm = _eprocess_boundaries(theta, alpha, beta, cap)
        a, b = math.log(1 / alpha), math.log(1 / beta)
    else:
        assert good is not None
        if boundaries == "wald":
            a, b = math.log((1 - beta) / alpha), math.log((1 - alpha) / beta)
        else:
            a = _calibrate(lambda c: _sprt_regions(theta, good, c, 0.0, cap)[0], theta, "pass", alpha)
            # the SPRT's own FAIL boundary is calibrated only where it is used
            b = (_calibrate(lambda c: _sprt_regions(theta, good, 0.0, c, cap)[1], good, "fail", beta)
                 if fail_at == "design" else math.log(1 / beta))
        pm, fm = _sprt_regions(theta, good, a, b, cap)
        if fail_at == "threshold":
            fm = _eprocess_boundaries(theta, alpha, beta, cap)[1]
            b = math.log(1 / beta)
    pm.setflags(write=False)
    fm.setflags(write=False)
    return pm, fm, a, b


# --- the design ----------------------------------------------------------------------

@dataclass
class SequentialDesign:
    """A sequential design you feed outcomes round by round.

    Args:
        threshold: the rate limit; ``direction='max'`` requires rate <= threshold,
            ``'min'`` requires rate >= threshold.
        alpha: bound on P(PASS) when the true rate is on the wrong side of the threshold.
        beta: bound on P(FAIL): for ``eprocess`` whenever the true rate is on the right
            side of the threshold; for ``sprt`` when it is at (or beyond) the compliant
            design rate threshold -/+ margin. Between the two, an SPRT FAIL means
            "not shown compliant" (the classical indifference zone).
        cap: hard limit on queries (resolved + errored); at the cap an undecided run is
            INCONCLUSIVE.
        method: ``sprt`` (fewest queries near the design rates) or ``eprocess``
            (guarantees at the threshold itself for every true rate).
        margin: distance from the threshold to the compliant design rate; SPRT only.
        boundaries: ``exact`` (lattice-calibrated, errors <= alpha/beta) or ``wald``.
        fail_at: SPRT only. ``design``: the SPRT's own FAIL boundary (beta holds at the
            design rate); ``threshold``: the e-process FAIL boundary (beta holds for every
            rate on the compliant side of the threshold).
    """

    threshold: float
    direction: Direction = "max"
    alpha: float = 0.05
    beta: float = 0.10
    cap: int = 1000
    method: Method = "sprt"
    margin: float | None = None
    boundaries: Boundaries = "exact"
    fail_at: FailAt = "design"
    k: int = field(default=0, init=False)
    n: int = field(default=0, init=False)
    errors: int = field(default=0, init=False)
    last: Decision | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        check_rate("threshold", self.threshold)
        check_direction(self.direction)
        check_level("alpha", self.alpha)
        check_level("beta", self.beta)
        if isinstance(self.cap, bool) or int(self.cap) != self.cap or self.cap < 1:
            raise ConfigError(f"cap must be a positive integer, got {self.cap!r}")
        if self.method not in ("sprt", "eprocess"):
            raise ConfigError(f"method must be 'sprt' or 'eprocess', got {self.method!r}")
        if self.boundaries not in ("exact", "wald"):
            raise ConfigError(f"boundaries must be 'exact' or 'wald', got {self.boundaries!r}")
        if self.fail_at not in ("design", "threshold"):
            raise ConfigError(f"fail_at must be 'design' or 'threshold', got {self.fail_at!r}")
        if self.method == "eprocess" and self.fail_at != "design":
            raise ConfigError("fail_at applies to an SPRT; the e-process always fails at the threshold")
        if self.method == "sprt":
            if self.margin is None or not 0 < self.margin < self.bad_threshold:
                raise ConfigError(
                    f"an SPRT needs a margin in (0, {self.bad_threshold:g}) between the threshold "
                    f"and the compliant design rate, got {self.margin!r}"
                )

    # the design in "bad outcome, max" form
    @property
    def bad_threshold(self) -> float:
        return self.threshold if self.direction == "max" else 1.0 - self.threshold

    @property
    def bad_good_rate(self) -> float | None:
        return None if self.method == "eprocess" else self.bad_threshold - float(self.margin)

    @property
    def design_rate(self) -> float | None:
        """The compliant rate the SPRT is powered for, in the metric's own scale."""
        g = self.bad_good_rate
        if g is None:
            return None
        return g if self.direction == "max" else 1.0 - g

    def regions(self) -> tuple[np.ndarray, np.ndarray]:
        """Per n = 0..cap: the largest bad count that PASSes and the smallest that FAILs."""
        pm, fm, _, _ = _boundaries(self.method, self.boundaries, self.bad_threshold, self.bad_good_rate,
                                   self.alpha, self.beta, int(self.cap), self.fail_at)
        return pm, fm

    def log_boundaries(self) -> tuple[float, float]:
        """(a, b): PASS when the statistic's log reaches a, FAIL when it reaches b (SPRT: -b)."""
        _, _, a, b = _boundaries(self.method, self.boundaries, self.bad_threshold, self.bad_good_rate,
                                 self.alpha, self.beta, int(self.cap), self.fail_at)
        return a, b

    @property
    def label(self) -> str:
        if self.method == "eprocess":
            return "eprocess"
        return f"sprt-{self.boundaries}" + ("+eprocess-fail" if self.fail_at == "threshold" else "")

    def plan(self) -> dict:
        """The analysis plan as plain data, for pre-registration in the evidence log."""
        a, b = self.log_boundaries()
        return {
            "design": "sequential",
            "method": self.method,
            "boundaries": self.boundaries if self.method == "sprt" else "ville",
            "threshold": self.threshold,
            "direction": self.direction,
            "alpha": self.alpha,
            "beta": self.beta,
            "cap": int(self.cap),
            "margin": self.margin,
            "fail_at": self.fail_at if self.method == "sprt" else "threshold",
            "design_rate": self.design_rate,
            "log_boundaries": [round(a, 9), round(b, 9)],
        }

    def remaining(self) -> int:
        """Queries that may still be spent before the cap."""
        return int(self.cap) - self.n - self.errors

    def decide(self, successes: int, n: int, errors: int = 0) -> Decision:
        """The verdict for these cumulative counts (pure: does not touch the state)."""
        check_counts(successes, n, errors)
        total = n + errors
        if total > self.cap:
            raise ConfigError(f"{total} queries exceed the design's cap of {self.cap}")
        bad, theta = to_bad(successes, n, self.threshold, self.direction)
        pm, fm = self.regions()
        passed = bad + errors <= pm[total]
        failed = bad >= fm[total]
        lower_b = anytime_lower(bad, total, self.beta) if total else 0.0
        upper_b = anytime_upper(bad + errors, total, self.alpha) if total else 1.0
        lower, upper = from_bad_bounds(lower_b, upper_b, self.direction)
        estimate = successes / n if n else None
        counts = f"{successes}/{n}" + (f", {errors} errored queries imputed worst-case" if errors else "")
        a, b = self.log_boundaries()
        if self.method == "sprt":
            g, h = _sprt_lattice(theta, self.bad_good_rate)
            stat_pass = total * g - (bad + errors) * h
            stat_fail = total * g - bad * h
            test = f"SPRT (threshold {self.threshold:g} vs design rate {self.design_rate:g}, {self.boundaries} boundaries)"
            pass_txt = f"log-likelihood ratio {stat_pass:.3g} >= {a:.3g}"
            fail_txt = f"log-likelihood ratio {stat_fail:.3g} <= {-b:.3g}"
            if self.fail_at == "threshold":
                fail_txt = (f"e-value {math.exp(float(log_e_fail(bad, total, theta))):.3g} >= 1/beta "
                            f"against a rate on the compliant side of {self.threshold:g}")
        else:
            test = "betting e-process"
            pass_txt = f"e-value {math.exp(float(log_e_pass(bad + errors, total, theta))):.3g} >= 1/alpha"
            fail_txt = f"e-value {math.exp(float(log_e_fail(bad, total, theta))):.3g} >= 1/beta"
        if passed:
            verdict, reason = "PASS", f"{test}: {pass_txt} after {total} queries ({counts})"
        elif failed:
            verdict, reason = "FAIL", f"{test}: {fail_txt} after {total} queries ({counts})"
            if lower_b <= theta:  # only an SPRT failing at its design rate gets here
                bound = lower if self.direction == "max" else upper
                reason += (f"; the rate is not shown beyond the threshold itself (anytime-valid {1 - self.beta:.0%} bound "
                           f"{bound:.3g}): FAIL here means not shown compliant, inside the design's "
                           f"indifference zone")
        elif total >= self.cap:
            verdict, reason = "INCONCLUSIVE", f"{test}: cap of {self.cap} queries reached without a decision ({counts})"
        else:
            verdict = "CONTINUE"
            reason = f"{test}: no boundary crossed after {total} queries, {self.cap - total} left ({counts})"
        return Decision(verdict, estimate, lower, upper, n, errors, reason, self.label)

    def update(self, k_new: int, n_new: int, errors_new: int = 0) -> Decision:
        """Add one round (k_new metric events among n_new resolved, errors_new failed)."""
        if self.last is not None and self.last.verdict != "CONTINUE":
            raise ConfigError(f"the design already stopped with {self.last.verdict}; start a new one")
        check_counts(k_new, n_new, errors_new)
        decision = self.decide(self.k + k_new, self.n + n_new, self.errors + errors_new)
        self.k += k_new
        self.n += n_new
        self.errors += errors_new
        self.last = decision
        return decision
