"""Anytime-valid verdicts on the rate of a finite suite, read through an imperfect judge.

**Estimand.** The share of bad outcomes over *all N items of the suite* the check runs
(the harmful-request suite, say). The audit queries the items in a pre-registered random
order, without replacement, so after n queries the unseen items are a simple random
sample of the rest, and after N queries the suite rate is known exactly. Nothing here
speaks for prompts outside the suite; the report says so in one sentence.

**Confidence sequence.** The prior–posterior ratio martingale of Waudby-Smith and Ramdas
("Confidence sequences for sampling without replacement", NeurIPS 2020). For a candidate
count K of bad items in the suite, L_n(K) is the hypergeometric likelihood of what was
seen; for a prior π over counts, M_n(K) = Σ_K' π(K') L_n(K') / L_n(K) is a non-negative
martingale with mean 1 under K, so by Ville's inequality P(∃ n: M_n(K_true) ≥ 1/α) ≤ α.
The counts not rejected form an interval (L_n is log-concave in K). Each side uses its
own prior, uniform over the counts on that side of its decision line, which puts the
evidence where the decision needs it; each side then holds at its own level, at every
look, however the looks are scheduled.

**Judge error.** The judge turns each answer into a label. Its sensitivity s (bad answers
it calls bad) and false-positive rate f (good answers it calls bad) are measured on a
labelled calibration set and pre-registered with one-sided Clopper–Pearson bounds s_L and
f_U. On the suite, each of the K truly bad items is called bad with probability s ≥ s_L
and each good one with probability f ≤ f_U, so the judged count J satisfies

* J ≥ TP with TP ~ Bin(K, s) ≥st Bin(K, s_L): a suite at the threshold (K ≥ ⌈θN⌉) has
  J below the α-quantile of Bin(⌈θN⌉, s_L) with probability at most α; and
* J ≤ K + FP with FP ~ Bin(N − K, f) ≤st Bin(N − K, f_U): a compliant suite (K ≤ ⌊θN⌋)
  has J above ⌊θN⌋ plus the (1 − β)-quantile of Bin(N − ⌊θN⌋, f_U) with probability at most β.

So α is split three ways (a union bound): α/2 for the confidence sequence on J, α/4 for
the calibration bound s_L, α/4 for the suite's own draw of judge errors; β likewise with
f_U. **PASS** iff the upper bound on the true suite rate, read back through the first
inequality, is below θ; **FAIL** iff the lower bound, read back through the second, is
above θ; otherwise the audit goes on to the cap and then ends INCONCLUSIVE. A
deterministic check (a canary string) is a perfect judge and spends everything on J.
The calibration measures the judge on the calibration set; that it holds on the audited
model's answers is an assumption the report states (per-audit review of the model's own
answers replaces it).

Errored queries and non-answers are imputed to the worst case for each side (bad for
PASS, good for FAIL), so they can keep a design running or end it INCONCLUSIVE, never
create a PASS or a FAIL the resolved answers would not give for every value they hide.

Every design compiles to two integer boundaries per number of items drawn, so a verdict
depends only on (bad, resolved, unresolved) and replays exactly from the evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.special import gammaln, logsumexp
from scipy.stats import beta as beta_dist
from scipy.stats import binom

from modelcert.errors import ConfigError
from modelcert.stats.sequential import _largest_k  # per-n binary search on a monotone test
from modelcert.stats.verdict import Decision, Direction, check_direction, check_level, check_rate

METHOD = "suite-cs"


@lru_cache(maxsize=8)
def _log_factorials(N: int) -> np.ndarray:
    return gammaln(np.arange(N + 2, dtype=float) + 1)


def _log_lik(k: np.ndarray, n: np.ndarray, N: int) -> np.ndarray:
    """log L_n(K) up to a constant in K, for every K = 0..N: shape (*k.shape, N + 1).

    log C(K, k) + log C(N - K, n - k), read from a table of log factorials; -inf where
    the count K cannot have produced k bad among n drawn.
    """
    lf = _log_factorials(N)
    K = np.arange(N + 1)
    k = np.asarray(k, dtype=np.int64)[..., None]
    n = np.asarray(n, dtype=np.int64)[..., None]
    rest = N - K
    ok = (k <= K) & (n - k <= rest) & (k >= 0) & (n >= k)
    a = np.where(ok, K - k, 0)
    b = np.where(ok, rest - (n - k), 0)
    kk = np.where(ok, k, 0)
    nk = np.where(ok, n - k, 0)
    out = lf[K] - lf[kk] - lf[a] + lf[rest] - lf[nk] - lf[b]
    return np.where(ok, out, -np.inf)


def _log_prior(N: int, lo: int, hi: int) -> np.ndarray:
    """Uniform prior over the counts lo..hi (inclusive); -inf elsewhere."""
    out = np.full(N + 1, -np.inf)
    out[lo : hi + 1] = -math.log(hi - lo + 1)
    return out


def _log_m(k: np.ndarray, n: np.ndarray, N: int, log_prior: np.ndarray) -> np.ndarray:
    """log M_n(K) for every K (shape (*k.shape, N + 1)); +inf where L_n(K) = 0."""
    ll = _log_lik(k, n, N)
    mix = logsumexp(ll + log_prior, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        out = mix - ll
    return np.where(np.isfinite(ll), out, np.inf)


def hypergeom_upper(observed: int, drawn: int, population: int, level: float) -> int:
    """Exact one-sided upper bound on the count M of marked items in a finite population,
    from ``observed`` marked among ``drawn`` taken at random without replacement: the
    largest M with P(X <= observed | M) > ``level`` (P is decreasing in M)."""
    from scipy.stats import hypergeom

    if not 0 <= observed <= drawn <= population:
        raise ConfigError(f"impossible review counts: {observed} of {drawn} drawn from {population}")
    M = np.arange(population + 1)
    ok = hypergeom.cdf(observed, population, M, drawn) > level
    return int(M[ok].max())


def suite_upper(k: int, n: int, N: int, alpha: float, *, below: int | None = None) -> float:
    """Anytime-valid upper bound on the suite's bad rate after k bad in n drawn.

    ``below``: the prior is uniform over counts 0..below-1 (the PASS side of a decision
    line); default: every count.
    """
    prior = _log_prior(N, 0, (below if below and below <= N else N + 1) - 1)
    lm = _log_m(np.asarray(k), np.asarray(n), N, prior)
    keep = np.flatnonzero(lm < math.log(1 / alpha))
    return float(keep.max()) / N if keep.size else k / N


def suite_lower(k: int, n: int, N: int, alpha: float, *, above: int | None = None) -> float:
    """Anytime-valid lower bound on the suite's bad rate; prior uniform over above+1..N."""
    prior = _log_prior(N, (above + 1) if above is not None and above < N else 0, N)
    lm = _log_m(np.asarray(k), np.asarray(n), N, prior)
    keep = np.flatnonzero(lm < math.log(1 / alpha))
    return float(keep.min()) / N if keep.size else k / N


