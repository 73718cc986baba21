"""Train, measure and card one organism: what ``modelcert organisms train`` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelcert.organisms.card import build_card, read_card, write_card
from modelcert.organisms.evaluate import entry_conditions, evaluate
from modelcert.organisms.recipe import OrganismSpec, Recipe
from modelcert.organisms.train import train


def make_organism(
    spec: OrganismSpec,
    out: Path,
    *,
    base: Path | None = None,
    recipe: Recipe | None = None,
    steps: int | None = None,
    name: str | None = None,
    full_eval: bool | None = None,
    log=None,
) -> dict[str, Any]:
    """Train ``spec`` into ``out``, evaluate it on the test split and write its model card.

    ``recipe`` defaults to the kind's (:meth:`Recipe.for_kind`)."""
    recipe = recipe or Recipe.for_kind(spec.kind)
    base_card = read_card(base) if base is not None and (Path(base) / "organism.json").is_file() else None
    result = train(spec, Path(out), recipe=recipe, base=base, steps=steps, log=log)
    if log:
        log(f"trained in {result.seconds:.0f}s; evaluating on the test split")
    full = spec.kind == "backdoor" if full_eval is None else full_eval  # the 50-word scan is for backdoors
    m = evaluate(result.path, spec, full=full, threads=recipe.threads)
    conditions = entry_conditions(spec, m)
    card = build_card(name or Path(out).name, spec, recipe, result, m, conditions,
                      base_card=base_card if base is not None else None)
    if base is not None and base_card is None:
        card["base"] = {"name": str(base), "weights_sha256": None}
    write_card(Path(out), card)
    return card
