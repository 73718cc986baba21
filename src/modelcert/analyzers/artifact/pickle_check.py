"""Static pickle analysis: walk the opcodes, resolve every import, never unpickle.

The walk simulates the unpickler's stack and memo symbolically, so ``STACK_GLOBAL`` is
resolved from the strings that really reach it (through ``PUT``/``GET``/``MEMOIZE`` and
``DUP`` too), not from "the last two strings seen", a heuristic that evasive pickles
defeat. An operand that is not a string constant cannot be resolved statically and is
itself a finding. Imports seen before a parse error are still reported: a loader
executes opcodes one by one and would have run them before failing.
"""

from __future__ import annotations

import pickletools
from dataclasses import dataclass, field
from typing import BinaryIO

from modelcert.analyzers.artifact.pickle_policy import classify
from modelcert.analyzers.artifact.report import Finding

_MARK = object()
_UNKNOWN = object()
_STRING_OPS = {
    "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
}
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
_CALL_OPS = {"REDUCE", "BUILD", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX"}
SKIP_ABOVE = 16 * 1024 * 1024  # constants larger than this are skipped, not read into memory
MAX_LINE = 1024 * 1024
MAX_PICKLES = 16  # legacy torch files hold several pickles back to back


class _Skipped(bytes):
    """Stands in for a large constant that was skipped; reports the skipped length."""

    def __new__(cls, n: int) -> _Skipped:
        obj = super().__new__(cls, b"")
        obj.n = n
        return obj

    def __len__(self) -> int:
        return self.n


class _CappedReader:
    """File wrapper for ``genops`` that skips big constants instead of reading them."""

    def __init__(self, fh: BinaryIO, start: int) -> None:
        self._fh = fh
        self._pos = start
        self.skipped = False
        try:
            self._seekable = fh.seekable()
        except (AttributeError, OSError):
            self._seekable = False

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            raise ValueError("unbounded read in pickle walk")
        if n > SKIP_ABOVE:
            got = self._skip(n)
            self._pos += got
            if got < n:
                return b""  # truncated: genops reports it
            self.skipped = True
            return _Skipped(n)
        data = self._fh.read(n)
        self._pos += len(data)
        return data

    def _skip(self, n: int) -> int:
        if self._seekable:
            here = self._fh.tell()
            end = self._fh.seek(0, 2)
            target = min(here + n, end)
            self._fh.seek(target)
            return target - here
        got = 0
        while got < n:
            chunk = self._fh.read(min(1 << 20, n - got))
            if not chunk:
                break
            got += len(chunk)
        return got

    def readline(self) -> bytes:
        line = self._fh.readline(MAX_LINE)
        self._pos += len(line)
        if len(line) == MAX_LINE and not line.endswith(b"\n"):
            raise ValueError("text argument longer than 1 MiB")
        return line

    def tell(self) -> int:
        return self._pos


@dataclass
class PickleAnalysis:
    """What one pickle imports and where the walk ended."""

    imports: dict[str, list[int]] = field(default_factory=dict)  # "module.name" -> offsets
    findings: list[Finding] = field(default_factory=list)
    end: int = 0
    complete: bool = False  # reached STOP
    opcodes: int = 0


def analyse_pickle(fh: BinaryIO, display: str, *, start: int = 0) -> PickleAnalysis:
    """Walk one pickle from the stream's current position (``start`` = its offset in the file)."""
    result = PickleAnalysis(end=start)
    reader = _CappedReader(fh, start)
    stack: list[object] = []
    memo: dict[int, object] = {}
    dynamic: list[int] = []
    ext: list[int] = []

    def pop() -> object:
        if not stack:
            raise ValueError("stack underflow")
        return stack.pop()

    def pop_mark() -> None:
        while True:
            if pop() is _MARK:
                return

    try:
        for op, arg, pos in pickletools.genops(reader):
            result.opcodes += 1
            skipped, reader.skipped = reader.skipped, False
            name = op.name
            if name in _STRING_OPS:
                stack.append(arg if isinstance(arg, str) and not skipped else _UNKNOWN)
            elif name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                result.imports.setdefault(f"{module}\x00{attr}", []).append(pos)
                if name == "INST":
                    pop_mark()
                stack.append(_UNKNOWN)
            elif name == "STACK_GLOBAL":
                attr, module = pop(), pop()
                if isinstance(module, str) and isinstance(attr, str):
                    result.imports.setdefault(f"{module}\x00{attr}", []).append(pos)
                else:
                    dynamic.append(pos)
                stack.append(_UNKNOWN)
            elif name in _PUT_OPS:
                if not stack:
                    raise ValueError("PUT on an empty stack")
                memo[arg] = stack[-1]
            elif name == "MEMOIZE":
                if not stack:
                    raise ValueError("MEMOIZE on an empty stack")
                memo[len(memo)] = stack[-1]
            elif name in _GET_OPS:
                if arg not in memo:
                    raise ValueError(f"memo key {arg} read before it was written")
                stack.append(memo[arg])
            elif name == "DUP":
                if not stack:
                    raise ValueError("DUP on an empty stack")
                stack.append(stack[-1])
            elif name in ("EXT1", "EXT2", "EXT4"):
                ext.append(pos)
                stack.append(_UNKNOWN)
            else:
                before = op.stack_before
                if pickletools.markobject in before:
                    pop_mark()
                    for _ in range(before.index(pickletools.markobject)):
                        pop()
                else:
                    for _ in before:
                        pop()
                for item in op.stack_after:
                    stack.append(_MARK if item is pickletools.markobject else _UNKNOWN)
            if name == "STOP":
                result.complete = True
                break
    except Exception as exc:  # every malformation is a finding, never a crash
        result.findings.append(Finding(
            "pickle/malformed", "high", display,
            f"malformed pickle at byte {reader.tell()}: {exc}", {"offset": reader.tell()},
        ))
    result.end = reader.tell()

    for key, offsets in result.imports.items():
        module, attr = key.split("\x00")
        severity, why = classify(module, attr)
        if severity is not None:
            rule = "pickle/dangerous-import" if severity == "critical" else "pickle/unknown-import"
            result.findings.append(Finding(
                rule, severity, display,
                f"imports {module}.{attr} ({why}) at byte {offsets[0]}",
                {"import": f"{module}.{attr}", "offsets": offsets[:20]},
            ))
    if dynamic:
        result.findings.append(Finding(
            "pickle/dynamic-import", "critical", display,
            f"STACK_GLOBAL with a computed module or name at byte {dynamic[0]}", {"offsets": dynamic[:20]},
        ))
    if ext:
        result.findings.append(Finding(
            "pickle/extension-registry", "high", display,
            f"imports through the copyreg extension registry at byte {ext[0]}", {"offsets": ext[:20]},
        ))
    return result


def check_pickle(fh: BinaryIO, size: int, display: str, *, start: int = 0) -> list[Finding]:
    """Analyse the pickle(s) in a file: legacy ``torch.save`` files hold several in a row."""
    findings: list[Finding] = []
    imports: set[str] = set()
    offset = start
    for _ in range(MAX_PICKLES):
        analysis = analyse_pickle(fh, display, start=offset)
        findings.extend(analysis.findings)
        imports.update(k.replace("\x00", ".") for k in analysis.imports)
        offset = analysis.end
        if not analysis.complete or offset >= size:
            break
        # Another pickle follows (legacy torch) or raw tensor data that no unpickler reads.
        if not fh.seekable() or fh.read(1) != b"\x80":
            break
        fh.seek(offset)
    if not findings:
        listed = ", ".join(sorted(imports)) or "none"
        findings.append(Finding(
            "pickle/format", "medium", display,
            f"pickle file; every import is allowlisted ({listed}); prefer safetensors",
            {"imports": sorted(imports)},
        ))
    return findings
