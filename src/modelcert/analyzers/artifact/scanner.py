"""Walk a file or model folder, identify each file by content and run the matching check.

Files are read through streams and only as far as their check needs: headers, opcode
streams and metadata, never the tensor payload. Archive members become nested "blobs"
and go through the same dispatch; the gate fails closed (an unexpected error on a file
is itself a blocking finding).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import stat
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from modelcert.analyzers.artifact import formats
from modelcert.analyzers.artifact.gguf_check import check_gguf
from modelcert.analyzers.artifact.hf_check import MAX_JSON, check_json
from modelcert.analyzers.artifact.numpy_check import check_npy
from modelcert.analyzers.artifact.onnx_check import check_onnx
from modelcert.analyzers.artifact.pickle_check import check_pickle
from modelcert.analyzers.artifact.report import Finding, ScanReport
from modelcert.analyzers.artifact.safetensors_check import check_safetensors
from modelcert.analyzers.artifact.template_check import check_template
from modelcert.errors import ConfigError

MAX_TEMPLATE = 4 * 1024 * 1024
_IMPORT_RULES = {"pickle/dangerous-import", "pickle/unknown-import", "pickle/dynamic-import",
                 "pickle/extension-registry"}


@dataclass
class Limits:
    """Bounds that keep a hostile archive from exhausting the auditor's machine."""

    max_depth: int = 4  # archive nesting
    max_expand: int = 8 * 1024**3  # bytes decompressed into temporary files, per scan
    max_ratio: int = 200  # uncompressed / compressed size of one member
    max_members: int = 100_000


@dataclass
class Blob:
    """One file to check: a real file or an archive member."""

    display: str
    size: int
    opener: Callable[[], contextlib.AbstractContextManager[BinaryIO]]
    path: Path | None = None  # set for real files (needed to resolve ONNX external data)
    depth: int = 0

    @property
    def basename(self) -> str:
        return self.display.rsplit("!", 1)[-1].replace("\\", "/").rsplit("/", 1)[-1]


