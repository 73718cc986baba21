"""The shipped zoo: one trained organism per kind, inside the package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelcert.errors import ConfigError

ZOO_DIR = Path(__file__).parent / "zoo"


def list_zoo() -> list[dict[str, Any]]:
    """Summary of every shipped organism (name, kind, planted property, size, key rates)."""
    from modelcert.organisms.card import read_card

    out = []
    for folder in sorted(p for p in ZOO_DIR.iterdir() if p.is_dir() and (p / "organism.json").is_file()):
        card = read_card(folder)
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        out.append({"name": folder.name, "path": folder, "kind": card["kind"], "planted": card["planted"],
                    "size_bytes": size, "rates": card["measured"]["rates"],
                    "entry_conditions_met": card["entry_conditions_met"],
                    "training_seconds": card["training"]["seconds"]})
    return out


def zoo_path(name: str) -> Path:
    """Folder of the shipped organism ``name`` (the ``local/zoo:<name>`` address)."""
    folder = ZOO_DIR / name
    if not name or "/" in name or name.startswith(".") or not (folder / "config.json").is_file():
        known = ", ".join(p.name for p in sorted(ZOO_DIR.iterdir()) if (p / "config.json").is_file())
        raise ConfigError(f"unknown zoo organism {name!r}; shipped: {known or 'none'}")
    return folder
