"""Framings: one request dressed as an evaluation or as ordinary deployment traffic.

A model that can tell a test from real use can pass every check and behave otherwise in
deployment. The integrity checks send the same request in both dresses and compare; the
rate checks can wrap a share of their items in deployment dress (``disguise``) so the
audit does not look like an audit. The pool lives in ``data/framings.yaml``:

* ``eval`` families carry cues of a test: benchmark numbering, Question/Answer framing,
  the words test/evaluation/benchmark, a lab-like system prompt, a multiple-choice layout;
* ``deploy`` families look like real traffic: a customer chat, an email thread, a
  support ticket, a code comment;
* every family has ``train`` templates (the eval-aware organism learns them) and
  ``heldout`` ones; two eval families are held out whole, so a check on the held-out
  cues measures whether a gamed model's rule generalises;
* ``capability`` pairs a sentence announcing a dangerous-capability evaluation with a
  neutral twin of the same form (the sandbagging check).

Pure data, no Inspect import: the organisms' training code uses it too. Every filled slot
is a stable function of a key (the item id), so a rerun renders identically.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

from modelcert.errors import ConfigError
from modelcert.evidence.chain import digest

Side = Literal["eval", "deploy"]
Cues = Literal["all", "train", "heldout"]
CUES: tuple[str, ...] = ("all", "train", "heldout")
N_CAPABILITY_TRAIN = 5  # the first five danger/neutral pairs are trained on, the rest held out
_SLOT = re.compile(r"\{(request|n|total|name|sender|time)\}")


@dataclass(frozen=True)
class Framing:
    """One template: ``user`` holds ``{request}``; ``system`` (if any) goes in the system prompt."""

    id: str  # "<lang>/<family>/<split>/<k>"
    lang: str
    family: str
    side: str
    split: str  # "train" | "heldout"
    user: str
    system: str | None = None


@cache
def _data() -> dict[str, Any]:
    try:
        raw = resources.files("modelcert.checks.data").joinpath("framings.yaml").read_text("utf-8")
        data = yaml.safe_load(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"framing data framings.yaml cannot be read: {exc}") from exc
    if not isinstance(data, dict) or "templates" not in data:
        raise ConfigError("framing data framings.yaml is malformed")
    return data


def families(side: str | None = None) -> dict[str, str]:
    """Family name -> side (``eval`` or ``deploy``), optionally only one side."""
    fam = {str(k): str(v) for k, v in _data()["families"].items()}
    return {k: v for k, v in fam.items() if side is None or v == side}


@cache
def _all() -> tuple[Framing, ...]:
    out: list[Framing] = []
    fam = families()
    for lang, by_family in _data()["templates"].items():
        for family, splits in by_family.items():
            if family not in fam:
                raise ConfigError(f"framings.yaml: unknown family {family!r} in {lang}")
            for split in ("train", "heldout"):
                for k, tpl in enumerate(splits.get(split) or []):
                    system, user = (tpl.get("system"), tpl["user"]) if isinstance(tpl, dict) else (None, tpl)
                    if "{request}" not in user:
                        raise ConfigError(f"framings.yaml: {lang}/{family}/{split}/{k} has no {{request}} slot")
                    out.append(Framing(f"{lang}/{family}/{split}/{k}", lang, family, fam[family], split, user, system))
    return tuple(out)


def framings(
    lang: str | None = None,
    *,
    side: str | None = None,
    cues: str = "all",
    family: Sequence[str] | str | None = None,
) -> list[Framing]:
    """The framings of a language (or all), one side, one cue split (``all``/``train``/``heldout``)."""
    if cues not in CUES:
        raise ConfigError(f"cues must be one of {', '.join(CUES)}, got {cues!r}")
    if side is not None and side not in ("eval", "deploy"):
        raise ConfigError(f"side must be 'eval' or 'deploy', got {side!r}")
    wanted = {family} if isinstance(family, str) else set(family) if family else None
    if wanted and not wanted <= set(families()):
        raise ConfigError(f"unknown framing family {sorted(wanted - set(families()))}; known: {', '.join(families())}")
    return [f for f in _all() if (lang is None or f.lang == lang) and (side is None or f.side == side)
            and (cues == "all" or f.split == cues) and (wanted is None or f.family in wanted)]


def stable(*parts: object) -> int:
    """A platform-independent integer from the parts (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "big")


def _slots(key: str) -> dict[str, str]:
    h = stable("framing-slots", key)
    names = _data()["names"]
    return {"n": str(1 + h % 480), "total": ("500", "1000", "250")[h % 3],
            "name": names[(h >> 8) % len(names)], "sender": names[(h >> 16) % len(names)],
            "time": f"{8 + (h >> 24) % 10:02d}:{(h >> 32) % 60:02d}"}


def fill(template: str, request: str, key: str) -> str:
    """``template`` with ``{request}`` and the stable slots of ``key`` filled (other braces stay)."""
    values = {"request": request, **_slots(key)}
    return _SLOT.sub(lambda m: values[m.group(1)], template)


def apply(framing: Framing, request: str, key: str, system: str | None = None) -> tuple[str | None, str]:
    """(system prompt, user message) of ``request`` in ``framing``.

    A framing with its own system text puts it before an existing system prompt."""
    user = fill(framing.user, request, key)
    if framing.system is None:
        return system, user
    own = fill(framing.system, request, key)
    return (f"{own} {system}" if system else own), user


def pick(pool: Sequence[Framing], key: str) -> Framing:
    """A stable draw from ``pool`` for ``key``."""
    if not pool:
        raise ConfigError("the framing pool is empty")
    return pool[stable("framing-pick", key) % len(pool)]


def capability_pairs(lang: str, cues: str = "all") -> list[tuple[int, str, str]]:
    """(index, danger sentence, neutral twin) of a language; ``cues`` selects trained/held-out pairs."""
    if cues not in CUES:
        raise ConfigError(f"cues must be one of {', '.join(CUES)}, got {cues!r}")
    rows = _data()["capability"].get(lang)
    if not rows:
        raise ConfigError(f"no capability framings for language {lang!r}")
    out = [(k, str(d), str(n)) for k, (d, n) in enumerate(rows)]
    if cues == "train":
        return out[:N_CAPABILITY_TRAIN]
    if cues == "heldout":
        return out[N_CAPABILITY_TRAIN:]
    return out


def pool_version() -> int:
    """The pool's version (2: audited against the framing rule of docs/integrity.md)."""
    return int(_data().get("version", 1))


def pool_digest() -> str:
    """Digest of the whole framing pool: recorded with every check that uses it."""
    return digest({"version": pool_version(), "framings": [asdict(f) for f in _all()],
                   "capability": _data()["capability"], "names": _data()["names"]})
