"""A one-class novelty e-value for the ``api`` tier (opt-in, pre-registered ``novelty``).

Why: the MMD of one check is quadratic in a routed share, and the learned witness
(:mod:`modelcert.monitor.witness`) needs earlier checks to learn a direction. A novelty
score is linear in the share from the first check: each reply the certified model
rarely gives adds its surprisal, however few of them there are.

* At enrollment the lab draws a *learning sample* beside the reference blocks
  (``learn_per_prompt`` replies per prompt). ``g(prompt, reply)`` is the clipped,
  smoothed surprisal of the reply's first ``length`` characters among the learning
  sample's replies to that prompt. It is fixed at enrollment and never sees a check's
  block or new replies.
* Check ``t``'s e-value is the exact within-prompt permutation e-value of ``sum g(new)``
  against block ``t`` (:func:`modelcert.monitor.witness.e_value`, the same machinery as
  the witness), averaged over ``LAMBDAS``. Conditionally on the learning sample, block
  ``t`` and the new replies are exchangeable under "same model", so its expectation
  given the past is exactly 1: a third test supermartingale beside the MMD and witness
  processes, and their weighted average keeps Ville's bound.

What it buys and what it does not (bench/monitor.py ``--part novelty``, docs/monitoring.md):
it lifts cumulative power (10 % routing to the backdoor organism within 20 checks) and a
served temperature of 1.5 at the first check, but one check of 250 queries still misses
10 % routing: a one-class score cannot tell a rare reply of the certified model from a
reply of another model, and the zoo organisms' routed replies are mostly replies the
clean organism also gives.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

#: Bet sizes, fixed in advance: small, because most replies of a routed check are the
#: certified model's own and a large bet loses on each of them.
LAMBDAS = (0.05, 0.1, 0.2)
SMOOTHING = 0.5
CLIP = 8.0


class Novelty:
    """Surprisal of a reply under the learning sample's replies to its prompt."""

    def __init__(self, learn: Iterable[tuple[str, str]], length: int = 50) -> None:
        self.length = length
        self.counts: dict[str, Counter[str]] = {}
        for pid, text in learn:
            self.counts.setdefault(str(pid), Counter())[text[:length]] += 1

    def score(self, pid: str, text: str) -> float:
        """``g(prompt, reply)`` (0 for a prompt the learning sample lacks: no bet)."""
        c = self.counts.get(pid)
        if not c:
            return 0.0
        support, n = len(c) + 1, sum(c.values())
        return min(CLIP, -math.log((c[text[:self.length]] + SMOOTHING) / (n + SMOOTHING * support)))
