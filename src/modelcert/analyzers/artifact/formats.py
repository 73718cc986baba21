"""Identify a file's format from its first bytes; the extension is only compared, never trusted."""

from __future__ import annotations

import io
import json
import pickletools
import re
import struct

HEAD_BYTES = 64 * 1024

# Formats whose loaders never execute code; a different content under these names is a disguise.
DATA_ONLY_EXTENSIONS = {
    ".safetensors": "safetensors",
    ".gguf": "gguf",
    ".onnx": "onnx",
    ".json": "json",
    ".npy": "numpy",
    ".txt": "text",
}
CODE_CAPABLE = {"pickle", "zip", "tar", "gzip", "bzip2", "xz", "zstd", "7z", "rar", "numpy", "hdf5"}
ARCHIVES = {"zip", "tar", "gzip", "bzip2", "xz"}
OPAQUE = {"zstd", "7z", "rar"}

_MAGIC: list[tuple[int, bytes, str]] = [
    (0, b"GGUF", "gguf"),
    (0, b"PK\x03\x04", "zip"),
    (0, b"PK\x05\x06", "zip"),  # empty zip
    (0, b"\x1f\x8b", "gzip"),
    (0, b"BZh", "bzip2"),
    (0, b"\xfd7zXZ\x00", "xz"),
    (0, b"\x28\xb5\x2f\xfd", "zstd"),
    (0, b"7z\xbc\xaf\x27\x1c", "7z"),
    (0, b"Rar!\x1a\x07", "rar"),
    (0, b"\x93NUMPY", "numpy"),
    (0, b"\x89HDF\r\n\x1a\n", "hdf5"),
    (257, b"ustar", "tar"),
]
_IDENT = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*\Z")
_IMPORT_OPS = {"GLOBAL", "INST", "STACK_GLOBAL"}
SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024  # the reference implementation's limit


def identify(head: bytes, size: int) -> str:
    """Name the format of a file given its first bytes (up to :data:`HEAD_BYTES`) and size."""
    if size == 0:
        return "empty"
    for offset, magic, name in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return name
    if _is_safetensors(head, size):
        return "safetensors"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5 and looks_like_pickle(head, size):
        return "pickle"
    if _is_json(head):
        return "json"
    if _is_onnx(head):
        return "onnx"
    if head[:1] in _PICKLE_STARTS and looks_like_pickle(head, size):
        return "pickle"
    if _is_text(head):
        return "text"
    return "unknown"


def _is_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= min(SAFETENSORS_MAX_HEADER, size - 8) and head[8:9] == b"{"


def _is_json(head: bytes) -> bool:
    stripped = head.lstrip(b" \t\r\n\xef\xbb\xbf")
    if stripped[:1] not in (b"{", b"["):
        return False
    if len(head) < HEAD_BYTES:
        try:
            json.loads(head.decode("utf-8-sig"))
            return True
        except (UnicodeDecodeError, ValueError):
            return False
    return _is_text(head)


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a multi-byte character cut by the head boundary
    return True


# Opcodes a pickle can plausibly start with (protocols 0 and 1 have no PROTO opcode).
_PICKLE_STARTS = {bytes([c]) for c in b"(c]})NIFLSVijpglKJMGTUXq\x88\x89"}


def looks_like_pickle(head: bytes, size: int) -> bool:
    """Confirm a pickle by walking its opcodes over the head.

    Accepted when the walk reaches STOP, runs cleanly to the end of the head, or meets an
    import of an identifier-like name before failing (a loader would have executed it).
    """
    stream = io.BytesIO(head)
    try:
        for op, arg, _pos in pickletools.genops(stream):
            if op.name in ("GLOBAL", "INST") and isinstance(arg, str):
                module, _, name = arg.partition(" ")
                if _IDENT.match(module) and _IDENT.match(name):
                    return True
            elif op.name == "STACK_GLOBAL":
                return True
            if op.name == "STOP":
                return True
    except Exception:  # any parse failure means "not confirmed"
        return len(head) < size and stream.tell() >= len(head) - 16 and len(head) >= 1024
    return False


def _is_onnx(head: bytes) -> bool:
    """ModelProto starts with ir_version (field 1, varint) and its top-level fields parse."""
    if head[:1] != b"\x08" or len(head) < 8:
        return False
    from modelcert.analyzers.artifact.protobuf import iter_fields

    fields = set()
    try:
        for number, _wire, _value in iter_fields(memoryview(head), 0, len(head), lenient_tail=True):
            fields.add(number)
    except ValueError:
        return False
    return 1 in fields and bool(fields & {7, 8}) and fields <= _ONNX_MODEL_FIELDS


_ONNX_MODEL_FIELDS = {1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 21, 25, 26}


def expected_format(filename: str) -> str | None:
    """The format a data-only extension promises, if any."""
    lower = filename.lower()
    for ext, fmt in DATA_ONLY_EXTENSIONS.items():
        if lower.endswith(ext):
            return fmt
    return None
