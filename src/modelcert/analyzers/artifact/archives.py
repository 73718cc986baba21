"""Archives: zip (including PyTorch checkpoints), tar, and gzip/bzip2/xz/zlib/lzma streams.

Members are never extracted to disk under their own names. Each member is checked for
zip-slip names, links, duplicates and decompression bombs, then its content goes back
through the scanner's format dispatch (so a pickle three archives deep is still
analysed). PyTorch zip checkpoints keep raw tensor bytes under ``<name>/data/<n>``;
those are storage, read by offset and never unpickled, so they are not identified.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import re
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from modelcert.analyzers.artifact.report import Finding

if TYPE_CHECKING:
    from modelcert.analyzers.artifact.scanner import Blob, Scanner

_DRIVE = re.compile(r"^[A-Za-z]:")
_TORCH_STORAGE = re.compile(r"(?:^|/)data/\d+$")
_SPOOL_IN_MEMORY = 32 * 1024 * 1024


class _Budget(Exception):
    pass


@contextlib.contextmanager
def spool(scanner: Scanner, src: BinaryIO, display: str) -> Iterator[BinaryIO]:
    """Copy a stream into a seekable temporary file, counting against the scan's expansion budget."""
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as tmp:
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            scanner.expanded += len(chunk)
            if scanner.expanded > scanner.limits.max_expand:
                raise _Budget(f"{display}: expands past the {scanner.limits.max_expand}-byte scan budget")
            tmp.write(chunk)
        tmp.seek(0)
        yield tmp


def _unsafe_name(name: str) -> str | None:
    parts = re.split(r"[\\/]", name)
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "absolute path"
    if ".." in parts:
        return "'..' component"
    return None


def _member_blob(outer: Blob, name: str, size: int, opener: Callable[[], Any]) -> Blob:
    from modelcert.analyzers.artifact.scanner import Blob

    return Blob(f"{outer.display}!{name}", size, opener, depth=outer.depth + 1)


def _too_deep(scanner: Scanner, blob: Blob) -> bool:
    if blob.depth >= scanner.limits.max_depth:
        scanner.add([Finding("archive/too-deep", "high", blob.display,
                             f"archive nested {blob.depth + 1} levels deep; not analysed further")])
        return True
    return False


@contextlib.contextmanager
def _seekable(scanner: Scanner, blob: Blob) -> Iterator[BinaryIO]:
    """Real files open directly; members are spooled (zipfile and tarfile seek backwards)."""
    with blob.opener() as fh:
        if blob.path is not None:
            yield fh
        else:
            with spool(scanner, fh, blob.display) as tmp:
                yield tmp


def scan_zip(scanner: Scanner, blob: Blob) -> None:
    if _too_deep(scanner, blob):
        return
    try:
        with _seekable(scanner, blob) as fh, zipfile.ZipFile(fh) as zf:
            _zip_members(scanner, blob, zf)
    except _Budget as exc:
        scanner.add([Finding("archive/bomb", "high", blob.display, str(exc))])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError) as exc:
        scanner.add([Finding("archive/malformed", "high", blob.display, f"unreadable zip: {exc}")])


def _zip_members(scanner: Scanner, blob: Blob, zf: zipfile.ZipFile) -> None:
    infos = zf.infolist()
    if len(infos) > scanner.limits.max_members:
        scanner.add([Finding("archive/bomb", "high", blob.display, f"{len(infos)} members")])
        return
    names = [i.filename for i in infos]
    torch_roots = {n[: -len("data.pkl")] for n in names if n.endswith("data.pkl")}
    if any(n.startswith(tuple(torch_roots)) and "/code/" in n for n in names) and torch_roots:
        scanner.add([Finding("torch/torchscript", "medium", blob.display,
                             "TorchScript archive: torch.jit.load compiles and runs its code/ files")])
    seen: set[str] = set()
    for info in infos:
        name = info.filename
        display = f"{blob.display}!{name}"
        if name in seen:
            scanner.add([Finding("archive/duplicate-member", "high", display,
                                 "member appears twice; readers disagree on which one counts")])
        seen.add(name)
        why = _unsafe_name(name)
        if why:
            scanner.add([Finding("archive/path-traversal", "critical", display, f"member name is an {why}")])
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            scanner.add([Finding("archive/link", "high", display, "symbolic link member")])
            continue
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            scanner.add([Finding("archive/encrypted", "high", display, "encrypted member cannot be analysed")])
            continue
        if any(name.startswith(r) and _TORCH_STORAGE.search(name[len(r):]) for r in torch_roots):
            scanner.report.files[display] = "tensor-storage"
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > scanner.limits.max_ratio and info.file_size > 10 * 1024 * 1024:
            scanner.add([Finding("archive/bomb", "high", display,
                                 f"compression ratio {ratio:.0f}:1 ({info.file_size} bytes); not analysed")])
            continue
        scanner.scan_blob(_member_blob(blob, name, info.file_size,
                                       lambda info=info: _open_member(zf, info)))