class Scanner:
    """Holds the report and limits of one scan; see :func:`scan_path`."""

    def __init__(self, root: Path, limits: Limits | None = None) -> None:
        self.root = root
        self.limits = limits or Limits()
        self.report = ScanReport(root=str(root))
        self.expanded = 0

    def add(self, findings: list[Finding]) -> None:
        self.report.findings.extend(findings)

    def scan_blob(self, blob: Blob) -> None:
        try:
            self._dispatch(blob)
        except Exception as exc:  # fail closed, never crash the audit
            self.add([Finding("gate/error", "high", blob.display, f"analysis failed: {type(exc).__name__}: {exc}")])

    def _dispatch(self, blob: Blob) -> None:
        with blob.opener() as fh:
            head = fh.read(formats.HEAD_BYTES)
        fmt = formats.identify(head, blob.size)
        expected = formats.expected_format(blob.basename)
        if expected == "safetensors" and fmt in ("unknown", "text", "json"):
            fmt = "safetensors"  # let the strict parser say precisely what is wrong
        elif expected == "onnx" and fmt == "unknown":
            fmt = "onnx"
        self.report.files[blob.display] = fmt
        if expected and fmt != expected and fmt in formats.CODE_CAPABLE:
            self.add([Finding("format/extension-mismatch", "high", blob.display,
                              f"named like {expected} but the content is {fmt}", {"format": fmt})])
        weight_like = blob.basename.lower().endswith(formats.WEIGHT_EXTENSIONS)
        before = len(self.report.findings)
        check = getattr(self, f"_check_{fmt}", None)
        if check is not None:
            check(blob)
        elif fmt in formats.OPAQUE:
            self.add([Finding("format/not-analysed", "high", blob.display,
                              f"{fmt} stream or archive: the gate cannot look inside it", {"format": fmt})])
        elif fmt == "unknown":
            self.add([Finding("format/unknown", "low", blob.display, "unidentified binary content")])
        if weight_like:
            self._unknown_weights_block(before)
        if fmt not in ("pickle", "empty") and formats.looks_like_pickle(head, blob.size, strict=True):
            self._polyglot(blob, fmt)
        if fmt != "zip" and blob.path is not None and blob.size >= 22 and zipfile.is_zipfile(blob.path):
            # zip readers find the central directory at the end, whatever precedes it
            self.add([Finding("format/polyglot", "high", blob.display,
                              f"the {fmt} file also holds a zip archive (found from its end)", {"format": fmt})])
            self._check_zip(blob)

    def _unknown_weights_block(self, since: int) -> None:
        """A weight-like name is what torch.load / pickle.load / joblib.load get pointed at: content
        there that no parser here claims cannot be vouched for, so it blocks."""
        for i in range(since, len(self.report.findings)):
            f = self.report.findings[i]
            if f.rule == "format/unknown" and not f.blocking:
                self.report.findings[i] = Finding(
                    f.rule, "high", f.file,
                    f"{f.message}, under a name that model loaders open (torch/pickle/joblib/numpy)", f.detail,
                )

    def _polyglot(self, blob: Blob, fmt: str) -> None:
        """Bytes that are another format *and* walk as a pickle (a tar whose first member name is
        a pickle, say): a loader that unpickles them runs that pickle, so its imports count too."""
        with blob.opener() as fh:
            found = [f for f in check_pickle(fh, blob.size, blob.display)
                     if f.blocking and f.rule in _IMPORT_RULES]
        if found:
            self.add([Finding("format/polyglot", "high", blob.display,
                              f"the {fmt} file also parses as a pickle that imports code", {"format": fmt}),
                      *found])

    # -- one method per format -------------------------------------------------------
    def _check_safetensors(self, blob: Blob) -> None:
        with blob.opener() as fh:
            self.add(check_safetensors(fh, blob.size, blob.display))

    def _check_pickle(self, blob: Blob) -> None:
        with blob.opener() as fh:
            self.add(check_pickle(fh, blob.size, blob.display))

    def _check_numpy(self, blob: Blob) -> None:
        with blob.opener() as fh:
            self.add(check_npy(fh, blob.size, blob.display))

    def _check_gguf(self, blob: Blob) -> None:
        with blob.opener() as fh:
            self.add(check_gguf(fh, blob.size, blob.display))

    def _check_onnx(self, blob: Blob) -> None:
        model_dir = blob.path.parent if blob.path is not None else None
        with self._buffer(blob) as buf:
            self.add(check_onnx(buf, blob.display, model_dir=model_dir, root=self.root))

    def _check_hdf5(self, blob: Blob) -> None:
        self.add([Finding("format/not-analysed", "medium", blob.display,
                          "HDF5 file: Keras models in it can carry marshalled Lambda code, which is not analysed")])

    def _check_json(self, blob: Blob) -> None:
        if blob.size <= MAX_JSON:
            with blob.opener() as fh:
                self.add(check_json(fh.read(), blob.display))

    def _check_text(self, blob: Blob) -> None:
        name = blob.basename.lower()
        if name.endswith(".py"):
            self.add([Finding("hf/python-file", "medium", blob.display,
                              "Python source: transformers runs it when loaded with trust_remote_code")])
        elif name.endswith(".jinja") and blob.size <= MAX_TEMPLATE:
            with blob.opener() as fh:
                source = fh.read().decode("utf-8", errors="replace")
            self.add(check_template(source, blob.display, "template file"))

    def _check_zip(self, blob: Blob) -> None:
        from modelcert.analyzers.artifact.archives import scan_zip

        scan_zip(self, blob)

    def _check_tar(self, blob: Blob) -> None:
        from modelcert.analyzers.artifact.archives import scan_tar

        scan_tar(self, blob)

    def _check_gzip(self, blob: Blob) -> None:
        from modelcert.analyzers.artifact.archives import scan_compressed

        scan_compressed(self, blob)

    _check_bzip2 = _check_xz = _check_zlib = _check_lzma = _check_gzip

    @contextlib.contextmanager
    def _buffer(self, blob: Blob) -> Iterator[memoryview]:
        """Random access to a blob: an mmap for real files, a temporary copy for members."""
        if blob.path is not None:
            if blob.size == 0:
                yield memoryview(b"")
                return
            with open(blob.path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                view = memoryview(mm)
                try:
                    yield view
                finally:
                    view.release()
            return
        from modelcert.analyzers.artifact.archives import spool

        with blob.opener() as src, spool(self, src, blob.display) as tmp:
            if tmp.seek(0, 2) == 0:
                yield memoryview(b"")
                return
            fd = tmp.fileno()  # rolls an in-memory spool over to a real temporary file
            with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mm:
                view = memoryview(mm)
                try:
                    yield view
                finally:
                    view.release()

    # -- the file system --------------------------------------------------------------
    def scan_tree(self, top: Path) -> None:
        if top.is_file():
            self._scan_entry(top, top.name)
            return
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            dirnames.sort()
            here = Path(dirpath)
            for name in sorted(filenames) + [d for d in dirnames if (here / d).is_symlink()]:
                self._scan_entry(here / name, (here / name).relative_to(top).as_posix())

    def _scan_entry(self, path: Path, display: str) -> None:
        try:
            st = path.lstat()
        except OSError as exc:
            self.add([Finding("fs/unreadable", "high", display, f"cannot stat: {exc.strerror}")])
            return
        if stat.S_ISLNK(st.st_mode):
            self._check_link(path, display)
            return
        if not stat.S_ISREG(st.st_mode):
            self.add([Finding("fs/unreadable", "high", display, "not a regular file (device, FIFO or socket)")])
            return
        if not os.access(path, os.R_OK):
            self.add([Finding("fs/unreadable", "high", display, "permission denied")])
            return
        self.scan_blob(Blob(display, st.st_size, lambda: open(path, "rb"), path=path))

    def _check_link(self, path: Path, display: str) -> None:
        """Links inside the folder are scanned under their target's name; links leaving it are
        followed only to regular files (the Hugging Face cache links every file into ``blobs/``)."""
        target = os.readlink(path)
        real = Path(os.path.realpath(path))
        if not real.exists():
            self.add([Finding("fs/symlink", "medium", display, f"dangling symbolic link to {target!r}")])
        elif real.is_relative_to(Path(os.path.realpath(self.root))):
            self.report.files[display] = "link"
        elif real.is_file():
            self.add([Finding("fs/symlink", "low", display,
                              f"link to {real} outside the folder; its content was scanned", {"target": target})])
            self.scan_blob(Blob(display, real.stat().st_size, lambda: open(real, "rb"), path=real))
        else:
            self.add([Finding("fs/symlink", "high", display,
                              f"link to {target!r} (a directory or special file outside the folder) "
                              "was not followed", {"target": target})])


def scan_path(path: str | os.PathLike[str], *, limits: Limits | None = None) -> ScanReport:
    """Scan a model file or folder before anything loads it.

    Args:
        path: a checkpoint folder (every file below it is checked, links are not
            followed) or a single file.
        limits: archive nesting / expansion bounds; the defaults suit checkpoints.

    Returns:
        The :class:`ScanReport`; ``report.blocking`` means "do not load".

    Raises:
        ConfigError: the path does not exist.
    """
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        raise ConfigError(f"no such file or directory: {path}")
    p = Path(os.path.realpath(p)) if p.is_dir() else p
    root = p if p.is_dir() else p.parent
    scanner = Scanner(root, limits)
    scanner.report.root = str(p)
    scanner.scan_tree(p)
    return scanner.report
