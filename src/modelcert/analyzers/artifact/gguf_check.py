"""GGUF header, metadata and tensor-table validation, plus chat-template checks.

The file is read sequentially and every count and length is checked against the bytes
that remain before anything is read: GGUF parsers have had heap overflows on exactly
such lies. Tensor data is never read; its extent is checked against the file size.
"""

from __future__ import annotations

import math
import struct
from typing import Any, BinaryIO

from modelcert.analyzers.artifact.report import Finding
from modelcert.analyzers.artifact.template_check import check_template

# value type -> struct code for fixed-size scalars
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
# ggml type -> (elements per block, bytes per block), for the types whose layout is stable
GGML_SIZES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 30: (1, 2),
}
MAX_DIMS = 4
MAX_STRING = 256 * 1024 * 1024
MAX_NESTING = 3
_KEEP = ("tokenizer.chat_template",)


class _Malformed(ValueError):
    pass


class _Reader:
    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh, self.size, self.pos, self.endian = fh, size, 0, "<"

    def take(self, n: int) -> bytes:
        if n > self.size - self.pos:
            raise _Malformed(f"needs {n} bytes at offset {self.pos}, only {self.size - self.pos} remain")
        data = self.fh.read(n)
        if len(data) != n:
            raise _Malformed(f"file ended at offset {self.pos + len(data)}")
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        if n > self.size - self.pos:
            raise _Malformed(f"needs {n} bytes at offset {self.pos}, only {self.size - self.pos} remain")
        while n:
            chunk = self.fh.read(min(n, 1 << 20))
            if not chunk:
                raise _Malformed("unexpected end of file")
            n -= len(chunk)
            self.pos += len(chunk)

    def unpack(self, code: str) -> Any:
        return struct.unpack(self.endian + code, self.take(struct.calcsize(code)))[0]

    def string(self, version: int, *, keep: bool = True) -> str | None:
        n = self.unpack("I" if version == 1 else "Q")
        if n > MAX_STRING:
            raise _Malformed(f"string of {n} bytes at offset {self.pos}")
        if not keep:
            self.skip(n)
            return None
        return self.take(n).decode("utf-8", errors="replace")


def check_gguf(fh: BinaryIO, size: int, display: str) -> list[Finding]:
    """Validate a GGUF file and check its chat templates."""
    findings: list[Finding] = []
    r = _Reader(fh, size)
    try:
        _parse(r, display, findings)
    except (_Malformed, struct.error, UnicodeDecodeError) as exc:
        findings.append(Finding("gguf/malformed", "high", display, f"malformed GGUF: {exc}", {"offset": r.pos}))
    return findings


def _parse(r: _Reader, display: str, findings: list[Finding]) -> None:
    if r.take(4) != b"GGUF":
        raise _Malformed("missing GGUF magic")
    raw_version = r.take(4)
    version = struct.unpack("<I", raw_version)[0]
    if version not in (1, 2, 3):
        version = struct.unpack(">I", raw_version)[0]
        if version not in (2, 3):
            raise _Malformed(f"unsupported version {struct.unpack('<I', raw_version)[0]}")
        r.endian = ">"
    count = "I" if version == 1 else "Q"
    n_tensors, n_kv = r.unpack(count), r.unpack(count)
    # each KV needs at least a key length, a type and a 1-byte value; each tensor info >= 24 bytes
    if n_kv * 13 > r.size or n_tensors * 24 > r.size:
        raise _Malformed(f"{n_kv} metadata entries / {n_tensors} tensors cannot fit in {r.size} bytes")

    alignment = 32
    seen: set[str] = set()
    for _ in range(n_kv):
        key = r.string(version)
        if key in seen:
            raise _Malformed(f"duplicate metadata key {key!r}")
        seen.add(key)
        vtype = r.unpack("I")
        keep = key.startswith(_KEEP)
        value = _value(r, version, vtype, keep=keep, depth=0)
        if key == "general.alignment":
            if not isinstance(value, int) or value <= 0 or value & (value - 1):
                raise _Malformed(f"general.alignment {value!r} is not a positive power of two")
            alignment = value
        if keep:
            templates = value if isinstance(value, list) else [value]
            for template in templates:
                if isinstance(template, str):
                    findings.extend(check_template(template, display, key))

    tensors = []
    names: set[str] = set()
    for _ in range(n_tensors):
        name = r.string(version)
        if name in names:
            raise _Malformed(f"duplicate tensor name {name!r}")
        names.add(name)
        n_dims = r.unpack("I")
        if n_dims > MAX_DIMS:
            raise _Malformed(f"tensor {name!r} has {n_dims} dimensions (max {MAX_DIMS})")
        dims = [r.unpack(count) for _ in range(n_dims)]
        ggml_type, offset = r.unpack("I"), r.unpack("Q")
        tensors.append((name, dims, ggml_type, offset))

    data_start = -(-r.pos // alignment) * alignment
    data_len = r.size - data_start
    if tensors and data_len < 0:
        raise _Malformed("tensor data section starts past the end of the file")
    problems = []
    for name, dims, ggml_type, offset in tensors:
        if offset % alignment:
            problems.append(f"{name!r} offset {offset} is not {alignment}-aligned")
        nbytes = _nbytes(dims, ggml_type)
        if nbytes is None and ggml_type in GGML_SIZES:
            problems.append(f"{name!r} shape {dims} is not a whole number of type-{ggml_type} blocks")
            continue
        if offset + (nbytes or 0) > data_len or offset >= max(data_len, 1):
            problems.append(f"{name!r} [{offset}, +{nbytes or '?'}) exceeds the {data_len}-byte data section")
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        findings.append(Finding("gguf/tensor-bounds", "high", display, "; ".join(problems[:5]) + more,
                                {"count": len(problems)}))


def _nbytes(dims: list[int], ggml_type: int) -> int | None:
    if ggml_type not in GGML_SIZES:
        return None
    block, size = GGML_SIZES[ggml_type]
    n = math.prod(dims)
    return None if n % block else n // block * size


def _value(r: _Reader, version: int, vtype: int, *, keep: bool, depth: int) -> Any:
    if vtype in _SCALARS:
        return r.unpack(_SCALARS[vtype])
    if vtype == _STRING:
        return r.string(version, keep=keep)
    if vtype == _ARRAY:
        if depth >= MAX_NESTING:
            raise _Malformed("arrays nested too deeply")
        etype, n = r.unpack("I"), r.unpack("I" if version == 1 else "Q")
        if etype in _SCALARS:
            r.skip(n * struct.calcsize(_SCALARS[etype]))
            return None
        if n * (4 if version == 1 else 8) > r.size - r.pos:
            raise _Malformed(f"array of {n} elements cannot fit in the file")
        items = [_value(r, version, etype, keep=keep, depth=depth + 1) for _ in range(n)]
        return items if keep else None
    raise _Malformed(f"unknown metadata value type {vtype} at offset {r.pos}")
