"""Anytime-valid monitoring: per-check p-values turned into one e-process.

Why: the lab looks at the deployed model again and again. Testing each check at level
alpha would raise false alarms at a rate that grows with the number of looks. An
e-process ``E_t`` that is a nonnegative supermartingale with ``E_0 = 1`` under "same
model" keeps ``P(E_t >= 1/alpha for some t) <= alpha`` (Ville's inequality), however
often and for however long the lab looks.

Construction:

* each check's p-value (valid, and independent of earlier checks because each check
  uses fresh queries *and* its own, unused block of the reference sample) becomes an
  e-value with the calibrator ``e = kappa * p**(kappa - 1)`` (Vovk & Wang 2021);
* a change can start at any check ``s``, so ``E_t`` mixes the products started at each
  ``s``: ``E_t = sum_s w_s * prod_{j=s..t} e_j + (1 - sum_{s<=t} w_s)`` with
  ``w_s = 1/(s(s+1))`` (weights summing to 1). Each started product is a test
  supermartingale, equal to 1 before it starts, and so is their mixture; a late change
  is not buried under the evidence *for* the null that earlier checks built up (as in a
  single product), at the price of a factor ``s(s+1)`` for a change starting at check s.

An alarm is raised when ``E_t >= 1/alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from modelcert.errors import ConfigError

DEFAULT_KAPPA = 0.2


def calibrate(p: float, kappa: float = DEFAULT_KAPPA) -> float:
    """The e-value ``kappa * p**(kappa-1)`` of a p-value (``E[e] <= 1`` when p is valid)."""
    if not 0 < kappa < 1:
        raise ConfigError("kappa must lie in (0, 1)")
    if not 0 < p <= 1:
        raise ConfigError(f"p-value {p} is not in (0, 1]")
    return kappa * p ** (kappa - 1)


def start_weight(s: int) -> float:
    """Prior weight of a change starting at check ``s`` (1-based); sums to 1 over s."""
    return 1.0 / (s * (s + 1))


@dataclass
class EProcess:
    """The mixture-over-start-times e-process; feed it one e-value per check."""

    alpha: float = 0.05
    values: list[float] = field(default_factory=list)  # E_t after each check
    _started: list[float] = field(default_factory=list)  # prod_{j=s..t} e_j for each start s

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ConfigError("alpha must lie in (0, 1)")

    @property
    def threshold(self) -> float:
        return 1.0 / self.alpha

    @property
    def value(self) -> float:
        return self.values[-1] if self.values else 1.0

    @property
    def alarm(self) -> bool:
        return self.value >= self.threshold

    def update(self, e: float) -> float:
        if not e >= 0 or math.isinf(e):
            raise ConfigError(f"e-value {e} is not a finite nonnegative number")
        self._started = [x * e for x in self._started] + [e]
        t = len(self._started)
        spent = sum(start_weight(s) for s in range(1, t + 1))
        value = sum(start_weight(s) * x for s, x in enumerate(self._started, 1)) + (1.0 - spent)
        self.values.append(value)
        return value


def run(p_values: Sequence[float], *, alpha: float = 0.05, kappa: float = DEFAULT_KAPPA) -> EProcess:
    """The e-process over a sequence of check p-values."""
    ep = EProcess(alpha)
    for p in p_values:
        ep.update(calibrate(p, kappa))
    return ep
