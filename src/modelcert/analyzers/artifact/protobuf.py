"""A minimal protobuf wire-format reader: enough to walk ONNX without depending on ``onnx``.

It works on a buffer (bytes or an ``mmap``), so skipping a multi-GB ``raw_data`` field
costs nothing: only the bytes actually inspected are paged in.
"""

from __future__ import annotations

from collections.abc import Iterator

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5


def read_varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; return (value, next position)."""
    value = shift = 0
    while True:
        if pos >= end:
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def iter_fields(
    buf: memoryview, start: int, end: int, *, lenient_tail: bool = False
) -> Iterator[tuple[int, int, int | tuple[int, int]]]:
    """Yield (field number, wire type, value) for each field of the message in ``buf[start:end]``.

    For length-delimited fields the value is the (start, end) span, not the bytes, so
    callers decide what to read. ``lenient_tail`` stops quietly at a field cut off by
    ``end`` (used when only the head of a file is available).
    """
    pos = start
    while pos < end:
        try:
            key, pos = read_varint(buf, pos, end)
        except ValueError:
            if lenient_tail:
                return
            raise
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == VARINT:
            try:
                value, pos = read_varint(buf, pos, end)
            except ValueError:
                if lenient_tail:
                    return
                raise
            yield number, wire, value
        elif wire in (I64, I32):
            width = 8 if wire == I64 else 4
            if pos + width > end:
                if lenient_tail:
                    return
                raise ValueError("truncated fixed-width field")
            yield number, wire, int.from_bytes(buf[pos : pos + width], "little")
            pos += width
        elif wire == LEN:
            try:
                length, pos = read_varint(buf, pos, end)
            except ValueError:
                if lenient_tail:
                    return
                raise
            if pos + length > end:
                if lenient_tail:
                    yield number, wire, (pos, end)
                    return
                raise ValueError(f"field {number} runs past the end of its message")
            yield number, wire, (pos, pos + length)
            pos += length
        else:
            raise ValueError(f"unsupported wire type {wire}")


def text(buf: memoryview, span: tuple[int, int]) -> str:
    return bytes(buf[span[0] : span[1]]).decode("utf-8", errors="replace")