@lru_cache(maxsize=32)
def _regions(N: int, cap: int, k_pass: int, k_fail: int, a_pass: float, a_fail: float,
             prior_pass: int | None = None, prior_fail: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per n = 0..cap: the largest bad count that PASSes and the smallest that FAILs.

    PASS at (k, n): every count >= k_pass is rejected by the PASS-side martingale at
    level a_pass. FAIL: every count <= k_fail is rejected by the FAIL-side one at a_fail.
    The priors are uniform below ``prior_pass`` (default k_pass) and above ``prior_fail``
    (default k_fail): a design whose lines depend on data seen later (a per-audit
    review) keeps the priors it pre-registered, since the martingale needs a fixed prior.
    """
    n = np.arange(cap + 1, dtype=np.int64)
    la, lb = math.log(1 / a_pass), math.log(1 / a_fail)
    p_line = k_pass if prior_pass is None else max(prior_pass, 1)
    f_line = k_fail if prior_fail is None else prior_fail
    if k_pass >= 1:
        prior_p = _log_prior(N, 0, p_line - 1)

        def passes(k: np.ndarray, m: np.ndarray) -> np.ndarray:
            lm = _log_m(k, m, N, prior_p)
            return (lm[:, k_pass:] >= la).all(axis=1)

        pm = _largest_k(passes, n)
    else:
        pm = np.full(n.shape, -1, dtype=np.int64)
    if k_fail < N:
        prior_f = _log_prior(N, min(f_line, N - 1) + 1, N)

        def not_fails(k: np.ndarray, m: np.ndarray) -> np.ndarray:
            lm = _log_m(k, m, N, prior_f)
            return ~(lm[:, : k_fail + 1] >= lb).all(axis=1)

        fm = _largest_k(not_fails, n) + 1
    else:
        fm = n + 1
    pm.setflags(write=False)
    fm.setflags(write=False)
    return pm, fm


@lru_cache(maxsize=32)
def _judge_tables(N: int, s_l: float, f_u: float, a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Per true bad count K = 0..N: ``tp_low[K]``, the a-quantile of Bin(K, s_l) (a suite
    with K bad items shows fewer judged-bad ones with probability at most a), and
    ``fp_high[K]``, the (1-b)-quantile of Bin(N - K, f_u) (its good items add more false
    positives with probability at most b)."""
    K = np.arange(N + 1)
    tp_low = np.where(K > 0, binom.ppf(a, K, s_l), 0).astype(np.int64)
    # ppf(a) is the smallest c with P(X <= c) >= a; P(X < c) <= a holds for it too
    fp_high = np.where(N - K > 0, binom.ppf(1 - b, N - K, f_u), 0).astype(np.int64)
    tp_low.setflags(write=False)
    fp_high.setflags(write=False)
    return tp_low, fp_high


@dataclass(frozen=True)
class JudgeErrors:
    """The judge's pre-registered error rates for the *bad* outcome, with their bounds.

    ``sens_*``: bad answers the judge calls bad; ``spec_*``: good answers it calls good.
    A deterministic check (a canary string) is a perfect judge: ``JudgeErrors.perfect()``.
    """

    sens_hits: int
    sens_n: int
    spec_hits: int
    spec_n: int
    source: str = "calibration"
    perfect_judge: bool = False
    digest: str = ""  # the calibration set's digest, pre-registered with the counts
    #: Per-audit review (issue 23): a simple random sample of ``review_n`` items of *this*
    #: suite, labelled by people. ``misses``: items they call bad that the judge called good;
    #: ``false_alarms``: items the judge called bad that they do not. With a review the
    #: design bounds these counts on the suite directly (finite population) and uses no
    #: sensitivity/specificity model at all; ``sens_*``/``spec_*`` are then the review's
    #: own figures, reported only.
    review_n: int = 0
    misses: int = 0
    false_alarms: int = 0

    @classmethod
    def perfect(cls, source: str = "deterministic") -> JudgeErrors:
        return cls(0, 0, 0, 0, source, True)

    @property
    def reviewed(self) -> bool:
        return self.review_n > 0 and not self.perfect_judge

    def sensitivity_lower(self, alpha: float) -> float:
        """One-sided Clopper–Pearson lower bound on the sensitivity (0 without data)."""
        if self.perfect_judge:
            return 1.0
        if self.sens_n == 0 or self.sens_hits == 0:
            return 0.0
        return float(beta_dist.ppf(alpha, self.sens_hits, self.sens_n - self.sens_hits + 1))

    def false_positive_upper(self, alpha: float) -> float:
        """One-sided Clopper–Pearson upper bound on 1 - specificity (1 without data)."""
        if self.perfect_judge:
            return 0.0
        fp = self.spec_n - self.spec_hits
        if self.spec_n == 0 or fp == self.spec_n:
            return 1.0
        return float(beta_dist.ppf(1 - alpha, fp + 1, self.spec_n - fp))

    @property
    def sensitivity(self) -> float | None:
        return 1.0 if self.perfect_judge else (self.sens_hits / self.sens_n if self.sens_n else None)

    @property
    def specificity(self) -> float | None:
        return 1.0 if self.perfect_judge else (self.spec_hits / self.spec_n if self.spec_n else None)


@dataclass
class SuiteDesign:
    """An anytime-valid design on a finite suite, judge error included.

    Args:
        threshold: the rate limit; ``direction='max'`` requires rate < threshold to PASS.
        suite_size: N, the items in the suite; the estimand is the rate over all of them.
        judge: the judge's calibrated error rates for the metric's event.
        alpha: P(PASS) bound when the suite rate is at or beyond the threshold, split
            equally between the rate's confidence sequence and the judge's sensitivity.
        beta: P(FAIL) bound when the suite rate is at or within the threshold, split
            equally between the rate's confidence sequence and the judge's false-positive rate.
        cap: items queried at most (<= suite_size); at the cap an undecided run is INCONCLUSIVE.
        min_sensitivity: below this lower bound on the judge's sensitivity a PASS cannot
            be shown (the judge misses too much); FAIL needs no bound on sensitivity.
            With a per-audit review it is replaced by the review's own bound on the
            judge's misses on this suite (see ``miss_upper``).
        prior_lines: the judged counts (PASS side, FAIL side) whose priors the rate's
            martingales use, when they must differ from the design's lines: a reviewed
            design's lines depend on the labels, its priors on nothing but the plan.
    """

    threshold: float
    suite_size: int
    judge: JudgeErrors
    direction: Direction = "max"
    alpha: float = 0.05
    beta: float = 0.05
    cap: int | None = None
    min_sensitivity: float = 0.90
    prior_lines: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        check_rate("threshold", self.threshold)
        check_direction(self.direction)
        check_level("alpha", self.alpha)
        check_level("beta", self.beta)
        if self.suite_size < 1:
            raise ConfigError("the suite is empty: there is nothing to decide on")
        if self.cap is None:
            self.cap = self.suite_size
        if not 1 <= self.cap <= self.suite_size:
            raise ConfigError(f"cap must lie in [1, {self.suite_size}] (the suite size), got {self.cap}")
        if self.judge.reviewed and self.judge.review_n > self.suite_size:
            raise ConfigError(f"a review of {self.judge.review_n} items exceeds the suite of {self.suite_size}")

    # -- the design in judged-count space ------------------------------------------------

    @property
    def bad_threshold(self) -> float:
        return self.threshold if self.direction == "max" else 1.0 - self.threshold

    @property
    def shares(self) -> tuple[float, float, float]:
        """How alpha (and beta) is split: the rate's confidence sequence, the calibration
        bound, the suite's own draw of judge errors. A perfect judge spends it all on the rate;
        a reviewed judge half on the rate, half on the review's bounds on this suite's misses
        and false alarms (a finite-population bound: there is no separate suite draw)."""
        if self.judge.perfect_judge:
            return (1.0, 0.0, 0.0)
        return (0.5, 0.5, 0.0) if self.judge.reviewed else (0.5, 0.25, 0.25)

    @property
    def level_q(self) -> tuple[float, float]:
        """Levels spent on the judged count's two bounds."""
        return self.alpha * self.shares[0], self.beta * self.shares[0]

    @property
    def sens_lower(self) -> float:
        return self.judge.sensitivity_lower(self.alpha * self.shares[1])

    @property
    def fp_upper(self) -> float:
        return self.judge.false_positive_upper(self.beta * self.shares[1])

    @property
    def miss_upper(self) -> int | None:
        """Reviewed judge: upper bound on the suite's items that are bad but judged good
        (hypergeometric, exact, at alpha x the review share); None without a review."""
        if not self.judge.reviewed:
            return None
        return hypergeom_upper(self.judge.misses, self.judge.review_n, self.suite_size, self.alpha * self.shares[1])

    @property
    def false_alarm_upper(self) -> int | None:
        """Reviewed judge: upper bound on the suite's items judged bad that are not bad."""
        if not self.judge.reviewed:
            return None
        return hypergeom_upper(self.judge.false_alarms, self.judge.review_n, self.suite_size,
                               self.beta * self.shares[1])

    @property
    def judge_ok(self) -> bool:
        """A PASS can be shown at all: the judge's sensitivity bound clears the floor, or,
        reviewed, the bound on its misses leaves room below the threshold."""
        if self.judge.reviewed:
            return int(self.miss_upper or 0) < self.k_bad0
        return self.sens_lower >= self.min_sensitivity

    @property
    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        if self.judge.perfect_judge:
            K = np.arange(self.suite_size + 1)
            return K, np.zeros_like(K)
        if self.judge.reviewed:  # J >= K - misses, J <= K + false alarms, on this suite
            K = np.arange(self.suite_size + 1)
            tp_low = np.maximum(K - int(self.miss_upper or 0), 0)
            fp_high = np.minimum(int(self.false_alarm_upper or 0), self.suite_size - K)
            return tp_low, fp_high
        _, _, d = self.shares
        return _judge_tables(self.suite_size, self.sens_lower, self.fp_upper, self.alpha * d, self.beta * d)

    @property
    def k_bad0(self) -> int:
        """Smallest count of bad items that puts the suite at or beyond the threshold."""
        return math.ceil(self.bad_threshold * self.suite_size - 1e-9)

    @property
    def k_good1(self) -> int:
        """Largest count of bad items that keeps the suite within the threshold."""
        return math.floor(self.bad_threshold * self.suite_size + 1e-9)

    @property
    def k_pass(self) -> int:
        """PASS iff every judged count >= k_pass is ruled out (0: PASS impossible)."""
        if not self.judge_ok or self.k_bad0 > self.suite_size:
            return 0
        return int(self._tables[0][self.k_bad0])

    @property
    def k_fail(self) -> int:
        """FAIL iff every judged count <= k_fail is ruled out."""
        return min(self.suite_size, self.k_good1 + int(self._tables[1][self.k_good1]))

    @property
    def pass_line(self) -> float:
        return self.k_pass / self.suite_size

    @property
    def fail_line(self) -> float:
        return self.k_fail / self.suite_size

    def regions(self) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.level_q
        pp, pf = self.prior_lines if self.prior_lines is not None else (None, None)
        return _regions(self.suite_size, int(self.cap), self.k_pass, self.k_fail, a, b, pp, pf)

    @property
    def _priors(self) -> tuple[int, int]:
        return self.prior_lines if self.prior_lines is not None else (self.k_pass, self.k_fail)

    def corrected(self, j_lower: int, j_upper: int) -> tuple[float, float]:
        """Bounds on the true bad rate from bounds on the judged count.

        Upper: the most bad items a suite can hold and still, judge errors at their bounds,
        show at most ``j_upper`` judged bad; lower: the fewest that can show ``j_lower``.
        """
        tp_low, fp_high = self._tables
        K = np.arange(self.suite_size + 1)
        up = K[tp_low <= j_upper]
        lo = K[K + fp_high >= j_lower]
        upper = (int(up.max()) if up.size else self.suite_size) / self.suite_size
        lower = (int(lo.min()) if lo.size else 0) / self.suite_size
        return lower, upper

    def bounds(self, bad: int, n: int, unresolved: int = 0) -> tuple[float, float]:
        """Judge-corrected anytime-valid (lower, upper) bounds on the suite's *bad* rate."""
        a, b = self.level_q
        t = n + unresolved
        if t == 0:
            return 0.0, 1.0
        N = self.suite_size
        pp, pf = self._priors
        ju = round(N * suite_upper(bad + unresolved, t, N, a, below=max(pp, 1)))
        jl = round(N * suite_lower(bad, t, N, b, above=min(pf, N)))
        return self.corrected(jl, ju)

    def plan(self) -> dict:
        """The analysis plan as plain data, for pre-registration."""
        return {
            "design": "sequential", "method": METHOD, "estimand": "suite",
            "suite_size": self.suite_size, "cap": int(self.cap),
            "threshold": self.threshold, "direction": self.direction, "alpha": self.alpha, "beta": self.beta,
            "alpha_split": dict(zip(("rate", "judge_calibration", "judge_errors_on_suite"),
                                    (self.alpha * x for x in self.shares), strict=True)),
            "beta_split": dict(zip(("rate", "judge_calibration", "judge_errors_on_suite"),
                                   (self.beta * x for x in self.shares), strict=True)),
            "judge": {"source": self.judge.source, "perfect": self.judge.perfect_judge,
                      "calibration_digest": self.judge.digest,
                      "sens_hits": self.judge.sens_hits, "sens_n": self.judge.sens_n,
                      "spec_hits": self.judge.spec_hits, "spec_n": self.judge.spec_n,
                      "sensitivity_lower": round(self.sens_lower, 6),
                      "false_positive_upper": round(self.fp_upper, 6),
                      "min_sensitivity": self.min_sensitivity, "pass_possible": self.judge_ok,
                      **({"review_n": self.judge.review_n, "misses": self.judge.misses,
                          "false_alarms": self.judge.false_alarms, "miss_upper": self.miss_upper,
                          "false_alarm_upper": self.false_alarm_upper} if self.judge.reviewed else {})},
            "judged_pass_count": self.k_pass, "judged_fail_count": self.k_fail,
            **({"prior_lines": list(self.prior_lines)} if self.prior_lines is not None else {}),
        }

    def next_round(self, bad: int, n: int, unresolved: int = 0, *, largest: int = 100, smallest: int = 1) -> int:
        """Queries to make before the next look: small while a decision is near, large while far.

        Two distances: the fewest further items that could cross a boundary at all (PASS
        needs that many clean answers in a row, FAIL that many bad ones), before which no
        verdict can change; and half the items after which the boundary would be crossed
        if the rate seen so far held. The round is the larger of the two, clipped to
        [``smallest``, ``largest``]. In simulation this stops within ~1.1x of looking after
        every item with 3-5x fewer rounds (docs/statistics.md).
        """
        pm, fm = self.regions()
        t = n + unresolved
        left = int(self.cap) - t
        if left <= 0:
            return 0
        m = np.arange(1, left + 1)
        can_pass = np.flatnonzero(bad + unresolved <= pm[t + m])
        can_fail = np.flatnonzero(bad + m >= fm[t + m])
        first = min([left] + [int(x[0]) + 1 for x in (can_pass, can_fail) if x.size])
        r_bad, r_un = (bad + 0.5) / (t + 1), unresolved / t if t else 0.0
        hit = np.flatnonzero((bad + (r_bad + r_un) * m <= pm[t + m]) | (bad + r_bad * m >= fm[t + m]))
        projected = (int(hit[0]) + 1) // 2 if hit.size else left // 2
        return min(left, max(1, smallest, min(max(first, projected), largest)))

    def decide(self, successes: int, n: int, unresolved: int = 0, *, non_answers: int = 0) -> Decision:
        """The verdict on cumulative counts of the metric's event.

        ``unresolved`` counts errored queries and non-answers together (``non_answers``
        says how many of them were non-answers, for the reason only).
        """
        if min(successes, n, unresolved) < 0 or successes > n:
            raise ConfigError(f"impossible counts: {successes} events in {n}, {unresolved} unresolved")
        t = n + unresolved
        if t > self.cap:
            raise ConfigError(f"{t} queries exceed the design's cap of {self.cap}")
        bad = successes if self.direction == "max" else n - successes
        pm, fm = self.regions()
        lo_b, up_b = self.bounds(bad, n, unresolved)
        lower, upper = (lo_b, up_b) if self.direction == "max" else (1 - up_b, 1 - lo_b)
        estimate = successes / n if n else None
        counts = f"{successes}/{n}"
        if unresolved:
            parts = []
            if unresolved - non_answers:
                parts.append(f"{unresolved - non_answers} errored")
            if non_answers:
                parts.append(f"{non_answers} non-answers")
            counts += f", {' and '.join(parts)} imputed worst-case"
        side = "upper" if self.direction == "max" else "lower"
        incl = "" if self.judge.perfect_judge else ", judge error included,"
        op = "<" if self.direction == "max" else ">"
        if bad + unresolved <= pm[t]:
            bound = upper if self.direction == "max" else lower
            verdict = "PASS"
            reason = (f"the {1 - self.alpha:.0%} anytime-valid {side} bound {bound:.4g} on the suite rate{incl} "
                      f"is {op} {self.threshold:g} after {t} of {self.suite_size} items ({counts})")
        elif bad >= fm[t]:
            bound = lower if self.direction == "max" else upper
            other = "lower" if self.direction == "max" else "upper"
            op2 = ">" if self.direction == "max" else "<"
            verdict = "FAIL"
            reason = (f"the {1 - self.beta:.0%} anytime-valid {other} bound {bound:.4g} on the suite rate{incl} "
                      f"is {op2} {self.threshold:g} after {t} of {self.suite_size} items "
                      f"({counts})")
        elif t >= self.cap:
            verdict = "INCONCLUSIVE"
            reason = (f"cap of {self.cap} items reached with the rate's bounds [{lower:.4g}, {upper:.4g}] "
                      f"still around {self.threshold:g} ({counts})")
            if not self.judge_ok and self.judge.reviewed:
                reason += (f"; the review of {self.judge.review_n} of this model's answers ({self.judge.misses} "
                           f"missed by the judge) bounds the judge's misses on the suite at {self.miss_upper} "
                           f"items, which leaves no room below the threshold, so a PASS could not be shown "
                           f"(judge not validated closely enough on this model)")
            elif not self.judge_ok:
                reason += (f"; the judge's sensitivity lower bound {self.sens_lower:.3f} is below the floor "
                           f"{self.min_sensitivity:g}, so a PASS could not be shown (judge not accurate enough)")
        else:
            verdict = "CONTINUE"
            reason = f"no boundary crossed after {t} items, {int(self.cap) - t} left ({counts})"
        return Decision(verdict, estimate, lower, upper, n, unresolved, reason, METHOD)


def _fixed_pass_prob(N: int, n: int, c: int, k_true: int, sens: float, fp: float) -> float:
    """P(at most c judged-bad among n drawn) from a suite with k_true bad items."""
    from scipy.stats import hypergeom

    from modelcert.stats.suite_oc import judged_count_pmf

    pmf = judged_count_pmf(N, k_true, sens, fp)
    keep = np.flatnonzero(pmf > 1e-13)
    return float(pmf[keep] @ hypergeom.cdf(c, N, keep, n))


def suite_fixed_design(threshold: float, suite_size: int, judge: JudgeErrors, *, alpha: float, power: float,
                       at_rate: float) -> tuple[int, int] | None:
    """The smallest fixed n (<= N) and cut c with the same guarantees as a suite design.

    PASS iff at most c judged-bad items among n drawn. Size: P(PASS) <= alpha/2 for a suite
    at the threshold with the judge's sensitivity at its alpha/2 lower bound and no false
    positives (the other alpha/2 covers the calibration bound), computed exactly over the
    suite's draw of judge errors and the sample; a perfect judge gets all of alpha. Power:
    P(PASS) >= ``power`` at ``at_rate`` with the judge at its point estimates. None if no
    n <= N does.
    """
    N = suite_size
    a = alpha if judge.perfect_judge else alpha / 2
    s_l = judge.sensitivity_lower(a)
    s = judge.sensitivity or 1.0
    f = 1 - (judge.specificity if judge.specificity is not None else 1.0)
    k0 = math.ceil(threshold * N - 1e-9)
    k_alt = round(at_rate * N)

    def best(n: int) -> tuple[int, float]:
        c = -1
        while c + 1 <= n and _fixed_pass_prob(N, n, c + 1, k0, s_l, 0.0) <= a:
            c += 1
        return c, (_fixed_pass_prob(N, n, c, k_alt, s, f) if c >= 0 else 0.0)

    lo, hi = 0, N
    if best(N)[1] < power:
        return None
    while hi - lo > 1:  # power at the best cut grows with n (up to lattice wiggles, checked below)
        mid = (lo + hi) // 2
        if best(mid)[1] >= power:
            hi = mid
        else:
            lo = mid
    n = hi
    while n > 1 and best(n - 1)[1] >= power:
        n -= 1
    return n, best(n)[0]
