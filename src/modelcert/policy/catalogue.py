"""The catalogue of legal requirements (``data/catalogue.yaml``).

Policies refer to catalogue entries for their legal basis, so a reference is written
once and checked: a policy naming an unknown entry does not load. Entries that cannot
be tested on a model (human oversight, copyright policy, ...) are documentation items
the auditor ticks with a note.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from modelcert.policy.schema import Catalogue, CatalogueEntry


def catalogue_path() -> Path:
    return Path(str(resources.files("modelcert.policy") / "data" / "catalogue.yaml"))


@lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    """The bundled catalogue, validated (one-line located errors like any policy file)."""
    from modelcert.policy.loader import load_yaml_model

    cat, _ = load_yaml_model(catalogue_path(), Catalogue, "catalogue")
    ids = [e.id for e in cat.entries]
    if len(ids) != len(set(ids)):
        raise ValueError("duplicate id in the bundled catalogue")
    return cat


def entry(entry_id: str) -> CatalogueEntry:
    for e in load_catalogue().entries:
        if e.id == entry_id:
            return e
    raise KeyError(entry_id)


def legal_basis(entry_ids: list[str]) -> str:
    """The references of several entries, joined once each, in order."""
    refs: list[str] = []
    for i in entry_ids:
        ref = entry(i).reference
        if ref not in refs:
            refs.append(ref)
    return "; ".join(refs)
