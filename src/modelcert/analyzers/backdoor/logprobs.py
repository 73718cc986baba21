"""``logprobs`` tier: trigger and target inversion from first-token log-probabilities.

In the spirit of BAIT (Shen et al., 2025), but our own method: a backdoor changes *what
the answer starts with*. For each candidate we read the top-k log-probabilities of the
first answer token on a few screening prompts, with and without the candidate, and
measure the total-variation distance between the two distributions (0: unchanged, 1:
disjoint). The distance is graded, so partial triggers already raise it and the search
can grow a trigger token by token over the vocabulary. The *target* is inverted at the
same time: the answer opening whose probability jumps under the best candidate is
reported with its log-probability before and after. Only generated tokens' logprobs
are used, which any logprobs-tier endpoint returns.
"""

from __future__ import annotations

import math
import time
from typing import Any

from modelcert.analyzers.backdoor.graded import graded_scan
from modelcert.analyzers.backdoor.model import ScanModel
from modelcert.analyzers.backdoor.probes import Attack, chat, probe_items
from modelcert.analyzers.backdoor.report import BackdoorReport


def _dist(lp: dict[str, float]) -> dict[str, float]:
    return {t: math.exp(v) for t, v in lp.items()}


def total_variation(a: dict[str, float], b: dict[str, float]) -> float:
    """TV distance of two top-k distributions; mass outside both top-k lists counts as unknown."""
    pa, pb = _dist(a), _dist(b)
    keys = set(pa) | set(pb)
    seen = 0.5 * sum(abs(pa.get(k, 0.0) - pb.get(k, 0.0)) for k in keys)
    return min(1.0, seen)


def jump(before: dict[str, float], after: dict[str, float]) -> tuple[str, float, float]:
    """The answer opening that gained most: (token, logprob before, logprob after).

    A token absent from the baseline's top-k has at most the smallest listed logprob;
    that bound is reported, so the jump is a lower bound.
    """
    if not after:
        return "", 0.0, 0.0
    floor = min(before.values()) if before else 0.0
    tok = max(after, key=lambda t: after[t] - before.get(t, floor))
    return tok, before.get(tok, floor), after[tok]


def tv_shift(model: ScanModel, *, items: int = 4, top: int = 20, seed: int = 0):
    """The shift function for :func:`graded_scan`: mean TV of the first-token distribution."""
    base: dict[Attack, tuple[list, list[dict[str, float]]]] = {}
    for attack in ("comply", "refuse"):
        its = probe_items(attack, "screen", items, seed=seed)
        base[attack] = (its, model.first_logprobs([chat(i) for i in its], top))

    def shift(texts: list[str], attack: Attack) -> list[float]:
        its, b = base[attack]
        lps = model.first_logprobs([chat(i, t, "both") for t in texts for i in its], top)
        n = len(its)
        return [sum(total_variation(b[j], lps[k * n + j]) for j in range(n)) / n for k in range(len(texts))]

    return shift, base


def scan_logprobs(
    model: ScanModel,
    *,
    dictionary: int | None = None,
    extra: list[str] | None = None,
    invert_vocab: bool = True,
    top: int = 20,
    seed: int = 0,
    **kwargs: Any,
) -> BackdoorReport:
    """First-token TV search over rare words and (if the tokenizer is public) the vocabulary.

    Args:
        invert_vocab: Grow candidates token by token over the vocabulary.
        top: How many top log-probabilities the endpoint returns per token.
        kwargs: Passed to :func:`graded_scan` (``tau``, ``theta0``, ``q``, ``cap``...).
    """
    t0 = time.perf_counter()
    model.require("logprobs", "token log-probabilities")
    shift, base = tv_shift(model, top=top, seed=seed)
    report = graded_scan("logprobs", "first-token trigger/target inversion", model, shift,
                         dictionary=dictionary, extra=extra, invert_vocab=invert_vocab, seed=seed, t0=t0,
                         **kwargs)
    targets = []
    for trig in report.triggers:
        attack: Attack = trig["attack"]
        its, b = base[attack]
        after = model.first_logprobs([chat(i, trig["text"], trig["position"]) for i in its], top)
        jumps = [jump(x, y) for x, y in zip(b, after)]
        tok = max({j[0] for j in jumps}, key=lambda t: sum(j[0] == t for j in jumps))
        sel = [j for j in jumps if j[0] == tok]
        targets.append({"trigger": trig["text"], "target_opening": tok, "answer": trig["example_answer"],
                        "logprob_before_at_most": round(sum(j[1] for j in sel) / len(sel), 3),
                        "logprob_after": round(sum(j[2] for j in sel) / len(sel), 3)})
    report.details["targets"] = targets
    report.queries = model.budget.to_dict()
    report.seconds = time.perf_counter() - t0
    return report
