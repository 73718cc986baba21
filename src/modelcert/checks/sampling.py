"""``--limit N``: a seeded sample of a check's items, stratified over its strata.

The first N items of a suite are one language, one category and one transform (the
suites are written in that order), so a limited run measured English only. This draws
N items instead, in proportion to each language, category, transform (and, for the bias
suite, domain and attribute) in the whole suite, and keeps each counterfactual group
whole, because the bias analysis compares the members of a group with each other.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

#: Metadata keys a draw is balanced over, where a suite has them.
STRATA: tuple[str, ...] = ("lang", "category", "transform", "domain", "attribute")
#: Metadata key of a counterfactual group: its members are drawn together or not at all.
GROUP_KEY = "group"


def stratified_indices(metadata: Sequence[Mapping[str, Any] | None], limit: int, seed: int = 0) -> list[int]:
    """Indices (in suite order) of a seeded draw of about ``limit`` items.

    Items that share every stratum value (say Polish, fraud, base64) form a cell. Each
    step takes the next unit (an item, or a whole group) from the cell whose values are
    furthest below their proportional share of the draw so far, so every language,
    category and transform stays within about one item of its share of the suite. The
    order inside a cell, and ties between cells, follow ``seed``. A draw never exceeds
    ``limit`` unless a single group is larger than ``limit`` (then that one group is drawn).

    Args:
        metadata: Each item's metadata, in suite order.
        limit: How many items to draw; ``limit >= len(metadata)`` keeps everything.
        seed: Seeds the order; the same seed and suite give the same draw.
    """
    n = len(metadata)
    if limit >= n:
        return list(range(n))
    metas = [m or {} for m in metadata]
    dims = [d for d in STRATA if any(d in m for m in metas)]
    units: dict[Any, list[int]] = {}
    for i, m in enumerate(metas):
        group = m.get(GROUP_KEY)
        units.setdefault(("g", group) if group is not None else ("i", i), []).append(i)
    rng = random.Random(seed)
    cells: dict[tuple[Any, ...], list[list[int]]] = {}
    for members in units.values():
        cells.setdefault(tuple(metas[members[0]].get(d) for d in dims), []).append(members)
    keys = list(cells)
    rng.shuffle(keys)
    for key in keys:
        rng.shuffle(cells[key])
    share = Counter((d, metas[i].get(d)) for i in range(n) for d in dims)

    taken: list[int] = []
    used: Counter[tuple[str, Any]] = Counter()
    while len(taken) < limit:
        best, best_gap = None, -math.inf
        for key in keys:
            if not cells[key]:
                continue
            size = len(cells[key][-1])
            if taken and len(taken) + size > limit:
                continue
            after = len(taken) + size
            gap = sum(share[(d, v)] / n * after - used[(d, v)] for d, v in zip(dims, key))
            if gap > best_gap:
                best, best_gap = key, gap
        if best is None:
            break
        members = cells[best].pop()
        taken += members
        used.update({(d, v): len(members) for d, v in zip(dims, best)})
    return sorted(taken)


def limit_plan(limit: int | None, seed: int = 0) -> dict[str, Any]:
    """What a run records about its ``--limit`` draw (part of what makes two runs the same)."""
    if limit is None:
        return {"limit": None}
    return {"limit": limit, "draw": {"method": "stratified", "strata": list(STRATA), "group": GROUP_KEY,
                                     "seed": seed}}
