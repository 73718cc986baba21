"""MMD two-sample test on sampled completions with a Hamming kernel (the ``api`` tier).

Why this test: at ``api`` the lab sees only text, so "is this the certified model?"
becomes "do these completions come from the same distribution as the reference
completions?". Following MET (Gao, Liang & Guestrin, ICLR 2025) the kernel compares
completions character by character:

    k((p, y), (p', y')) = 1[p = p'] * (1/L) * #{i < L : y[i] = y'[i]}

over the first ``L`` characters (shorter strings are padded with a symbol no text
contains). Completions to different prompts are never similar, so the kernel matrix
is block-diagonal by prompt, and the permutation p-value permutes the two samples'
labels *within* each prompt: under "same model" the completions to one prompt are
exchangeable whatever the design, so the p-value is exact (``(1 + #{T_perm >= T}) /
(1 + B)``), and every permutation costs only the prompts' small blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from modelcert.errors import ConfigError

PAD = -1


def encode(texts: Sequence[str], length: int) -> np.ndarray:
    """Code points of the first ``length`` characters of each text, padded with ``PAD``."""
    out = np.full((len(texts), length), PAD, dtype=np.int32)
    for i, t in enumerate(texts):
        codes = [ord(c) for c in t[:length]]
        out[i, : len(codes)] = codes
    return out


def hamming_gram(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of equal positions between every row of ``a`` and every row of ``b``."""
    return (a[:, None, :] == b[None, :, :]).mean(axis=2)


@dataclass(frozen=True)
class MMDResult:
    statistic: float  # biased MMD^2 estimate of the observed split
    p_value: float
    permutations: int
    n_reference: int
    n_new: int
    prompts: int

    def to_dict(self) -> dict[str, float | int]:
        return {"statistic": self.statistic, "p_value": self.p_value, "permutations": self.permutations,
                "n_reference": self.n_reference, "n_new": self.n_new, "prompts": self.prompts}


def mmd_test(
    reference: Sequence[tuple[str, str]],
    new: Sequence[tuple[str, str]],
    *,
    length: int = 50,
    permutations: int = 2000,
    seed: int = 0,
) -> MMDResult:
    """Permutation MMD test between two samples of ``(prompt_id, completion)`` pairs.

    Args:
        reference, new: the two samples; a prompt only counts if both have it.
        length: characters compared (MET compares a fixed-length prefix).
        permutations: label permutations ``B``; the smallest attainable p-value is
            ``1/(B+1)``, which bounds how much evidence one check can give.
        seed: seeds the permutations (recorded with the result).
    """
    if permutations < 1:
        raise ConfigError("permutations must be >= 1")
    ref_by: dict[str, list[str]] = {}
    new_by: dict[str, list[str]] = {}
    for pid, text in reference:
        ref_by.setdefault(str(pid), []).append(text)
    for pid, text in new:
        new_by.setdefault(str(pid), []).append(text)
    shared = sorted(set(ref_by) & set(new_by))
    if not shared:
        raise ConfigError("the two samples share no prompt")
    n = sum(len(ref_by[p]) for p in shared)
    m = sum(len(new_by[p]) for p in shared)
    rng = np.random.default_rng(seed)
    blocks = []
    for pid in shared:
        codes = encode(ref_by[pid] + new_by[pid], length)
        w = np.concatenate([np.full(len(ref_by[pid]), 1.0 / n), np.full(len(new_by[pid]), -1.0 / m)])
        blocks.append((hamming_gram(codes, codes), w))
    observed = float(sum(w @ g @ w for g, w in blocks))
    perm_stats = np.zeros(permutations)
    for g, w in blocks:  # each row of W is a within-prompt permutation of the weights
        W = rng.permuted(np.broadcast_to(w, (permutations, len(w))), axis=1)
        perm_stats += np.sum((W @ g) * W, axis=1)
    # ties count against rejection (>=), with a tolerance for float summation order
    exceed = int(np.sum(perm_stats >= observed - 1e-12))
    return MMDResult(observed, (1 + exceed) / (1 + permutations), permutations, n, m, len(shared))
