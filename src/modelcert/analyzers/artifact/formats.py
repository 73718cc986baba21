"""Identify a file's format from its first bytes; the extension is only compared, never trusted.

Pickles have no magic number: a pickle is whatever an unpickler can walk to a STOP, and
it may start with almost any opcode (``\x80\x00`` and ``\x80\x01`` protocol headers, a
FRAME without a header, EMPTY_SET, SHORT_BINBYTES ...). So pickles are identified by
walking the opcodes, never by a list of first bytes.
"""

from __future__ import annotations

import io
import json
import lzma
import pickletools
import re
import struct
import zlib

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
CODE_CAPABLE = {
    "pickle", "zip", "tar", "gzip", "bzip2", "xz", "zlib", "lzma", "lz4", "zstd", "7z", "rar", "numpy", "hdf5",
}
ARCHIVES = {"zip", "tar", "gzip", "bzip2", "xz", "zlib", "lzma"}
OPAQUE = {"zstd", "7z", "rar", "lz4"}
# Names that loaders open with torch.load / pickle.load / joblib.load / numpy.load: content
# under them that no parser here claims is a blocking finding, not "unknown, low".
WEIGHT_EXTENSIONS = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".npy", ".npz")

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
    (0, b"\x04\x22\x4d\x18", "lz4"),  # LZ4 frame (a joblib compressor)
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
    if _is_json(head):
        return "json"
    if _is_onnx(head):
        return "onnx"
    compressed = _compressed_stream(head)
    if compressed:
        return compressed
    if looks_like_pickle(head, size):
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


def _compressed_stream(head: bytes) -> str | None:
    """zlib and raw LZMA ("alone") streams, as joblib writes them; both lack a real magic
    number, so a trial decompression of the head decides."""
    if len(head) >= 2 and head[0] & 0x0F == 8 and head[0] >> 4 <= 7 and (head[0] << 8 | head[1]) % 31 == 0:
        try:
            zlib.decompressobj().decompress(head, 4096)
            return "zlib"
        except zlib.error:
            pass
    if head[:3] == b"\x5d\x00\x00":
        try:
            lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(head, 4096)
            return "lzma"
        except lzma.LZMAError:
            pass
    return None


def looks_like_pickle(head: bytes, size: int, *, strict: bool = False) -> bool:
    """Confirm a pickle by walking its opcodes over the head.

    Accepted when the walk reaches a STOP after at least one other opcode (at any
    protocol), or meets an import of an identifier-like name before failing (a loader
    would have executed it). Unless ``strict``, also when at least two opcodes parse and
    the next one runs past the end of a head that the file continues past: a pickle
    larger than the head. (Random bytes reach the head's end only inside their first
    opcode, a line or length that swallows everything.)
    """
    stream = io.BytesIO(head)
    done = 0
    try:
        for index, (op, arg, _pos) in enumerate(pickletools.genops(stream)):
            if op.name in ("GLOBAL", "INST") and isinstance(arg, str):
                module, _, name = arg.partition(" ")
                if _IDENT.match(module) and _IDENT.match(name):
                    return True
            elif op.name == "STACK_GLOBAL":
                return index >= 2  # needs a module and a name pushed before it
            if op.name == "STOP":
                return index > 0
            done = index + 1
    except Exception:  # any parse failure means "not confirmed"
        if strict:
            return False
        return done >= 2 and len(head) < size and stream.tell() >= len(head) - 16 and len(head) >= 1024
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
