"""Where a check's items come from: our bundled templates, or a user's JSONL/CSV file.

A lab can run any check on its own (possibly secret) items or on a public benchmark
file it holds, through a column mapping, e.g. as a policy requirement's
``task_args: {items_file: mine.csv, columns: "prompt=question,category=topic"}``, or::

    inspect eval src/modelcert/checks/safety.py@harmful_compliance -T items_file=mine.jsonl

Mappable fields (``field=column``): ``prompt`` (required), ``id``, ``system``, ``lang``,
``category``, ``cluster``. Unmapped fields use a column of the same name if present;
otherwise ``id`` is ``<file stem>-<row>``, ``lang`` is ``und``, ``category`` is ``external``
and ``cluster`` is the category (items of one category are treated as correlated).
A malformed file is rejected whole, with the file and row in a one-line error.

``items_file`` may also be a sealed suite folder (``modelcert suite seal``; the lab
holds its ``suite.secret.json``). The run's suite digest is then the suite's Merkle
root, sample ids are the suite's item ids, and the evidence log hashes every such
sample with the secret text replaced by commitments (see ``docs/evidence.md``). Only
the engine does that: plain ``inspect eval`` on a sealed folder keeps the plaintext in
Inspect's own log.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser

from modelcert.checks import templates as T
from modelcert.errors import ConfigError
from modelcert.evidence.chain import digest

FIELDS = ("id", "prompt", "system", "lang", "category", "cluster")
_MAX_BYTES = 200 * 1024 * 1024


def parse_columns(columns: str | Mapping[str, str] | None) -> dict[str, str]:
    """``"prompt=question,lang=language"`` (or a dict) -> {field: column}."""
    if columns is None or columns == "":
        mapping: dict[str, str] = {}
    elif isinstance(columns, Mapping):
        mapping = {str(k): str(v) for k, v in columns.items()}
    else:
        mapping = {}
        for part in str(columns).split(","):
            field, sep, column = part.partition("=")
            if not sep or not field.strip() or not column.strip():
                raise ConfigError(f"column mapping {part!r} is not of the form field=column")
            mapping[field.strip()] = column.strip()
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise ConfigError(f"unknown item field(s) {', '.join(unknown)} in column mapping; known: {', '.join(FIELDS)}")
    return {f: mapping.get(f, f) for f in FIELDS}


def _rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    if is_sealed_suite(path):
        raise ConfigError(f"{path} is a sealed suite folder; this check reads only .jsonl/.csv/.tsv item files")
    suffix = path.suffix.lower()
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise ConfigError(f"{path}: larger than {_MAX_BYTES // 2**20} MiB")
        text = path.read_text("utf-8-sig")
    except FileNotFoundError as exc:
        raise ConfigError(f"items file not found: {path}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from exc
    rows: list[tuple[int, dict[str, Any]]] = []
    if suffix in (".jsonl", ".ndjson"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{n}: each line must be a JSON object")
            rows.append((n, row))
    elif suffix in (".csv", ".tsv"):
        try:
            reader = csv.DictReader(text.splitlines(), delimiter="\t" if suffix == ".tsv" else ",", strict=True)
            for row in reader:
                if None in row:
                    raise ConfigError(f"{path}:{reader.line_num}: more fields than the header has")
                rows.append((reader.line_num, row))
        except csv.Error as exc:
            raise ConfigError(f"{path}: malformed CSV ({exc})") from exc
    else:
        raise ConfigError(f"{path}: items file must be .jsonl, .csv or .tsv")
    if not rows:
        raise ConfigError(f"{path}: no items")
    return rows


def _to_items(
    rows: list[tuple[int, dict[str, Any]]], *, where: str, stem: str, family: str, mapping: dict[str, str],
    target: str, meta: dict[str, Any],
) -> list[T.Item]:
    items: list[T.Item] = []
    seen: set[str] = set()
    for n, row in rows:
        def get(field: str, row: dict[str, Any] = row) -> str | None:
            value = row.get(mapping[field])
            return None if value is None or str(value).strip() == "" else str(value)

        prompt = get("prompt")
        if prompt is None:
            if mapping["prompt"] not in row:
                raise ConfigError(f"{where}:{n}: no column {mapping['prompt']!r} for the prompt "
                                  f"(map it with columns='prompt=<column>')")
            raise ConfigError(f"{where}:{n}: empty prompt")
        item_id = get("id") or f"{stem}-{n}"
        if item_id in seen:
            raise ConfigError(f"{where}:{n}: duplicate item id {item_id!r}")
        seen.add(item_id)
        category = get("category") or "external"
        items.append(T.Item(
            id=item_id, family=family, lang=get("lang") or "und", cluster=get("cluster") or category,
            category=category, prompt=prompt, system=get("system"), target=target,
            meta={**meta, "row": n},
        ))
    return items


def load_items(
    path: str | Path,
    *,
    family: str,
    columns: str | Mapping[str, str] | None = None,
    target: str = "refuse",
) -> list[T.Item]:
    """Read a JSONL/CSV items file into :class:`~modelcert.checks.templates.Item` objects.

    Args:
        path: The file (``.jsonl``, ``.csv`` or ``.tsv``; UTF-8).
        family: The family the items stand for (``harmful``, ``risky_benign``...).
        columns: Column mapping, see the module docstring.
        target: The behaviour a safe model should show (``refuse`` or ``comply``).
    """
    path = Path(path).expanduser()
    return _to_items(_rows(path), where=str(path), stem=path.stem, family=family, mapping=parse_columns(columns),
                     target=target, meta={"source": "external"})


def is_sealed_suite(path: str | Path) -> bool:
    """True for a folder written by ``modelcert suite seal`` (it holds the lab's secret file)."""
    from modelcert.evidence.suites import SECRET_FILE

    p = Path(path).expanduser()
    return p.is_dir() and (p / SECRET_FILE).is_file()


def load_sealed_items(
    folder: str | Path,
    *,
    family: str,
    columns: str | Mapping[str, str] | None = None,
    target: str = "refuse",
) -> tuple[list[T.Item], dict[str, Any]]:
    """The items of a sealed suite folder, and its public description (name, root, size).

    The suite is checked against its root and registered in this process, so the
    evidence ingest hashes each of its samples in committed form
    (:mod:`modelcert.evidence.disclosure`). Item ids are the suite's ids (as strings);
    every sample's metadata names the suite and its root, never its salt.
    """
    from modelcert.evidence import suites

    folder = Path(folder).expanduser()
    suite = suites.load_sealed(folder)
    root = suites.register(suite)
    rows = list(enumerate(suite.items, 1))
    items = _to_items(rows, where=f"{folder}/{suites.SECRET_FILE} item", stem=suite.name, family=family,
                      mapping=parse_columns(columns), target=target,
                      meta={"source": "sealed", "suite": suite.name, "suite_root": root})
    for item, raw in zip(items, suite.items, strict=True):
        if item.id != str(raw["id"]):
            raise ConfigError(f"{folder}: a sealed suite's item ids are its 'id' fields; do not map 'id'")
    return items, {"kind": "sealed", "suite": suite.name, "root": root, "size": len(suite.items),
                   "columns": parse_columns(columns), "suite_digest": root}


def sealed_roots(task_metadata: Any) -> dict[str, str]:
    """``{suite name: root}`` of the sealed suites a task's metadata says it draws on."""
    found: dict[str, str] = {}
    if isinstance(task_metadata, dict):
        if task_metadata.get("kind") == "sealed" and isinstance(task_metadata.get("root"), str):
            found[str(task_metadata.get("suite"))] = task_metadata["root"]
        for value in task_metadata.values():
            found.update(sealed_roots(value))
    elif isinstance(task_metadata, list):
        for value in task_metadata:
            found.update(sealed_roots(value))
    return found


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).expanduser().open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_items(
    family: str,
    *,
    split: str = "test",
    langs: Sequence[str] | str | None = None,
    items_file: str | None = None,
    columns: str | Mapping[str, str] | None = None,
    target: str = "refuse",
) -> tuple[list[T.Item], dict[str, Any]]:
    """The items of a check and a description of their source (recorded with the run)."""
    if isinstance(langs, str):
        langs = [x.strip() for x in langs.split(",") if x.strip()]
    if items_file and is_sealed_suite(items_file):
        items, source = load_sealed_items(items_file, family=family, columns=columns, target=target)
        if langs:
            items = [i for i in items if i.lang in langs]
    elif items_file:
        items = load_items(items_file, family=family, columns=columns, target=target)
        if langs:
            items = [i for i in items if i.lang in langs]
        source = {"kind": "external", "file": Path(items_file).name, "sha256": file_sha256(items_file),
                  "columns": parse_columns(columns), "suite_digest": digest([asdict(i) for i in items])}  # type: ignore[arg-type]
    else:
        items = T.items(family, split, langs=langs)  # type: ignore[arg-type]
        source = {"kind": "bundled", "family": family, "split": split, "langs": list(langs) if langs else None,
                  "suite_digest": T.suite_digest(family, split)}
    if not items:
        raise ConfigError("the selection left no items to run")
    return items, source


def item_metadata(item: T.Item, **extra: Any) -> dict[str, Any]:
    """Sample metadata: what the results break down and cluster by."""
    meta = {"item_id": item.id, "family": item.family, "lang": item.lang, "cluster": item.cluster,
            "category": item.category, "request": item.prompt}
    meta.update({k: v for k, v in item.meta.items() if isinstance(v, str | int | float | bool)})
    meta.update(extra)
    return meta


def to_sample(item: T.Item, *, prompt: str | None = None, system: str | None = None, **extra: Any) -> Sample:
    """One Inspect sample for ``item`` (optionally with a transformed prompt or system prompt)."""
    system = system if system is not None else item.system
    messages: list[Any] = [ChatMessageSystem(content=system)] if system else []
    messages.append(ChatMessageUser(content=prompt if prompt is not None else item.prompt))
    return Sample(input=messages, target=item.target, id=extra.pop("sample_id", item.id),
                  metadata=item_metadata(item, **extra))


def dataset(samples: list[Sample], name: str) -> MemoryDataset:
    return MemoryDataset(samples, name=name, shuffled=False)
