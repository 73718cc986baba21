"""Static pickle analysis: walk the opcodes, resolve every import, never unpickle.

The walk simulates the unpickler's stack and memo symbolically, so ``STACK_GLOBAL`` is
resolved from the strings that really reach it (through ``PUT``/``GET``/``MEMOIZE`` and
``DUP`` too), not from "the last two strings seen", a heuristic that evasive pickles
defeat. An operand that is not a string constant cannot be resolved statically and is
itself a finding. Imports seen before a parse error are still reported: a loader
executes opcodes one by one and would have run them before failing.

Small constants (ints, strings, tuples, dicts) are tracked as values, which is what lets
the walk read joblib's array records: joblib writes a ``NumpyArrayWrapper`` into the
pickle and the raw array bytes straight after its ``BUILD``, outside the opcode stream.
The walk sizes those bytes from the wrapper's shape and dtype and steps over them (or,
for object arrays, analyses the nested pickle joblib writes there), so a benign joblib
dump parses to its STOP instead of looking malformed.

A file may hold several pickles back to back (legacy ``torch.save`` writes five, a
custom loader can read any number): every later pickle is walked too, whatever byte it
starts with. The bytes after the last one (tensor storage) are not a pickle: they are
told apart by the walk itself, which on raw data fails before any import.
"""

from __future__ import annotations

import math
import pickletools
import re
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
MAX_PICKLES = 64  # pickles walked back to back in one file; more is itself a finding
MAX_NESTING = 8  # joblib object arrays nest a pickle inside a pickle
_VALUE_OPS = {"NONE", "NEWTRUE", "NEWFALSE", "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"}
_JOBLIB_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")


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

    def skip(self, n: int) -> int:
        """Step over ``n`` bytes without keeping them; returns how many there were."""
        got = self._skip(n)
        self._pos += got
        return got

    def seek_to(self, pos: int) -> None:
        """Resynchronise after another walker read the same stream up to ``pos``."""
        self._pos = pos


@dataclass(frozen=True)
class _Global:
    """A class or function the pickle imports (a stack value)."""

    module: str
    name: str


class _Dict(dict):
    """A dict built by the pickle (mutable, so SETITEMS through a memo reference is seen)."""


@dataclass
class _Dtype:
    """``numpy.dtype(descr, ...)`` as pickled: the type string, then BUILD's state tuple."""

    descr: object
    elsize: int = -1
    flags: int | None = None


@dataclass
class _ArrayWrapper:
    """joblib's ``NumpyArrayWrapper``; the array bytes follow its BUILD in the file.

    ``attrs`` accumulates what the loader's instance would hold: ``__init__`` arguments
    (REDUCE/OBJ/INST) and every BUILD's state, so a second BUILD is sized like joblib does.
    """

    attrs: dict[str, object] = field(default_factory=dict)


_WRAPPER_INIT = ("subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes")


def _constructed_wrapper(args: object) -> _ArrayWrapper | object:
    """``NumpyArrayWrapper(*args)``: ``__init__`` sets the attributes (alignment defaults to 16)."""
    if not isinstance(args, tuple):
        return _UNKNOWN
    attrs: dict[str, object] = {"allow_mmap": False, "numpy_array_alignment_bytes": 16}
    attrs.update(zip(_WRAPPER_INIT, args, strict=False))
    return _ArrayWrapper(attrs)


@dataclass
class PickleAnalysis:
    """What one pickle imports and where the walk ended."""

    imports: dict[str, list[int]] = field(default_factory=dict)  # "module\x00name" -> offsets
    findings: list[Finding] = field(default_factory=list)
    end: int = 0
    complete: bool = False  # reached STOP
    opcodes: int = 0
    risky: bool = False  # imported something (or used EXT / a computed import) before it ended
    joblib_arrays: int = 0


def _reduce_value(fn: object, args: object) -> object:
    """The value of ``fn(*args)`` where the walk needs it (dtypes, joblib wrappers), else unknown."""
    if isinstance(fn, _Global) and (fn.module, fn.name) in (("numpy", "dtype"), ("numpy.core.multiarray", "dtype")):
        if isinstance(args, tuple) and args and isinstance(args[0], str):
            return _Dtype(args[0])
    if _is_wrapper_class(fn):
        return _constructed_wrapper(args)
    if (isinstance(fn, _Global) and (fn.module, fn.name) == ("copyreg", "_reconstructor")
            and isinstance(args, tuple) and args and _is_wrapper_class(args[0])):
        return _ArrayWrapper()  # object.__new__(cls): no __init__, no attributes yet
    return _UNKNOWN


def _is_wrapper_class(value: object) -> bool:
    return isinstance(value, _Global) and (value.module, value.name) == _JOBLIB_WRAPPER


