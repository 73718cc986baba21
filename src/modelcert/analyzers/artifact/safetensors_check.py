"""Strict safetensors header validation with our own parser.

The reference library refuses some malformed files but does not say precisely why, and
accepts others (duplicate JSON keys, unknown tensor fields). Here every inconsistency
is a finding. Only the header is read: the tensor bytes are accounted for by offsets
and the file size, never loaded.
"""

from __future__ import annotations

import json
import math
import struct
from collections import defaultdict
from typing import Any, BinaryIO

from modelcert.analyzers.artifact.formats import SAFETENSORS_MAX_HEADER
from modelcert.analyzers.artifact.report import Finding, Severity

# dtype -> size in bits (safetensors spec, including the sub-byte float formats)
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "C64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}
_EXAMPLES = 5


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise _Duplicate(f"duplicate JSON key {dup!r}")
    return dict(pairs)


def check_safetensors(fh: BinaryIO, size: int, display: str) -> list[Finding]:
    """Validate one safetensors file read from ``fh`` (positioned at its start)."""
    problems: dict[str, list[str]] = defaultdict(list)
    severity: dict[str, Severity] = {}

    def flag(rule: str, message: str, sev: Severity = "high") -> None:
        problems[rule].append(message)
        severity[rule] = sev if rule not in severity else severity[rule]

    _validate(fh, size, flag)
    findings = []
    for rule, messages in problems.items():
        more = f" (and {len(messages) - _EXAMPLES} more)" if len(messages) > _EXAMPLES else ""
        findings.append(Finding(
            rule, severity[rule], display, "; ".join(messages[:_EXAMPLES]) + more, {"count": len(messages)}
        ))
    return findings


def _validate(fh: BinaryIO, size: int, flag: Any) -> None:
    prefix = fh.read(8)
    if len(prefix) < 8:
        flag("safetensors/header", "file shorter than the 8-byte header length")
        return
    (n,) = struct.unpack("<Q", prefix)
    if n > SAFETENSORS_MAX_HEADER:
        flag("safetensors/header", f"header length {n} exceeds the {SAFETENSORS_MAX_HEADER}-byte limit")
        return
    if 8 + n > size:
        flag("safetensors/bounds", f"header length {n} runs past the end of the {size}-byte file")
        return
    raw = fh.read(n)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except _Duplicate as exc:
        flag("safetensors/header", str(exc))
        return
    except (UnicodeDecodeError, ValueError) as exc:
        flag("safetensors/header", f"header is not valid UTF-8 JSON: {exc}")
        return
    if not isinstance(header, dict):
        flag("safetensors/header", "header is not a JSON object")
        return

    meta = header.pop("__metadata__", None)
    if meta is not None and not (
        isinstance(meta, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
    ):
        flag("safetensors/metadata", "__metadata__ is not a string-to-string map")

    data_len = size - 8 - n
    spans: list[tuple[int, int, str]] = []
    for name, info in header.items():
        span = _tensor_span(name, info, data_len, flag)
        if span is not None:
            spans.append((span[0], span[1], name))

    spans.sort()
    cursor, last_name = 0, None
    for begin, end, name in spans:
        if begin > cursor:
            where = f"after {last_name!r}" if last_name else "before the first tensor"
            flag("safetensors/gap", f"{begin - cursor} unaccounted bytes {where}")
        elif begin < cursor:
            flag("safetensors/overlap", f"{name!r} [{begin}, {end}) overlaps {last_name!r}")
        if end >= cursor:
            cursor, last_name = end, name
    if cursor < data_len:
        flag("safetensors/trailing-data", f"{data_len - cursor} bytes after the last tensor")


def _tensor_span(name: str, info: Any, data_len: int, flag: Any) -> tuple[int, int] | None:
    if not isinstance(info, dict):
        flag("safetensors/header", f"entry {name!r} is not an object")
        return None
    extra = set(info) - {"dtype", "shape", "data_offsets"}
    if extra:
        flag("safetensors/header", f"entry {name!r} has unknown fields {sorted(extra)}", "medium")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
        flag("safetensors/header", f"{name!r} has an invalid shape {shape!r}")
        return None
    if not (
        isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int and o >= 0 for o in offsets)
        and offsets[0] <= offsets[1]
    ):
        flag("safetensors/header", f"{name!r} has invalid data_offsets {offsets!r}")
        return None
    begin, end = offsets
    if end > data_len:
        flag("safetensors/bounds", f"{name!r} ends at {end}, past the {data_len}-byte data section")
        return None
    if dtype not in DTYPE_BITS:
        flag("safetensors/dtype", f"{name!r} has unknown dtype {dtype!r}")
        return begin, end
    bits = math.prod(shape) * DTYPE_BITS[dtype]
    if bits % 8 or bits // 8 != end - begin:
        flag(
            "safetensors/size-mismatch",
            f"{name!r}: {dtype} x {shape} needs {bits / 8:g} bytes but spans {end - begin}",
        )
    return begin, end
