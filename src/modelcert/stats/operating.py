"""Operating characteristics of a sequential design: exactly, and by simulation.

Both use the design's own compiled boundaries (``SequentialDesign.regions``), so what
is validated here is what ``SequentialDesign.decide`` does. ``exact_oc`` walks the
binomial lattice; ``simulate`` draws whole runs with numpy, which is how the tests show
the error rates empirically and how the benchmark counts queries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelcert.errors import ConfigError
from modelcert.stats.sequential import SequentialDesign


@dataclass(frozen=True)
class OperatingPoint:
    """Verdict probabilities and mean queries at one true rate (runs = 0: exact)."""

    rate: float
    p_pass: float
    p_fail: float
    p_inconclusive: float
    mean_queries: float
    runs: int = 0


def _looks(cap: int, round_size: int) -> np.ndarray:
    if round_size < 1:
        raise ConfigError(f"round_size must be >= 1, got {round_size}")
    looks = np.arange(round_size, cap + 1, round_size)
    return looks if looks.size and looks[-1] == cap else np.append(looks, cap)


def _bad_rate(design: SequentialDesign, rate: float) -> float:
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"true rate must lie in [0, 1], got {rate}")
    return rate if design.direction == "max" else 1.0 - rate


def exact_oc(design: SequentialDesign, rate: float, *, round_size: int = 1) -> OperatingPoint:
    """Exact verdict probabilities and expected queries when the metric's true rate is ``rate``."""
    p = _bad_rate(design, rate)
    pm, fm = design.regions()
    cap = int(design.cap)
    ks = np.arange(cap + 1)
    dist = np.zeros(cap + 1)
    dist[0] = 1.0
    p_pass = p_fail = mean = 0.0
    prev = 0
    for look in _looks(cap, round_size):
        for _ in range(int(look) - prev):
            new = dist * (1 - p)
            new[1:] += dist[:-1] * p
            dist = new
        prev = int(look)
        passing = ks <= pm[look]
        failing = ks >= fm[look]
        pp, pf = dist[passing].sum(), dist[failing].sum()
        p_pass += pp
        p_fail += pf
        mean += look * (pp + pf)
        dist[passing | failing] = 0.0
    rest = float(dist.sum())
    return OperatingPoint(rate, float(p_pass), float(p_fail), rest, float(mean + cap * rest))


def simulate(
    design: SequentialDesign, rate: float, *, runs: int = 10_000, seed: int = 0, round_size: int = 1
) -> OperatingPoint:
    """Monte Carlo verdict frequencies over ``runs`` independent audits with a fixed seed."""
    p = _bad_rate(design, rate)
    pm, fm = design.regions()
    looks = _looks(int(design.cap), round_size)
    rng = np.random.default_rng(seed)
    counts = np.zeros(runs, dtype=np.int64)
    verdict = np.zeros(runs, dtype=np.int8)  # 0 running, 1 pass, 2 fail
    stop_at = np.full(runs, int(design.cap), dtype=np.int64)
    prev = 0
    for look in looks:
        running = verdict == 0
        if not running.any():
            break
        counts[running] += rng.binomial(int(look) - prev, p, size=int(running.sum()))
        prev = int(look)
        passed = running & (counts <= pm[look])
        failed = running & ~passed & (counts >= fm[look])
        verdict[passed] = 1
        verdict[failed] = 2
        stop_at[passed | failed] = look
    return OperatingPoint(
        rate,
        float(np.mean(verdict == 1)),
        float(np.mean(verdict == 2)),
        float(np.mean(verdict == 0)),
        float(stop_at.mean()),
        runs,
    )
