"""NumPy ``.npy`` files: an object-dtype array is a pickle behind a small header."""

from __future__ import annotations

import ast
import struct
from typing import BinaryIO

from modelcert.analyzers.artifact.pickle_check import check_pickle
from modelcert.analyzers.artifact.report import Finding

MAX_HEADER = 1024 * 1024


def _has_objects(descr: object) -> bool:
    """True when a dtype description (string or structured field list) contains 'O'."""
    if isinstance(descr, str):
        return descr.lstrip("|<>=").startswith("O")
    if isinstance(descr, list | tuple):
        return any(_has_objects(field[1] if isinstance(field, tuple) and len(field) > 1 else field)
                   for field in descr)
    return True  # unknown description: assume the worst


def check_npy(fh: BinaryIO, size: int, display: str) -> list[Finding]:
    """Parse the header with ``ast.literal_eval`` (data only); analyse the pickle of object arrays."""
    magic = fh.read(8)
    major = magic[6] if len(magic) == 8 else 0
    if major not in (1, 2, 3):
        return [Finding("format/unknown", "low", display, f"unsupported .npy version {major}")]
    width = "<H" if major == 1 else "<I"
    raw = fh.read(struct.calcsize(width))
    (n,) = struct.unpack(width, raw) if len(raw) == struct.calcsize(width) else (MAX_HEADER + 1,)
    if n > MAX_HEADER or 8 + len(raw) + n > size:
        return [Finding("format/unknown", "low", display, f".npy header length {n} is not plausible")]
    try:
        header = ast.literal_eval(fh.read(n).decode("latin-1"))
        descr = header["descr"]
    except (ValueError, SyntaxError, KeyError, TypeError, MemoryError, RecursionError):
        return [Finding("format/unknown", "low", display, ".npy header is not a literal dict with 'descr'")]
    if not _has_objects(descr):
        return []
    start = 8 + len(raw) + n
    findings = [Finding("numpy/object-array", "high", display,
                        f"object array (dtype {descr!r}) stored as a pickle; loading needs allow_pickle=True")]
    return findings + [f for f in check_pickle(fh, size, display, start=start) if f.rule != "pickle/format"]
