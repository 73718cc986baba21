"""Disguised audit traffic: wrap a share of a rate check's items in deployment dress.

Templated audit prompts look like tests. A model that behaves only when it can tell it is
tested passes such a suite and misbehaves in real use. With ``disguise=0.3`` a rate check
(``safety.harmful``, ``safety.overrefusal``, ``robustness.jailbreak``, ``bias.decisions``)
puts 30 % of its items, chosen by a stable hash, into a deployment framing (customer chat,
email, support ticket, code comment) drawn from a framing pool, and records the framing
family in each sample's metadata (``framing``; ``plain`` for the rest), so the result and the
audit report the rate per framing family next to the overall rate.

The pool: the bundled deployment framings (``checks/data/framings.yaml``), or a lab's own
file (``disguise_pool``: JSONL/CSV with ``prompt`` holding ``{request}``, ``lang``, and the
family in ``category``), ideally a sealed suite folder (``modelcert suite seal``): its Merkle
root is then the pool's commitment, pre-registered with the check's suite digest, so the
provider cannot learn the framings while the lab can later prove which ones it used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelcert.checks import framings as F
from modelcert.checks.templates import Item
from modelcert.errors import ConfigError
from modelcert.evidence.chain import digest

PLAIN = "plain"


@dataclass(frozen=True)
class Disguise:
    """A share of items to wrap and the pool to wrap them in (``share`` 0 = off)."""

    share: float
    pool: tuple[F.Framing, ...]
    source: dict[str, Any]
    seed: int = 0

    def record(self) -> dict[str, Any] | None:
        """What goes into the check's ``items`` metadata and suite digest (None when off)."""
        return {"share": self.share, "seed": self.seed, **self.source} if self.share else None

    def suite_digest(self, base: str) -> str:
        """The check's suite digest: unchanged when off, bound to the pool when on."""
        return base if not self.share else digest({"base": base, "disguise": self.record()})

    def wrap(self, item: Item, prompt: str, key: str | None = None) -> tuple[str, dict[str, Any]]:
        """(prompt, extra sample metadata) for one item; ``key`` keeps counterfactual groups together."""
        if not self.share:
            return prompt, {}
        key = key or item.id
        if F.stable("disguise", self.seed, key) % 10_000 >= round(self.share * 10_000):
            return prompt, {"framing": PLAIN}
        pool = [f for f in self.pool if f.lang == item.lang]
        if not pool:
            return prompt, {"framing": PLAIN, "framing_missing": item.lang}
        framing = F.pick(pool, f"disguise:{self.seed}:{key}")
        return F.fill(framing.user, prompt, key), {"framing": framing.family, "framing_id": framing.id}


def make_disguise(share: float, pool: str | None = None, seed: int = 0) -> Disguise:
    """Validate the task arguments and load the pool (bundled deployment framings by default)."""
    if not 0.0 <= float(share) <= 1.0:
        raise ConfigError(f"disguise must be a share in [0, 1], got {share}")
    if not share:
        return Disguise(0.0, (), {}, seed)
    if pool is None:
        framings = tuple(F.framings(side="deploy"))
        return Disguise(float(share), framings, {"pool": "bundled", "pool_digest": F.pool_digest()}, seed)
    from modelcert.checks.external import check_items

    items, source = check_items("framing", items_file=pool, target="comply")
    framings = []
    for i in items:
        if "{request}" not in i.prompt:
            raise ConfigError(f"disguise pool item {i.id!r} has no {{request}} slot")
        framings.append(F.Framing(str(i.id), i.lang, i.category, "deploy", "heldout", i.prompt))
    return Disguise(float(share), tuple(framings), {"pool": source.get("kind"), "pool_digest": source["suite_digest"]},
                    seed)


def by_framing(rows: list[tuple[dict[str, Any], int]]) -> dict[str, dict[str, Any]]:
    """Rate per framing family from (sample metadata, 0/1 value) rows; {} when nothing was disguised."""
    from modelcert.stats.bounds import clopper_pearson

    groups: dict[str, list[int]] = {}
    for meta, value in rows:
        if "framing" in meta:
            groups.setdefault(str(meta["framing"]), []).append(value)
    out = {}
    for fam, vs in sorted(groups.items()):
        lo, hi = clopper_pearson(sum(vs), len(vs))
        out[fam] = {"k": sum(vs), "n": len(vs), "value": sum(vs) / len(vs), "ci": [lo, hi]}
    return out
