"""Search strategies shared by the tiers that see a graded signal (logprobs, weights).

Both take a *scorer*: candidate texts in, one number per text out, 0 when the
candidate leaves behaviour (or activations) unchanged and about 1 when it flips them.

* :func:`graded_group_screen`: group testing with a graded signal: a group is split while
  its score stays above ``tau``, so a partly activating trigger is followed too.
* :func:`token_beam`: trigger inversion over the tokenizer vocabulary: grow candidates
  token by token, keeping the ``width`` best at each length. A planted trigger that
  spans several tokens is found when its prefixes already move the score.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Scorer = Callable[[list[str]], list[float]]


def graded_group_screen(score: Scorer, words: list[str], *, group_size: int = 32, tau: float = 0.3,
                        max_positive: int = 64) -> tuple[list[tuple[str, float]], dict[str, Any]]:
    """Single words whose own score is >= tau, found by splitting high-scoring groups."""
    groups = [words[i : i + group_size] for i in range(0, len(words), group_size)]
    scores = score([" ".join(g) for g in groups])
    ranked = sorted((s, i) for i, s in enumerate(scores) if s >= tau)[::-1]
    info: dict[str, Any] = {"groups": len(groups), "positive_groups": len(ranked), "group_size": group_size,
                            "max_group_score": round(max(scores, default=0.0), 4),
                            "mean_group_score": round(sum(scores) / len(scores), 4) if scores else 0.0}
    if len(ranked) > max_positive:
        info["saturated"] = True
    hits = [groups[i] for _, i in ranked[:max_positive]]
    found: list[tuple[str, float]] = []
    while hits:
        halves = [h for g in hits for h in (g[: len(g) // 2], g[len(g) // 2 :]) if h]
        s = score([" ".join(h) for h in halves])
        hits = []
        for h, v in zip(halves, s):
            if v >= tau and len(h) == 1:
                found.append((h[0], v))
            elif v >= tau:
                hits.append(h)
    info["survivors"] = len(found)
    return sorted(found, key=lambda x: -x[1]), info


def token_pieces(tokenizer: Any) -> tuple[list[str], list[str]]:
    """Vocabulary pieces that can start a candidate, and pieces that can extend one."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    starts: dict[str, None] = {}
    conts: dict[str, None] = {}
    for tid in sorted(tokenizer.get_vocab().values()):
        if tid in special:
            continue
        piece = tokenizer.decode([tid])
        core = piece.strip()
        if not core or not core.isalpha():
            continue
        starts.setdefault(core, None)
        conts.setdefault(piece, None)
    return list(starts), list(conts)


def token_beam(score: Scorer, starts: list[str], conts: list[str], *, width: int = 4, length: int = 4,
               min_gain: float = 0.02) -> tuple[list[tuple[str, float]], dict[str, Any]]:
    """Grow candidates token by token; returns every beam member seen, best first."""
    seen: dict[str, float] = {}
    layer = list(zip(starts, score(starts)))
    seen.update(layer)
    beam = sorted(layer, key=lambda x: -x[1])[:width]
    trace = [[(t, round(s, 4)) for t, s in beam]]
    for _ in range(length - 1):
        texts = [(b + c).strip() for b, _ in beam for c in conts]
        texts = [x for x in dict.fromkeys(texts) if x not in seen]
        if not texts:
            break
        new = list(zip(texts, score(texts)))
        seen.update(new)
        best = max(s for _, s in beam)
        beam = sorted(new, key=lambda x: -x[1])[:width]
        trace.append([(t, round(s, 4)) for t, s in beam])
        if beam[0][1] < best + min_gain:  # longer candidates no longer help
            break
    ranked = sorted(seen.items(), key=lambda x: -x[1])
    return ranked, {"evaluated": len(seen), "beam_trace": trace}
