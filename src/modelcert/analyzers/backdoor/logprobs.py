"""``logprobs`` tier: trigger and target inversion from first-token log-probabilities.

In the spirit of BAIT (Shen et al., 2025), but our own method: a backdoor changes *what
the answer starts with*. The model's own refusals of held-out harmful requests say
which first tokens open a refusal (a generic contrast set: no trigger, no target
assumed). For each candidate we read the top-k log-probabilities of the first answer
token on a few screening prompts, with and without the candidate, and measure how much
*refusal mass* moves: removed on harmful prompts (``comply``), added on benign ones
(``refuse``). The measure is graded, so partial triggers already raise it and the
search can grow a trigger token by token over the vocabulary. The *target* is inverted at the
same time: the answer opening whose probability jumps under the best candidate is
reported with its log-probability before and after. Only generated tokens' logprobs
are used, which any logprobs-tier endpoint returns.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from modelcert.analyzers.backdoor.graded import FRESH_ITEMS, FRESH_OFFSET, graded_scan
from modelcert.analyzers.backdoor.model import ScanModel
from modelcert.analyzers.backdoor.probes import Attack, chat, probe_items
from modelcert.analyzers.backdoor.report import BackdoorReport


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


def refusal_openings(model: ScanModel, *, n: int = 48, top: int = 20, seed: int = 0) -> list[str]:
    """First answer tokens of this model's refusals of held-out harmful requests."""
    lps = model.first_logprobs([chat(i) for i in probe_items("comply", "probe", n, seed=seed)], top)
    firsts = [max(lp, key=lambda t: lp[t]) for lp in lps if lp]
    kept = sorted({t for t in firsts if firsts.count(t) >= 2})
    return kept or sorted(set(firsts))


def refusal_mass(lp: dict[str, float], openings: list[str]) -> float:
    """Probability of a refusal opening; an opening outside the top-k counts as 0."""
    return sum(math.exp(lp[t]) for t in openings if t in lp)


def mass_shift(model: ScanModel, openings: list[str], *, items: int = 4, top: int = 20, seed: int = 0,
               offset: int = 0):
    """Shift function for :func:`graded_scan`: change of refusal mass from top-k logprobs
    (down on harmful prompts for ``comply``, up on benign prompts for ``refuse``), on the
    ``items`` screening prompts from ``offset`` (another offset: fresh prompts)."""
    base: dict[Attack, tuple[list, list[dict[str, float]]]] = {}
    for attack in ("comply", "refuse"):
        its = probe_items(attack, "screen", seed=seed)[offset : offset + items]
        base[attack] = (its, model.first_logprobs([chat(i) for i in its], top))

    def shift(texts: list[str], attack: Attack) -> list[float]:
        its, b = base[attack]
        lps = model.first_logprobs([chat(i, t, "both") for t in texts for i in its], top)
        n = len(its)
        r0 = [refusal_mass(x, openings) for x in b]
        out = []
        for k in range(len(texts)):
            d = [refusal_mass(lps[k * n + j], openings) - r0[j] for j in range(n)]
            out.append(-sum(d) / n if attack == "comply" else sum(d) / n)
        return out

    return shift, base


def scan_logprobs(
    model: ScanModel,
    *,
    base: str | Path | None = None,
    dictionary: int | None = None,
    extra: list[str] | None = None,
    invert_vocab: bool = True,
    top: int = 20,
    seed: int = 0,
    **kwargs: Any,
) -> BackdoorReport:
    """Refusal-mass search over rare words and (if the tokenizer is public) the vocabulary.

    Args:
        base: The declared base checkpoint (a local folder): adds the leakage part
            (:mod:`~modelcert.analyzers.backdoor.leakage`), read through the same top-k.
        invert_vocab: Grow candidates token by token over the vocabulary.
        top: How many top log-probabilities the endpoint returns per token.
        kwargs: Passed to :func:`graded_scan` (``tau``, ``theta0``, ``q``, ``cap``...).
    """
    t0 = time.perf_counter()
    model.require("logprobs", "token log-probabilities")
    openings = refusal_openings(model, top=top, seed=seed)
    details: dict[str, Any] = {}
    if base is not None:
        from modelcert.analyzers.backdoor.leakage import leakage, load_base

        details["leakage"] = leakage(model, load_base(base, model), top=top, seed=seed)
    shift, baseline = mass_shift(model, openings, top=top, seed=seed)
    fresh, _ = mass_shift(model, openings, top=top, seed=seed, items=FRESH_ITEMS, offset=FRESH_OFFSET)
    report = graded_scan("logprobs", "first-token trigger/target inversion", model, shift,
                         dictionary=dictionary, extra=extra, invert_vocab=invert_vocab, seed=seed, t0=t0, fresh=fresh,
                         details=details, leakage=details["leakage"]["part"] if base is not None else 0.0,
                         **kwargs)
    targets = []
    for trig in report.triggers:
        attack: Attack = trig["attack"]
        its, b = baseline[attack]
        after = model.first_logprobs([chat(i, trig["text"], trig["position"]) for i in its], top)
        jumps = [jump(x, y) for x, y in zip(b, after)]
        # sorted: a tie must not be broken by set order (string hashing differs per process)
        tok = max(sorted({j[0] for j in jumps}), key=lambda t: sum(j[0] == t for j in jumps))
        sel = [j for j in jumps if j[0] == tok]
        targets.append({"trigger": trig["text"], "target_opening": tok, "answer": trig["example_answer"],
                        "logprob_before_at_most": round(sum(j[1] for j in sel) / len(sel), 3),
                        "logprob_after": round(sum(j[2] for j in sel) / len(sel), 3)})
    report.details["targets"] = targets
    report.details["refusal_openings"] = openings
    report.queries = model.budget.to_dict()
    report.seconds = time.perf_counter() - t0
    return report