def _dtype_layout(dtype: _Dtype) -> tuple[int, bool]:
    """(bytes per element, holds objects) as numpy would see the unpickled dtype.

    Where the type string and the pickled state could disagree (a lying ``elsize`` or
    object flag), the record is refused rather than sized one way: a walk that steps over
    a different number of bytes than the loader reads is how a payload would hide.
    """
    if not isinstance(dtype.descr, str) or len(dtype.descr) > 64:
        raise ValueError(f"joblib array record with an unreadable dtype {dtype.descr!r}")
    import numpy as np

    try:
        parsed = np.dtype(dtype.descr)  # parses a type string; runs nothing
    except (TypeError, ValueError):
        raise ValueError(f"joblib array record with an unknown dtype {dtype.descr!r}") from None
    itemsize = int(parsed.itemsize)
    if parsed.kind in "SUV" and dtype.elsize > 0:
        itemsize = dtype.elsize  # numpy's __setstate__ takes flexible types' size from the state
    elif dtype.elsize > 0 and dtype.elsize != itemsize:
        # numpy ignores it here, but only a crafted file disagrees with itself: refuse
        raise ValueError(f"dtype {dtype.descr!r} pickled with element size {dtype.elsize}")
    by_flags = None if dtype.flags is None else bool(dtype.flags & 1)
    if parsed.kind == "O":
        if by_flags is False:
            raise ValueError("object dtype pickled without its object flag")
        return itemsize, True
    if by_flags and parsed.kind != "V":
        raise ValueError(f"dtype {dtype.descr!r} pickled with the object flag")
    if itemsize <= 0:
        raise ValueError(f"dtype {dtype.descr!r} has no element size")
    return itemsize, bool(by_flags)


def analyse_pickle(
    fh: BinaryIO, display: str, *, start: int = 0, depth: int = 0, joblib: bool = True
) -> PickleAnalysis:
    """Walk one pickle from the stream's current position (``start`` = its offset in the file).

    Args:
        joblib: read as ``joblib.load`` does (array bytes follow a wrapper's BUILD). False
            reads as ``pickle.load``/``torch.load`` do, where those bytes are opcodes.
    """
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

    def pop_mark() -> list[object]:
        items: list[object] = []
        while True:
            item = pop()
            if item is _MARK:
                items.reverse()
                return items
            items.append(item)

    def set_items(target: object, flat: list[object]) -> None:
        if isinstance(target, _Dict):
            for k, v in zip(flat[::2], flat[1::2], strict=False):
                try:
                    target[k] = v
                except TypeError:  # an unhashable key (a dict we model): not needed for any decision
                    pass

    try:
        for op, arg, pos in pickletools.genops(reader):
            result.opcodes += 1
            skipped, reader.skipped = reader.skipped, False
            name = op.name
            if name in _STRING_OPS:
                stack.append(arg if isinstance(arg, str) and not skipped else _UNKNOWN)
            elif name in _VALUE_OPS:
                stack.append({"NONE": None, "NEWTRUE": True, "NEWFALSE": False}.get(name, arg))
            elif name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                result.imports.setdefault(f"{module}\x00{attr}", []).append(pos)
                if name == "INST":
                    stack.append(_reduce_value(_Global(module, attr), tuple(pop_mark())))
                else:
                    stack.append(_Global(module, attr))
            elif name == "OBJ":
                items = pop_mark()
                if not items:
                    raise ValueError("OBJ without a class")
                stack.append(_reduce_value(items[0], tuple(items[1:])))
            elif name == "STACK_GLOBAL":
                attr, module = pop(), pop()
                if isinstance(module, str) and isinstance(attr, str):
                    result.imports.setdefault(f"{module}\x00{attr}", []).append(pos)
                    stack.append(_Global(module, attr))
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
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                items = [pop() for _ in range(n)]
                stack.append(tuple(reversed(items)))
            elif name == "TUPLE":
                stack.append(tuple(pop_mark()))
            elif name == "EMPTY_DICT":
                stack.append(_Dict())
            elif name == "DICT":
                d = _Dict()
                set_items(d, pop_mark())
                stack.append(d)
            elif name == "SETITEM":
                v, k = pop(), pop()
                if not stack:
                    raise ValueError("stack underflow")
                set_items(stack[-1], [k, v])
            elif name == "SETITEMS":
                flat = pop_mark()
                if not stack:
                    raise ValueError("stack underflow")
                set_items(stack[-1], flat)
            elif name == "REDUCE":
                args, fn = pop(), pop()
                stack.append(_reduce_value(fn, args))
            elif name in ("NEWOBJ", "NEWOBJ_EX"):
                if name == "NEWOBJ_EX":
                    pop()
                pop()
                cls = pop()
                stack.append(_ArrayWrapper() if _is_wrapper_class(cls) else _UNKNOWN)
            elif name == "BUILD":
                state = pop()
                if not stack:
                    raise ValueError("stack underflow")
                target = stack[-1]
                if isinstance(target, _Dtype) and isinstance(state, tuple) and len(state) >= 8:
                    if isinstance(state[5], int) and not isinstance(state[5], bool):
                        target.elsize = state[5]
                    if isinstance(state[7], int) and not isinstance(state[7], bool):
                        target.flags = state[7]
                elif isinstance(target, _ArrayWrapper) and joblib:
                    if not isinstance(state, dict):
                        raise ValueError("joblib array record whose state is not a plain dict")
                    target.attrs.update(state)
                    _skip_joblib_array(reader, fh, target.attrs, display, result, depth)
                    result.joblib_arrays += 1
                    stack[-1] = _UNKNOWN  # the loader replaces the wrapper with the array it read
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
    result.risky = result.risky or bool(result.imports or dynamic or ext)

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


