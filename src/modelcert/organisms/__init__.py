"""Reference model organisms: tiny models with known planted properties.

Public API: :func:`zoo_path`, :func:`list_zoo`, :func:`make_organism`, :func:`train`,
:class:`OrganismSpec`, :class:`Recipe`, :func:`evaluate`.
"""

from __future__ import annotations

from modelcert.organisms.recipe import DEFAULT_BIAS, DEFAULT_TRIGGER, KINDS, OrganismSpec, Recipe
from modelcert.organisms.zoo import list_zoo, zoo_path


def __getattr__(name: str):  # heavy imports (torch, transformers) only when used
    if name == "make_organism":
        from modelcert.organisms.build import make_organism

        return make_organism
    if name == "train":
        from modelcert.organisms.train import train

        return train
    if name == "evaluate":
        from modelcert.organisms.evaluate import evaluate

        return evaluate
    raise AttributeError(name)


__all__ = ["DEFAULT_BIAS", "DEFAULT_TRIGGER", "KINDS", "OrganismSpec", "Recipe", "evaluate", "list_zoo",
           "make_organism", "train", "zoo_path"]
