"""A learned-witness e-value for the ``api`` tier: evidence that accumulates over checks.

Why: the MMD statistic of one check is quadratic in a small change. Routing 10 % of the
traffic to another model moves the reply distribution by ``0.1 (q - p)``, so MMD^2 falls
by a factor 100, and a temperature of 0.7 instead of 1.0 on a low-entropy model only
reweights the same few replies. One check of 250 queries cannot see either; twenty checks
can, if their evidence is pooled. Multiplying calibrated per-check p-values pools badly
(a p-value of 0.2 calibrates to an e-value below 1). This module instead *bets* on the
direction of the change that earlier checks revealed:

* before check ``t`` the witness ``g_t(prompt, reply)`` is the smoothed log-ratio of how
  often each reply (its first ``length`` characters, as the MMD compares) was seen among
  the *new* replies of checks ``< t`` and among the reference blocks those checks used.
  It is fixed before check ``t`` draws anything and never sees check ``t``'s block;
* check ``t``'s e-value is the exact permutation e-value of the statistic ``S = sum of
  g_t over the new replies``:  ``e = exp(lam S) / mean over within-prompt relabellings
  of exp(lam S)``. Under "same model" the reference block and the new replies to one
  prompt are exchangeable given the past, so ``E[e | past] = 1`` exactly. The mean over
  all ``C(n+m, m)`` relabellings is computed exactly, with no sampling: per prompt it is
  the elementary symmetric polynomial of ``exp(lam g)`` over the pooled replies divided
  by the number of subsets;
* ``lam`` is not tuned on the data: the e-value is the average over a fixed grid
  (an average of e-values is an e-value).

With no earlier check the witness is zero and the e-value is exactly 1. The monitor runs
this e-process beside the calibrated-MMD one and alarms on their weighted average
(:class:`Combined`), so a swap still alarms at the first check while a small change
builds up evidence over many.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from modelcert.errors import ConfigError
from modelcert.monitor.eprocess import EProcess

LAMBDAS = (0.25, 0.5, 1.0)
SMOOTHING = 0.5
CLIP = 4.0


def _key(text: str, length: int) -> str:
    return text[:length]


class Witness:
    """Reply counts per prompt from earlier checks, new side and reference side."""

    def __init__(self, length: int = 50) -> None:
        self.length = length
        self.new: dict[str, Counter[str]] = {}
        self.ref: dict[str, Counter[str]] = {}

    def add(self, reference: Iterable[tuple[str, str]], new: Iterable[tuple[str, str]]) -> None:
        """Learn from a finished check (its reference block and its new replies)."""
        for pid, text in reference:
            self.ref.setdefault(str(pid), Counter())[_key(text, self.length)] += 1
        for pid, text in new:
            self.new.setdefault(str(pid), Counter())[_key(text, self.length)] += 1

    def score(self, pid: str, text: str) -> float:
        """``g(prompt, reply)``: the clipped, smoothed log-ratio new/reference (0 before any data)."""
        n, r = self.new.get(pid), self.ref.get(pid)
        if not n or not r:
            return 0.0
        k = _key(text, self.length)
        support = len(set(n) | set(r)) + 1  # the replies seen so far and "anything else"
        q = (n[k] + SMOOTHING) / (sum(n.values()) + SMOOTHING * support)
        p = (r[k] + SMOOTHING) / (sum(r.values()) + SMOOTHING * support)
        return float(np.clip(math.log(q / p), -CLIP, CLIP))


def _log_mean_subset_exp(values: np.ndarray, m: int) -> float:
    """log of the mean of ``exp(sum of a size-m subset)`` over all subsets of ``values``.

    The elementary symmetric polynomial ``e_m(exp(values))`` by the usual recursion,
    kept in log space (values are bounded, so it cannot overflow, but it stays exact).
    """
    logs = np.full(m + 1, -np.inf)
    logs[0] = 0.0
    for v in values:
        logs[1:] = np.logaddexp(logs[1:], logs[:-1] + v)
    return float(logs[m] - (math.lgamma(len(values) + 1) - math.lgamma(m + 1) - math.lgamma(len(values) - m + 1)))


def e_value(witness: Witness, reference: Sequence[tuple[str, str]], new: Sequence[tuple[str, str]],
            lambdas: Sequence[float] = LAMBDAS) -> float:
    """The exact within-prompt permutation e-value of ``sum g(new)`` (averaged over ``lambdas``)."""
    ref_by: dict[str, list[float]] = {}
    new_by: dict[str, list[float]] = {}
    for pid, text in reference:
        ref_by.setdefault(str(pid), []).append(witness.score(str(pid), text))
    for pid, text in new:
        new_by.setdefault(str(pid), []).append(witness.score(str(pid), text))
    logs = []
    for lam in lambdas:
        total = 0.0
        for pid in set(ref_by) & set(new_by):
            pooled = lam * np.array(ref_by[pid] + new_by[pid])
            total += lam * sum(new_by[pid]) - _log_mean_subset_exp(pooled, len(new_by[pid]))
        logs.append(total)
    return float(np.exp(np.logaddexp.reduce(logs) - math.log(len(lambdas))))



@dataclass
class Combined:
    """The monitor's e-process at ``api``: a weighted average of two e-processes on the same checks.

    ``mmd`` takes each check's calibrated MMD p-value, ``learned`` each check's witness
    e-value (1 at the first check). Both are test supermartingales for the same sequence
    of checks, and so is ``(1 - weight) * mmd + weight * learned``, so Ville's inequality
    still bounds the false-alarm rate by alpha over any number of checks. Averaging the
    *processes* (not each check's e-values) costs a constant factor once: with the
    default weight 0.25 a swap still alarms at its first check when ``p <= 0.0008``
    (at most 3 of 5000 permutations reach its statistic), and the witness keeps all of the evidence it
    compounds over later checks (it alarms alone from 80).
    """

    alpha: float = 0.05
    weight: float = 0.25
    novelty_weight: float = 0.0
    """Share of a third process fed the novelty e-values (:mod:`modelcert.monitor.novelty`);
    0 for plans without it. The MMD process keeps ``1 - weight - novelty_weight``."""
    mmd: EProcess = field(init=False)
    learned: EProcess = field(init=False)
    novel: EProcess = field(init=False)
    values: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (0 <= self.weight <= 1 and 0 <= self.novelty_weight <= 1 and self.weight + self.novelty_weight <= 1):
            raise ConfigError("the witness and novelty weights must lie in [0, 1] and sum to at most 1")
        self.mmd, self.learned, self.novel = EProcess(self.alpha), EProcess(self.alpha), EProcess(self.alpha)

    @property
    def value(self) -> float:
        return self.values[-1] if self.values else 1.0

    @property
    def alarm(self) -> bool:
        return self.value >= 1.0 / self.alpha

    def update(self, e_mmd: float, e_witness: float, e_novelty: float = 1.0) -> float:
        value = ((1 - self.weight - self.novelty_weight) * self.mmd.update(e_mmd)
                 + self.weight * self.learned.update(e_witness))
        if self.novelty_weight:
            value += self.novelty_weight * self.novel.update(e_novelty)
        self.values.append(value)
        return value
