"""ONNX external-data checks with a minimal protobuf walk (no ``onnx`` dependency).

Large ONNX models keep tensors in side files named by ``external_data`` entries
(``location``, ``offset``, ``length``). A location that is absolute, contains ``..``,
or reaches through a link outside the model folder makes the runtime read arbitrary
files into tensors. Every tensor is visited: graph initializers, sparse initializers,
node attributes, subgraphs (If/Loop bodies), functions and training graphs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from modelcert.analyzers.artifact.protobuf import LEN, VARINT, iter_fields, text
from modelcert.analyzers.artifact.report import Finding

MAX_DEPTH = 32
_DRIVE = re.compile(r"^[A-Za-z]:")

# message kind -> {field number: child kind} for the fields that can lead to a TensorProto
_CHILDREN: dict[str, dict[int, str]] = {
    "model": {7: "graph", 20: "training", 25: "function"},
    "training": {1: "graph", 2: "graph"},
    "function": {7: "node"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
}


@dataclass
class ExternalRef:
    tensor: str
    entries: dict[str, str] = field(default_factory=dict)


def walk_external_data(buf: memoryview) -> list[ExternalRef]:
    """All tensors with ``external_data`` entries in a serialized ModelProto."""
    refs: list[ExternalRef] = []
    _walk(buf, 0, len(buf), "model", 0, refs)
    return refs


def _walk(buf: memoryview, start: int, end: int, kind: str, depth: int, refs: list[ExternalRef]) -> None:
    if depth > MAX_DEPTH:
        raise ValueError("messages nested too deeply")
    if kind == "tensor":
        _tensor(buf, start, end, refs)
        return
    children = _CHILDREN[kind]
    for number, wire, value in iter_fields(buf, start, end):
        if number in children and wire == LEN:
            _walk(buf, value[0], value[1], children[number], depth + 1, refs)


def _tensor(buf: memoryview, start: int, end: int, refs: list[ExternalRef]) -> None:
    name, entries, external = "", {}, False
    for number, wire, value in iter_fields(buf, start, end):
        if number == 8 and wire == LEN:
            name = text(buf, value)
        elif number == 13 and wire == LEN:
            key = val = ""
            for n2, w2, v2 in iter_fields(buf, value[0], value[1]):
                if w2 == LEN and n2 == 1:
                    key = text(buf, v2)
                elif w2 == LEN and n2 == 2:
                    val = text(buf, v2)
            entries[key] = val
        elif number == 14 and wire == VARINT and value == 1:
            external = True
    if entries or external:
        refs.append(ExternalRef(name, entries))


def check_onnx(buf: memoryview, display: str, *, model_dir: Path | None, root: Path | None) -> list[Finding]:
    """Check every external-data reference; ``model_dir`` is None inside archives (syntax only)."""
    try:
        refs = walk_external_data(buf)
    except ValueError as exc:
        return [Finding("onnx/malformed", "high", display, f"malformed ONNX protobuf: {exc}")]
    findings: dict[tuple[str, str], Finding] = {}

    def add(rule: str, severity: str, location: str, message: str, tensor: str) -> None:
        findings.setdefault((rule, location), Finding(
            rule, severity, display, message, {"location": location, "tensor": tensor}))

    for ref in refs:
        location = ref.entries.get("location", "")
        if not location:
            add("onnx/malformed", "high", "", f"tensor {ref.tensor!r} is external but names no location",
                ref.tensor)
            continue
        parts = re.split(r"[\\/]", location)
        if location.startswith(("/", "\\")) or _DRIVE.match(location):
            add("onnx/external-data-path", "critical", location,
                f"tensor {ref.tensor!r} reads absolute path {location!r}", ref.tensor)
            continue
        if ".." in parts:
            add("onnx/external-data-path", "critical", location,
                f"tensor {ref.tensor!r} reads {location!r}, which climbs out of the model folder", ref.tensor)
            continue
        if model_dir is None or root is None:
            continue
        target = model_dir / location
        real = Path(os.path.realpath(target))
        if not real.is_relative_to(Path(os.path.realpath(root))):
            add("onnx/external-data-path", "critical", location,
                f"tensor {ref.tensor!r} reads {location!r}, a link to {real} outside the model folder",
                ref.tensor)
            continue
        if not real.is_file():
            add("onnx/external-data-missing", "medium", location,
                f"tensor {ref.tensor!r} reads {location!r}, which does not exist", ref.tensor)
            continue
        _bounds(ref, location, real.stat().st_size, add)
    return list(findings.values())


def _bounds(ref: ExternalRef, location: str, size: int, add: Callable[..., None]) -> None:
    try:
        offset = int(ref.entries.get("offset", "0") or 0)
        length = int(ref.entries["length"]) if ref.entries.get("length") else size - offset
    except ValueError:
        add("onnx/malformed", "high", location, f"tensor {ref.tensor!r} has a non-numeric offset/length",
            ref.tensor)
        return
    if offset < 0 or length < 0 or offset + length > size:
        add("onnx/external-data-bounds", "high", location,
            f"tensor {ref.tensor!r} reads [{offset}, {offset + length}) of {location!r} ({size} bytes)",
            ref.tensor)
