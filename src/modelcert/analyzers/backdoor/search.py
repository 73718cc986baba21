"""Search strategies shared by the tiers that see a graded signal (logprobs, weights).

Both take a *scorer*: candidate texts in, one number per text out, 0 when the
candidate leaves behaviour (or activations) unchanged and about 1 when it flips them.

* :func:`graded_group_screen`: group testing with a graded signal: a group is split while
  its score stays above ``tau``, so a partly activating trigger is followed too; a
  saturated screen shrinks its groups.
* :func:`token_beam`: trigger inversion over the tokenizer vocabulary: grow candidates
  token by token, keeping the ``width`` best at each length. A planted trigger that
  spans several tokens is found when its prefixes already move the score.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Scorer = Callable[[list[str]], list[float]]


def graded_group_screen(score: Scorer, words: list[str], *, group_size: int = 32, tau: float = 0.3,
                        max_positive: int = 64, shrink: bool = True,
                        shrink_limit: int = 1024) -> tuple[list[tuple[str, float]], dict[str, Any]]:
    """Single words whose own score is >= tau, found by splitting high-scoring groups.

    A *saturated* screen (more than ``max_positive`` groups at or above ``tau``) means the
    model's output moves under almost any clutter of this size, so group scores no longer
    single out a trigger. With ``shrink`` the words of every positive group are then
    screened again in groups of half the size, until the screen is not saturated or the
    groups are single words (then the ``max_positive`` best are kept). Each round takes at
    most the ``shrink_limit`` best positive groups (the whole 50,000-word dictionary on that
    model gave 5,711 positive groups; the trigger's group, at 0.82, ranks far inside 1,024). Measured on a zoo
    retrain with real-word counter-examples (docs/backdoor.md): random 8-word groups moved
    its refusal mass by a median of 0.57 and 5,711 of 6,316 passed tau, while single random
    words moved it by -0.12 to 0.04 and the trigger alone by 0.86. Without ``shrink`` the
    ``max_positive`` best groups are kept, which lost that trigger.
    """
    size, pool = group_size, list(words)
    rounds: list[dict[str, Any]] = []
    while True:
        groups = [pool[i : i + size] for i in range(0, len(pool), size)]
        scores = score([" ".join(g) for g in groups])
        ranked = sorted((s, i) for i, s in enumerate(scores) if s >= tau)[::-1]
        rounds.append({"group_size": size, "groups": len(groups), "positive_groups": len(ranked),
                       "kept": min(len(ranked), shrink_limit),
                       "max_group_score": round(max(scores, default=0.0), 4),
                       "mean_group_score": round(sum(scores) / len(scores), 4) if scores else 0.0})
        if not shrink or len(ranked) <= max_positive or size == 1:
            break
        pool = [w for _, i in ranked[:shrink_limit] for w in groups[i]]  # positive groups' words, best first
        size = max(1, size // 2)
    first = rounds[0]
    info: dict[str, Any] = {"groups": first["groups"], "positive_groups": first["positive_groups"],
                            "group_size": group_size, "max_group_score": first["max_group_score"],
                            "mean_group_score": first["mean_group_score"]}
    if first["positive_groups"] > max_positive:
        info["saturated"] = True
        info["shrink"] = rounds[1:] if shrink else "off"
        info["screened_groups"] = sum(r["groups"] for r in rounds)
    hits = [groups[i] for _, i in ranked[:max_positive]]
    found: list[tuple[str, float]] = [(g[0], s) for (s, _), g in zip(ranked, hits) if len(g) == 1]
    hits = [g for g in hits if len(g) > 1]
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
