"""The ``logprobs``-tier test: compare returned token log-probabilities with the reference.

Why it needs far fewer queries than the completion MMD: a sampled completion shows
one draw from the model's distribution, but its token log-probabilities (with the
top-k alternatives) show the distribution itself at every position. For the *fixed
continuations* the reference already holds (its completions' token prefixes), the same
model returns the same numbers up to floating-point noise (batching, kernels), while a
different model, prompt or temperature moves them far beyond that noise.

Per query ``i`` the distance ``d_i`` is the largest absolute difference, over the
positions where the query's token prefix matches a reference continuation of the same
prompt (an empty reply returns no log-probabilities and is counted but not tested), between the log-probabilities both sides report for the same tokens (a token
in one top-k but not the other counts only by how far it rises above the other side's
lowest reported value, the bound that side implies). A query is a *mismatch* when ``d_i > tolerance``.

Null model, stated and pre-registered: under "same model", a query is a mismatch with
probability at most ``null_rate`` (floating-point noise beyond ``tolerance`` is rare).
The count of mismatches among ``n`` independent queries is then stochastically at most
Binomial(n, null_rate), and ``p = P(Binomial(n, null_rate) >= mismatches)`` is a valid
p-value. ``tolerance`` is set at enrollment from a replicate of the reference drawn
under another batch composition (see :func:`noise_floor`), never below
``MIN_TOLERANCE``; the null bench measures the mismatch rate on servers, batch sizes and
restarts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from scipy.stats import binom

MIN_TOLERANCE = 0.02
DEFAULT_NULL_RATE = 0.01

# One returned position: {"token": str, "logprob": float, "top": {token: logprob}}
Position = dict[str, Any]


def _dist(pos: Position) -> dict[str, float]:
    d = dict(pos.get("top") or {})
    d[pos["token"]] = pos["logprob"]
    return d


def _floor(pos: Position) -> float:
    """What a report bounds an unreported token by: its lowest *top-k* value.

    Not the sampled token's value: a sampled token outside the top-k lies below the k-th
    value, and every other unreported token lies at or below the k-th value, not at or
    below the sampled one. (Using the sampled token's value here made a rare sampled token
    on one side turn the other side's rank-k+1 token into a "disagreement" of several nats:
    the excess null mismatches measured in the logprobs null bench.) With no top-k at all
    the only bound is 0.
    """
    top = pos.get("top") or {}
    return min(top.values()) if top else 0.0


def position_distance(a: Position, b: Position) -> float:
    """Largest log-probability disagreement between two reports of the same position.

    A token both sides report is compared directly. A token only one side reports lies,
    on the other side, at or below that side's lowest top-k value, so it disagrees only
    by how far it rises above that floor.
    """
    da, db = _dist(a), _dist(b)
    floor_a, floor_b = _floor(a), _floor(b)
    worst = 0.0
    for t in set(da) | set(db):
        if t in da and t in db:
            worst = max(worst, abs(da[t] - db[t]))
        elif t in da:
            worst = max(worst, da[t] - floor_b)
        else:
            worst = max(worst, db[t] - floor_a)
    return worst


def _index(reference: Iterable[tuple[str, Sequence[Position]]]) -> dict[tuple[str, tuple[str, ...]], Position]:
    """Reference positions keyed by (prompt id, token prefix before the position)."""
    index: dict[tuple[str, tuple[str, ...]], Position] = {}
    for pid, positions in reference:
        prefix: tuple[str, ...] = ()
        for pos in positions:
            index.setdefault((str(pid), prefix), pos)
            prefix = (*prefix, pos["token"])
    return index


def query_distance(index: dict[tuple[str, tuple[str, ...]], Position], pid: str,
                   positions: Sequence[Position]) -> float | None:
    """``d_i`` for one query, or None when not even its first position is in the reference."""
    best: float | None = None
    prefix: tuple[str, ...] = ()
    for pos in positions:
        ref = index.get((str(pid), prefix))
        if ref is None:
            break
        d = position_distance(ref, pos)
        best = d if best is None else max(best, d)
        prefix = (*prefix, pos["token"])
    return best


def noise_floor(first: Iterable[tuple[str, Sequence[Position]]],
                second: Iterable[tuple[str, Sequence[Position]]]) -> float:
    """Largest distance between two replicate reference draws of the same model."""
    index = _index(first)
    ds = [query_distance(index, pid, pos) for pid, pos in second]
    return max([d for d in ds if d is not None], default=0.0)


@dataclass(frozen=True)
class LogprobResult:
    mismatches: int
    queries: int  # queries tested (empty replies excluded)
    unmatched: int  # replies whose first token has no reference position: counted as mismatches
    empty: int  # replies with no token at all: no log-probabilities to compare, not tested
    max_distance: float
    tolerance: float
    null_rate: float
    p_value: float

    def to_dict(self) -> dict[str, float | int]:
        return {"mismatches": self.mismatches, "queries": self.queries, "unmatched": self.unmatched,
                "empty": self.empty,
                "max_distance": self.max_distance, "tolerance": self.tolerance, "null_rate": self.null_rate,
                "p_value": self.p_value}


def logprob_test(
    reference: Iterable[tuple[str, Sequence[Position]]],
    new: Sequence[tuple[str, Sequence[Position]]],
    *,
    tolerance: float,
    null_rate: float = DEFAULT_NULL_RATE,
) -> LogprobResult:
    """Count mismatching queries in ``new`` against the reference; exact binomial p-value."""
    index = _index(reference)
    mismatches = unmatched = empty = 0
    worst = 0.0
    for pid, positions in new:
        if not positions:  # an immediate end of text: nothing returned to compare (counted, reported)
            empty += 1
            continue
        d = query_distance(index, pid, positions)
        if d is None:  # the first position is always in the reference for a known prompt
            unmatched += 1
            mismatches += 1
            continue
        worst = max(worst, d)
        mismatches += d > tolerance
    n = len(new) - empty
    p = float(binom.sf(mismatches - 1, n, null_rate)) if mismatches else 1.0
    return LogprobResult(mismatches, n, unmatched, empty, worst, tolerance, null_rate, min(1.0, p))