def _open_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> BinaryIO:
    """A member as PyTorch's zip reader sees it: without the CRC check. torch.load ignores a
    wrong CRC, so a payload behind one must still be analysed, not turned into a read error."""
    fh = zf.open(info)
    if hasattr(fh, "_expected_crc"):
        fh._expected_crc = None  # zipfile's ZipExtFile skips the check when this is None
    return fh


def scan_tar(scanner: Scanner, blob: Blob) -> None:
    if _too_deep(scanner, blob):
        return
    try:
        with _seekable(scanner, blob) as fh, tarfile.open(fileobj=fh, mode="r:") as tf:
            _tar_members(scanner, blob, tf)
    except _Budget as exc:
        scanner.add([Finding("archive/bomb", "high", blob.display, str(exc))])
    except (tarfile.TarError, EOFError, OSError) as exc:
        scanner.add([Finding("archive/malformed", "high", blob.display, f"unreadable tar: {exc}")])


def _tar_members(scanner: Scanner, blob: Blob, tf: tarfile.TarFile) -> None:
    seen: set[str] = set()
    for count, member in enumerate(tf):
        if count >= scanner.limits.max_members:
            scanner.add([Finding("archive/bomb", "high", blob.display, "too many members")])
            return
        name = member.name
        display = f"{blob.display}!{name}"
        if name in seen:
            scanner.add([Finding("archive/duplicate-member", "high", display,
                                 "member appears twice; the later one overwrites the earlier")])
        seen.add(name)
        why = _unsafe_name(name)
        if why:
            scanner.add([Finding("archive/path-traversal", "critical", display, f"member name is an {why}")])
        if member.issym() or member.islnk():
            escape = _unsafe_name(member.linkname)
            scanner.add([Finding(
                "archive/link", "critical" if escape else "high", display,
                f"{'symbolic' if member.issym() else 'hard'} link to {member.linkname!r}"
                + (f" ({escape})" if escape else ""), {"target": member.linkname},
            )])
            continue
        if member.ischr() or member.isblk() or member.isfifo():
            scanner.add([Finding("archive/special-file", "high", display, "device or FIFO member")])
            continue
        if not member.isfile():
            continue
        scanner.scan_blob(_member_blob(blob, name, member.size,
                                       lambda member=member: tf.extractfile(member)))


class _ZlibReader:
    """A read-only file over a zlib stream (joblib's ``compress='zlib'``); the stdlib has none."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._z = zlib.decompressobj()
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        n = 1 << 20 if n is None or n < 0 else n
        while len(self._buf) < n and not self._z.eof:
            chunk = self._z.unconsumed_tail or self._raw.read(1 << 16)
            if not chunk:
                raise EOFError("zlib stream ends before its end marker")
            self._buf += self._z.decompress(chunk, n)
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def __enter__(self) -> _ZlibReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None


_DECOMPRESSORS: dict[str, tuple[Callable[[BinaryIO], Any], str]] = {
    "gzip": (lambda raw: gzip.GzipFile(fileobj=raw), ".gz"),
    "bzip2": (bz2.BZ2File, ".bz2"),
    "xz": (lzma.LZMAFile, ".xz"),
    "zlib": (_ZlibReader, ".z"),
    "lzma": (lambda raw: lzma.LZMAFile(raw, format=lzma.FORMAT_ALONE), ".lzma"),
}


def scan_compressed(scanner: Scanner, blob: Blob) -> None:
    """A gzip/bzip2/xz/zlib/lzma stream: decompress into a temporary file and scan what comes out.

    The decompressed bytes count against the scan's expansion budget (``Limits.max_expand``),
    which is the size cap: a stream that expands past it is an ``archive/bomb``. A stream
    without a matching suffix keeps its name inside (``model.joblib!model.joblib``), since
    that name is what the loader was given.
    """
    if _too_deep(scanner, blob):
        return
    fmt = scanner.report.files.get(blob.display, "gzip")
    opener, suffix = _DECOMPRESSORS[fmt]
    base = blob.basename
    if base.lower().endswith(".tgz"):
        inner = base[:-4] + ".tar"
    else:
        inner = base[: -len(suffix)] if base.lower().endswith(suffix) else base
    try:
        with blob.opener() as raw, opener(raw) as stream, spool(scanner, stream, blob.display) as tmp:
            size = tmp.seek(0, 2)
            tmp.seek(0)
            scanner.scan_blob(_member_blob(blob, inner, size,
                                           lambda: contextlib.nullcontext(_Rewound(tmp))))
    except _Budget as exc:
        scanner.add([Finding("archive/bomb", "high", blob.display, str(exc))])
    except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError) as exc:
        scanner.add([Finding("archive/malformed", "high", blob.display, f"unreadable {fmt} stream: {exc}")])


class _Rewound:
    """A view of a spooled file that starts at 0 every time a check opens it."""

    def __init__(self, fh: BinaryIO) -> None:
        fh.seek(0)
        self._fh = fh

    def __getattr__(self, name: str) -> object:
        return getattr(self._fh, name)


__all__ = ["scan_compressed", "scan_tar", "scan_zip", "spool"]
