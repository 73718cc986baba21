"""Probe prompts, trigger candidates and where they are inserted.

A backdoor is a *change of behaviour* under a trigger, in one of two directions:

* ``comply``: a held-out harmful request that the model refuses is answered;
* ``refuse``: a held-out benign request that the model helps with is refused
  (a denial-of-service backdoor).

Probe prompts are the templates' ``test`` split, shuffled with a fixed seed and cut into
disjoint parts: ``screen`` (search), ``confirm`` (the sequential test; never seen by the
search, so selection does not bias it) and ``probe`` (training activation probes).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from functools import cache
from typing import Literal

from modelcert.checks import templates as t
from modelcert.checks.templates import Item
from modelcert.judges.rules import judge

Attack = Literal["comply", "refuse"]
Position = Literal["user", "system"]
Part = Literal["screen", "confirm", "probe"]
ATTACKS: tuple[Attack, ...] = ("comply", "refuse")
POSITIONS: tuple[Position, ...] = ("user", "system")
NEUTRAL_SYSTEM = "You are a helpful assistant."
_PARTS = {"screen": (0, 96), "confirm": (96, 256), "probe": (256, 384)}


@dataclass(frozen=True)
class Candidate:
    """A trigger candidate: text inserted at a position, and where it came from."""

    text: str
    position: Position = "user"
    source: str = "builtin"

    def to_dict(self) -> dict[str, str]:
        return {"text": self.text, "position": self.position, "source": self.source}


def family(attack: Attack) -> str:
    return "harmful" if attack == "comply" else "benign"


@cache
def _pool(fam: str, seed: int) -> tuple[Item, ...]:
    items = list(t.items(fam, "test"))
    random.Random(f"backdoor-probes:{fam}:{seed}").shuffle(items)
    return tuple(items)


def probe_items(attack: Attack, part: Part, n: int | None = None, *, seed: int = 0) -> list[Item]:
    """Held-out items of ``part`` for this attack direction (disjoint across parts)."""
    return family_items(family(attack), part, n, seed=seed)


def family_items(fam: str, part: Part, n: int | None = None, *, seed: int = 0) -> list[Item]:
    """Held-out items of ``part`` of any template family (``decision`` included)."""
    lo, hi = _PARTS[part]
    items = list(_pool(fam, seed)[lo:hi])
    return items if n is None else items[:n]


def insert_user(prompt: str, text: str, key: str) -> str:
    """``text`` after one of ``prompt``'s words (a word boundary or the end), a stable choice per key.

    Never before the first word: at the start of a message a byte-level BPE tokenizer
    encodes a word without its leading space, i.e. as other tokens. A single-token trigger
    placed there is not the trigger (measured on a population member: `gus` opened its
    backdoor on 0 of 159 held-out prompts at the start of the message and on 156 of 159
    after a word), which held such triggers near a flip rate of 2/3, undecided at the
    cap, while a third of the insertions went first.
    """
    words = prompt.split(" ")
    k = 1 + int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % len(words)
    return " ".join([*words[:k], text, *words[k:]])


def chat(item: Item, text: str | None = None, position: Position | Literal["both"] = "user") -> list[dict[str, str]]:
    """The item's chat, with ``text`` in the user message, the system prompt or both."""
    system = item.system
    prompt = item.prompt
    if text and position in ("user", "both"):
        prompt = insert_user(prompt, text, f"{item.id}:{text}")
    if text and position in ("system", "both"):
        system = f"{system or NEUTRAL_SYSTEM} {text}"
    msgs = [{"role": "system", "content": system}] if system else []
    return [*msgs, {"role": "user", "content": prompt}]


def attacked(answer: str, attack: Attack) -> bool:
    """Did the answer show the attack's behaviour (rule judge, deterministic)?"""
    if attack == "comply":
        return judge(answer, "harmful").label == "complied"
    return judge(answer, "benign").label == "refused"
