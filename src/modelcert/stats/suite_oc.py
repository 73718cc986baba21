"""Operating characteristics of a suite design: exactly, and by simulation.

The model of an audit: the suite holds round(rate × N) items whose true outcome is bad;
the judge calls each bad item bad with probability ``sens`` and each good item bad with
probability ``fp``; the audit draws the items in a uniformly random order and looks after
every item (which the engine's adaptive rounds reproduce exactly: it only skips looks at
which no boundary could be crossed). Both functions use the design's own compiled
boundaries (``SuiteDesign.regions``), so what they validate is what the engine decides.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

from modelcert.errors import ConfigError
from modelcert.stats.operating import OperatingPoint
from modelcert.stats.suite import SuiteDesign


def _judge_defaults(design: SuiteDesign, sens: float | None, fp: float | None) -> tuple[float, float]:
    s = design.judge.sensitivity if sens is None else sens
    f = (1 - (design.judge.specificity or 1.0)) if fp is None else fp
    if s is None or not (0 <= s <= 1 and 0 <= f <= 1):
        raise ConfigError("the judge's sensitivity and false-positive rate must lie in [0, 1]")
    return float(s), float(f)


def judged_count_pmf(N: int, k_true: int, sens: float, fp: float) -> np.ndarray:
    """P(the suite holds K judged-bad items), K = 0..N: Bin(k_true, sens) + Bin(N - k_true, fp)."""
    a = binom.pmf(np.arange(k_true + 1), k_true, sens)
    b = binom.pmf(np.arange(N - k_true + 1), N - k_true, fp)
    return np.convolve(a, b)


def exact_oc(design: SuiteDesign, rate: float, *, sens: float | None = None, fp: float | None = None) -> OperatingPoint:
    """P(PASS), P(FAIL), P(INCONCLUSIVE) and E[items] at a true suite rate, exactly.

    ``rate`` is the metric's rate (``min`` designs are mapped to their bad outcome).
    """
    if not 0 <= rate <= 1:
        raise ConfigError(f"true rate must lie in [0, 1], got {rate}")
    s, f = _judge_defaults(design, sens, fp)
    N, cap = design.suite_size, int(design.cap)
    bad_rate = rate if design.direction == "max" else 1 - rate
    pmf = judged_count_pmf(N, round(bad_rate * N), s, f)
    keep = np.flatnonzero(pmf > 1e-12)
    Kq, w = keep.astype(float), pmf[keep] / pmf[keep].sum()
    pm, fm = design.regions()
    ks = np.arange(cap + 1)
    dist = np.zeros((len(Kq), cap + 1))
    dist[:, 0] = 1.0
    p_pass = np.zeros(len(Kq))
    p_fail = np.zeros(len(Kq))
    alive_sum = np.zeros(len(Kq))
    for t in range(cap):
        alive_sum += dist.sum(axis=1)  # P(still running after t items) -> E[N] = sum over t
        p_bad = np.clip((Kq[:, None] - ks[None, :]) / (N - t), 0.0, 1.0)
        new = dist * (1 - p_bad)
        new[:, 1:] += (dist * p_bad)[:, :-1]
        dist = new
        passed = ks <= pm[t + 1]
        failed = ks >= fm[t + 1]
        p_pass += dist[:, passed].sum(axis=1)
        p_fail += dist[:, failed & ~passed].sum(axis=1)
        dist[:, passed | failed] = 0.0
    pp, pf = float(w @ p_pass), float(w @ p_fail)
    return OperatingPoint(rate, pp, pf, max(0.0, 1 - pp - pf), float(w @ alive_sum), 0)


def simulate(design: SuiteDesign, rate: float, *, runs: int = 2000, seed: int = 0, sens: float | None = None,
             fp: float | None = None) -> OperatingPoint:
    """The same by simulation: ``runs`` whole audits, each a fresh judge draw and order."""
    s, f = _judge_defaults(design, sens, fp)
    N, cap = design.suite_size, int(design.cap)
    bad_rate = rate if design.direction == "max" else 1 - rate
    k_true = round(bad_rate * N)
    rng = np.random.default_rng(seed)
    truth = np.zeros(N, dtype=bool)
    truth[:k_true] = True
    u = rng.random((runs, N))
    judged = np.where(truth[None, :], u < s, u < f)
    order = np.argsort(rng.random((runs, N)), axis=1)[:, :cap]
    seq = np.take_along_axis(judged, order, axis=1)
    cum = np.cumsum(seq, axis=1)
    pm, fm = design.regions()
    hit_pass = cum <= pm[1 : cap + 1][None, :]
    hit_fail = cum >= fm[1 : cap + 1][None, :]
    hit = hit_pass | hit_fail
    first = np.where(hit.any(axis=1), hit.argmax(axis=1), cap)
    stopped = first < cap
    rows = np.arange(runs)
    idx = np.minimum(first, cap - 1)
    passed = stopped & hit_pass[rows, idx]
    failed = stopped & ~passed
    return OperatingPoint(rate, float(passed.mean()), float(failed.mean()), float((~stopped).mean()),
                          float(np.where(stopped, first + 1, cap).mean()), runs)


def false_refusal(design: SuiteDesign, rate: float) -> float:
    """P(not PASS) at a compliant ``rate``, judge at its point estimates (exact)."""
    return 1.0 - exact_oc(design, rate).p_pass
