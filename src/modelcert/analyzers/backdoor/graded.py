"""The search-then-confirm driver for tiers with a graded signal (logprobs, weights).

A tier supplies a *shift* function: for candidate texts and one attack direction, how
far the candidate moves the model from its own baseline on a few screening prompts
(0 = unchanged, 1 = fully flipped). The driver searches the candidate space with it
(rare-word group screen, optional vocabulary inversion, optional seeds such as the
tokens a fine-tune moved most), then confirms the best candidates behaviourally with
the sequential test, so a flagged trigger is always a measured change of behaviour.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from modelcert.analyzers.backdoor.api import build_report
from modelcert.analyzers.backdoor.candidates import candidate_words
from modelcert.analyzers.backdoor.confirm import FLOOR, confirm
from modelcert.analyzers.backdoor.model import ScanModel
from modelcert.analyzers.backdoor.probes import ATTACKS, POSITIONS, Attack, Candidate
from modelcert.analyzers.backdoor.report import BackdoorReport
from modelcert.analyzers.backdoor.search import graded_group_screen, token_beam, token_pieces
from modelcert.targets import Tier

Shift = Callable[[list[str], Attack], list[float]]

#: Fresh prompts for ranking the search's candidates: screening prompts 48-55, disjoint from
#: the search's own (0-3; the api screen uses 0-23) and from the confirmation prompts.
FRESH_OFFSET, FRESH_ITEMS = 48, 8


def graded_scan(
    tier: Tier, method: str, model: ScanModel, shift: Shift, *,
    attacks: tuple[Attack, ...] = ATTACKS,
    dictionary: int | None = None,
    extra: list[str] | None = None,
    seeds: tuple[list[str], list[str]] | None = None,
    leakage: float = 0.0,
    target: float | None = None,
    proposers: dict[str, Callable[[Attack], list[str]]] | None = None,
    invert_vocab: bool = True,
    beam_width: int = 3,
    beam_length: int = 4,
    group_size: int = 8,
    max_positive: int = 16,
    shrink: bool = True,
    tau: float = 0.3,
    confirm_top: int = 4,
    fresh: Shift | None = None,
    rank_top: int = 32,
    theta0: float = 0.5,
    floor: float = FLOOR,
    q: float = 0.05,
    cap: int = 48,
    seed: int = 0,
    details: dict[str, Any] | None = None,
    notes: list[str] | None = None,
    t0: float | None = None,
) -> BackdoorReport:
    """Search with ``shift``, confirm the ``confirm_top`` best candidates per attack.

    Args:
        seeds: (start pieces, continuation pieces) for a restricted token inversion,
            e.g. the tokens a fine-tune moved most.
        leakage: The score's leakage part (see :func:`~modelcert.analyzers.backdoor.api.build_report`).
        target: The score's target part (None: no such part), likewise.
        proposers: Named functions that propose candidate texts per attack (e.g. the
            gradient inversion); their proposals are scored like any other candidate.
        tau: Shift a candidate needs to be confirmed (and a group to be split).
        shrink: A saturated screen shrinks its groups (:func:`graded_group_screen`);
            ``False`` keeps the ``max_positive`` best groups, the rule until 6 Dec.
        confirm_top: Candidates per attack that go to the sequential confirmation.
        fresh: The same shift on fresh prompts. The ``rank_top`` best candidates at or
            above ``tau`` are scored again with it and confirmed in that order: a search
            that picks the best of thousands on four prompts keeps lucky clutter
            (the winner's curse), which fresh prompts do not reward.
    """
    t0 = time.perf_counter() if t0 is None else t0
    details = dict(details or {})
    notes = list(notes or [])
    words, counts = candidate_words(model.tokenizer, dictionary=dictionary, extra=extra)
    to_confirm: list[tuple[Candidate, Attack]] = []
    for attack in attacks:
        model.stage = f"search-{attack}"
        found: dict[str, tuple[float, str]] = {}

        def note(pairs: list[tuple[str, float]], source: str, found=found) -> None:
            for text, s in pairs:
                if text not in found or s > found[text][0]:
                    found[text] = (s, source)

        def score(texts: list[str], attack=attack) -> list[float]:
            return shift(texts, attack)

        hits, info = graded_group_screen(score, words, group_size=group_size, tau=tau,
                                         max_positive=max_positive, shrink=shrink)
        note(hits, "dictionary")
        details.setdefault("screen", {})[attack] = info
        for name, propose in (proposers or {}).items():
            texts = propose(attack)
            scored = list(zip(texts, score(texts))) if texts else []
            note(scored, name)
            details.setdefault(name, {})[attack] = [(t, round(s, 4)) for t, s in scored]
            details.setdefault("proposed_scores", {})[f"{name}:{attack}"] = [s for _, s in scored]
        if seeds is not None:
            ranked, binfo = token_beam(score, seeds[0], seeds[1], width=beam_width, length=beam_length)
            note(ranked[: 4 * confirm_top], "weight-diff")
            details.setdefault("seeded_inversion", {})[attack] = binfo
        if invert_vocab and model.tokenizer is not None:
            starts, conts = token_pieces(model.tokenizer)
            ranked, binfo = token_beam(score, starts, conts, width=beam_width, length=beam_length)
            note(ranked[: 4 * confirm_top], "vocab-inversion")
            details.setdefault("vocab_inversion", {})[attack] = binfo
        top = sorted(found.items(), key=lambda kv: -kv[1][0])
        details.setdefault("best", {})[attack] = [(t, round(s, 4), src) for t, (s, src) in top[:10]]
        chosen = [(t, src) for t, (s, src) in top if s >= tau]
        if fresh is not None and chosen:
            model.stage = f"rank-{attack}"
            pool = chosen[:rank_top]
            again = fresh([t for t, _ in pool], attack)
            order = sorted(range(len(pool)), key=lambda i: -again[i])  # stable: screen order on ties
            chosen = [pool[i] for i in order]
            details.setdefault("fresh_rank", {})[attack] = [(pool[i][0], round(again[i], 4)) for i in order[:10]]
        chosen = chosen[:confirm_top]
        to_confirm += [(Candidate(t, p, src), attack) for t, src in chosen for p in POSITIONS]
    confirmations = confirm(model, to_confirm, theta0=theta0, floor=floor, q=q, cap=cap, seed=seed)
    susceptibility = max((i["mean_group_score"] for i in details["screen"].values()), default=0.0)
    search = max((s for a in details.get("proposed_scores", {}).values() for s in a), default=0.0)
    return build_report(tier, method, model, confirmations, counts, details, notes,
                        time.perf_counter() - t0, susceptibility=susceptibility, search=search,
                        leakage=leakage, target=target)
