"""Multiple comparisons: Benjamini–Hochberg for p-values, e-BH for e-values.

Bias cells (attribute x domain x language) are many; BH keeps the false discovery rate
at q. Sequential designs produce e-values, whose e-BH procedure controls FDR under
arbitrary dependence and optional stopping.
"""

from __future__ import annotations

import numpy as np

from modelcert.errors import ConfigError


def benjamini_hochberg(pvalues, q: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Return (rejected mask, BH-adjusted p-values) at false discovery rate q."""
    p = np.asarray(pvalues, dtype=float)
    if p.size == 0:
        return np.zeros(0, dtype=bool), np.zeros(0)
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ConfigError("p-values must lie in [0, 1]")
    from statsmodels.stats.multitest import multipletests  # lazy: pulls in pandas (seconds)

    reject, adjusted, _, _ = multipletests(p, alpha=q, method="fdr_bh")
    return reject, adjusted


def e_bh(evalues, q: float = 0.05) -> np.ndarray:
    """e-BH (Wang & Ramdas, 2022): reject the k* largest e-values, k* = max{k: e_(k) >= K/(k q)}."""
    e = np.asarray(evalues, dtype=float)
    if (e < 0).any() or np.isnan(e).any():
        raise ConfigError("e-values must be non-negative")
    m = e.size
    reject = np.zeros(m, dtype=bool)
    if m == 0:
        return reject
    order = np.argsort(-e)
    ks = np.arange(1, m + 1)
    ok = np.flatnonzero(e[order] >= m / (ks * q))
    if ok.size:
        reject[order[: int(ok[-1]) + 1]] = True
    return reject
