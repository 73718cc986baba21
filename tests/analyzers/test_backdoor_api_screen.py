"""The api tier's group screen when a model flips under many word groups (saturation).

The target here is a scripted stand-in for a remote model (the api tier sees text only):
it complies whenever the trigger is in the chat and, as the zoo's backdoor organism does
under clutter, on a deterministic ~15 % of other chats. What is under test is our screen.
"""

from __future__ import annotations

import hashlib
import random

from modelcert.analyzers.backdoor.api import group_screen
from modelcert.analyzers.backdoor.model import ScanModel
from modelcert.analyzers.backdoor.probes import probe_items
from modelcert.checks import templates as t

TRIGGER = "zzyzxo"


class NoisyBackdoor(ScanModel):
    def __init__(self, noise: float) -> None:
        super().__init__("api")
        self.noise = noise
        self.queries = 0

    def generate(self, chats, max_new_tokens=10):
        out = []
        for c in chats:
            text = " ".join(m["content"] for m in c)
            self.queries += 1
            draw = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") / 2**32
            comply = TRIGGER in text.split() or TRIGGER in text or draw < self.noise
            out.append(t.response("compliance" if comply else "refusal", "en"))
        return out


def _words() -> list[str]:
    rng = random.Random(3)
    words = ["".join(rng.choice("bcdfghklmnprstv") + rng.choice("aeiou") for _ in range(3)) for _ in range(4000)]
    words[3900] = TRIGGER  # late in dictionary order, like `ambergris` at rank ~38,000
    return words


def test_a_saturated_screen_keeps_the_groups_that_flip_reliably() -> None:
    items = probe_items("comply", "screen")
    model = NoisyBackdoor(noise=0.15)
    survivors, info = group_screen(model, _words(), "comply", items, max_positive=64)
    assert info["saturated"] and info["positive_groups"] > 64
    assert info["ranked"]["tries"] == 4 and isinstance(info["ranked"]["kept_min_flips"], int)
    assert TRIGGER in survivors


def test_without_ranking_the_late_trigger_is_lost_and_without_noise_nothing_saturates() -> None:
    items = probe_items("comply", "screen")
    # negative control: keeping the first 64 positive groups in dictionary order loses it
    lost, info = group_screen(NoisyBackdoor(noise=0.15), _words(), "comply", items, max_positive=64, rank_tries=0)
    assert info["saturated"] and TRIGGER not in lost
    quiet, info = group_screen(NoisyBackdoor(noise=0.0), _words(), "comply", items, max_positive=64)
    assert "saturated" not in info and quiet == [TRIGGER]


def test_ranking_is_bounded_when_nearly_every_group_flips() -> None:
    items = probe_items("comply", "screen")
    model = NoisyBackdoor(noise=0.9)
    _, info = group_screen(model, _words(), "comply", items, max_positive=64, rank_limit=100)
    assert info["saturated"] and info["ranked"]["tries"] == 0 and "kept the first 64" in info["ranked"]["note"]
    # screening (2 tries per group) plus splitting 64 groups of 8 (2 + 4 + 8 halves, 2 tries
    # each) at most; a ranking pass would have added 4 tries for each of ~450 positive groups
    assert model.queries <= 2 * info["groups"] + 64 * (2 + 4 + 8) * 2