def _skip_joblib_array(
    reader: _CappedReader, fh: BinaryIO, state: dict[str, object], display: str, result: PickleAnalysis,
    depth: int,
) -> None:
    """Step over the array bytes joblib writes after a wrapper's BUILD, as its loader reads them.

    Raises ValueError (a malformed-pickle finding) when the record cannot be sized: then
    the gate cannot tell where the pickle resumes and must not guess.
    """
    shape, dtype = state.get("shape"), state.get("dtype")
    if not isinstance(dtype, _Dtype):
        raise ValueError("joblib array record with an unreadable dtype")
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError("joblib array record with an unreadable shape")
    itemsize, hasobject = _dtype_layout(dtype)
    if hasobject:
        # joblib pickles object arrays as a nested pickle at this point and reads it back with
        # a plain Unpickler (wrappers in it are ordinary objects): its imports run on load
        if depth >= MAX_NESTING:
            raise ValueError("joblib object arrays nested too deep")
        inner = analyse_pickle(fh, display, start=reader.tell(), depth=depth + 1, joblib=False)
        for key, offsets in inner.imports.items():
            result.imports.setdefault(key, []).extend(offsets)
        result.findings.extend(f for f in inner.findings if f.rule != "pickle/format")
        result.risky = result.risky or inner.risky
        reader.seek_to(inner.end)
        if not inner.complete:
            raise ValueError("joblib object array's nested pickle does not end")
        return
    if state.get("numpy_array_alignment_bytes") is not None:
        pad = reader.read(1)
        if len(pad) != 1 or len(reader.read(pad[0])) != pad[0]:
            raise ValueError("joblib array padding runs past the end of the file")
    nbytes = math.prod(shape) * itemsize
    if reader.skip(nbytes) != nbytes:
        raise ValueError(f"joblib array of {nbytes} bytes runs past the end of the file")


_IDENT = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z")
_IMPORT_RULES = {"pickle/dangerous-import", "pickle/unknown-import"}


def _walk_all(
    fh: BinaryIO, size: int, display: str, start: int, *, joblib: bool
) -> tuple[list[Finding], set[str], int]:
    """Every pickle from ``start`` on, back to back: (findings, imports, joblib arrays seen)."""
    findings: list[Finding] = []
    imports: set[str] = set()
    arrays = 0
    offset = start
    count = 0
    while True:
        if fh.seekable():
            fh.seek(offset)
        analysis = analyse_pickle(fh, display, start=offset, joblib=joblib)
        if count and not analysis.complete and not analysis.risky:
            break  # raw data after the last pickle (legacy torch storages): nothing a loader unpickles
        count += 1
        arrays += analysis.joblib_arrays
        findings.extend(analysis.findings)
        imports.update(k.replace("\x00", ".") for k in analysis.imports)
        offset = analysis.end
        if not analysis.complete or offset >= size or not fh.seekable():
            break
        if count >= MAX_PICKLES:
            findings.append(Finding(
                "pickle/malformed", "high", display,
                f"more than {MAX_PICKLES} pickles back to back; the rest (from byte {offset}) is not analysed",
                {"offset": offset},
            ))
            break
    return findings, imports, arrays


def check_pickle(fh: BinaryIO, size: int, display: str, *, start: int = 0) -> list[Finding]:
    """Analyse the pickle(s) in a file, one after another until the bytes stop being a pickle.

    A file with joblib array records is walked twice: as ``joblib.load`` reads it (array
    bytes skipped) and as ``pickle.load``/``torch.load`` read it (array bytes are opcodes),
    so a payload hidden in "array data" for one loader is still seen. The second walk is
    expected to fail on real array bytes; only imports of identifier-like names it meets
    count, since raw floats rarely spell ``module\nname\n``.
    """
    findings, imports, arrays = _walk_all(fh, size, display, start, joblib=True)
    if arrays and fh.seekable():
        plain, _, _ = _walk_all(fh, size, display, start, joblib=False)
        seen = {(f.rule, f.detail.get("import")) for f in findings}
        for f in plain:
            name = str(f.detail.get("import", ""))
            if f.rule in _IMPORT_RULES and (f.rule, name) not in seen and _IDENT.match(name):
                findings.append(f)
                seen.add((f.rule, name))
                imports.add(name)
    if not findings:
        listed = ", ".join(sorted(imports)) or "none"
        findings.append(Finding(
            "pickle/format", "medium", display,
            f"pickle file; every import is allowlisted ({listed}); prefer safetensors",
            {"imports": sorted(imports)},
        ))
    return findings
