"""A corpus of crafted malicious model files and of benign ones, written at test time.

Nothing here is committed as a live payload: every file is built from code when a test
asks for it. Each malicious file runs ``touch PWNED-<technique>`` (relative to the
working directory) when its loader opens it; ``test_artifact_corpus`` proves that with
the real loaders in a subprocess, then proves the gate blocks every one without running
any. Techniques come from the red-team findings in issue 17 and from public picklescan /
modelscan advisories (each entry names its source).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import marshal
import os
import pickle
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Technique:
    name: str
    filename: str
    data: bytes
    loader: str  # how a victim opens it: pickle | pickle_seq | torch | joblib | numpy
    source: str


def _u(s: str) -> bytes:
    """SHORT_BINUNICODE."""
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def _s0(s: str) -> bytes:
    """Protocol-0 STRING (single-quoted repr)."""
    return b"S" + repr(s).encode() + b"\n"


def _v0(s: str) -> bytes:
    """Protocol-0 UNICODE (raw-unicode-escape line)."""
    return b"V" + s.encode("raw_unicode_escape") + b"\n"


def _cmd(name: str) -> str:
    return f"touch PWNED-{name}"


def _p0_system(cmd: str) -> bytes:
    """``os.system(cmd)`` in protocol-0 opcodes, ending with STOP."""
    return b"cos\nsystem\n(" + _s0(cmd) + b"tR."


def _p4_system(cmd: str) -> bytes:
    """``os.system(cmd)`` with STACK_GLOBAL (protocol 4 opcodes), ending with STOP."""
    return _u("os") + _u("system") + b"\x93" + _u(cmd) + b"\x85R."


class _Call:
    """Pickles as ``module.name(*args)`` (the callable is looked up when pickling)."""

    def __init__(self, module: str, name: str, args: tuple[object, ...]) -> None:
        import importlib
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.fn = getattr(importlib.import_module(module), name)
        self.args = args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (self.fn, self.args)


class _Reduce:
    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.cmd,))


def _torch_zip_with(data_pkl: bytes, *, bad_crc: bool = False) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/data.pkl"):
                data = data_pkl
            dst.writestr(info, data)
    raw = bytearray(out.getvalue())
    if bad_crc:
        # patch the data.pkl CRC in both the local header and the central directory
        for sig, crc_at, name_len_at, name_at in ((b"PK\x03\x04", 14, 26, 30), (b"PK\x01\x02", 16, 28, 46)):
            pos = raw.find(sig)
            while pos >= 0:
                (n,) = struct.unpack_from("<H", raw, pos + name_len_at)
                if raw[pos + name_at: pos + name_at + n].endswith(b"/data.pkl"):
                    struct.pack_into("<I", raw, pos + crc_at, 0xDEADBEEF)
                pos = raw.find(sig, pos + 4)
    return bytes(raw)


def _legacy_torch(main_pickle: bytes) -> bytes:
    """An old-style ``torch.save`` file: magic, protocol, sys_info, the object, storage keys."""
    import torch.serialization as ts

    sys_info = {"protocol_version": ts.PROTOCOL_VERSION, "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4}}
    return (pickle.dumps(ts.MAGIC_NUMBER, protocol=2) + pickle.dumps(ts.PROTOCOL_VERSION, protocol=2)
            + pickle.dumps(sys_info, protocol=2) + main_pickle + pickle.dumps([], protocol=2))


def _joblib_record(array_bytes: bytes, *, n: int, descr: str = "u1", elsize: int = -1) -> bytes:
    """A joblib ``NumpyArrayWrapper`` record without alignment (joblib <= 1.1 layout), then STOP."""
    dtype = (b"cnumpy\ndtype\n" + _u(descr) + b"\x89\x88\x87R"
             + b"(K\x03" + _u("|") + b"NNN" + b"J" + struct.pack("<i", elsize) + b"J\xff\xff\xff\xffK\x00tb")
    state = (b"}(" + _u("subclass") + b"cnumpy\nndarray\n" + _u("shape") + b"J" + struct.pack("<i", n) + b"\x85"
             + _u("order") + _u("C") + _u("dtype") + dtype + _u("allow_mmap") + b"\x89u")
    return b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81" + state + b"b" + array_bytes + b"."


def malicious(tmp: Path | None = None) -> list[Technique]:
    """Every technique; ``tmp`` is unused (payloads use relative paths) but kept for symmetry."""
    import joblib

    t: list[Technique] = []

    def add(name: str, filename: str, data: bytes, loader: str, source: str) -> None:
        t.append(Technique(name, filename, data, loader, source))

    c = _cmd
    # -- issue 17: first bytes the old identifier did not treat as a pickle -------------------
    add("proto0_header", "model.bin", b"\x80\x00" + _p0_system(c("proto0_header")), "pickle", "issue 17")
    add("proto1_header", "model.pt", b"\x80\x01" + _p0_system(c("proto1_header")), "pickle", "issue 17")
    body = _p4_system(c("frame_without_proto"))
    add("frame_without_proto", "model.pkl", b"\x95" + struct.pack("<Q", len(body)) + body, "pickle", "issue 17")
    add("empty_set_start", "model.pth", b"\x8f0" + _p0_system(c("empty_set_start")), "pickle", "issue 17")
    add("short_binbytes_start", "model.ckpt", b"C\x02ab0" + _p0_system(c("short_binbytes_start")),
        "pickle", "issue 17")
    add("bytearray8_start", "model.bin", b"\x80\x05\x96" + struct.pack("<Q", 3) + b"abc0"
        + _p4_system(c("bytearray8_start")), "pickle", "issue 17 (other start opcodes)")
    add("legacy_torch_4th_pickle", "pytorch_model.bin", _legacy_torch(_p0_system(c("legacy_torch_4th_pickle"))),
        "torch", "issue 17")
    add("second_pickle_in_file", "model.pkl", pickle.dumps({"ok": 1}, protocol=2)
        + b"(" + b"0" + _p0_system(c("second_pickle_in_file")), "pickle_seq", "issue 17 (multi-pickle)")
    add("payload_after_70_pickles", "model.pkl", pickle.dumps(1, protocol=2) * 70
        + _p0_system(c("payload_after_70_pickles")), "pickle_seq", "multi-pickle walk limit")
    # -- issue 17: compressed joblib containers ------------------------------------------------
    evil = pickle.dumps(_Reduce(c("zlib_joblib")), protocol=4)
    add("zlib_joblib", "model.joblib", zlib.compress(evil), "joblib", "issue 17")
    add("gzip_joblib", "model.joblib", gzip.compress(pickle.dumps(_Reduce(c("gzip_joblib")), protocol=4)),
        "joblib", "joblib compressors")
    add("bz2_joblib", "model.joblib", bz2.compress(pickle.dumps(_Reduce(c("bz2_joblib")), protocol=4)),
        "joblib", "joblib compressors")
    add("lzma_joblib", "model.joblib", lzma.compress(pickle.dumps(_Reduce(c("lzma_joblib")), protocol=4),
                                                     format=lzma.FORMAT_ALONE), "joblib", "joblib compressors")
    add("xz_joblib", "model.joblib", lzma.compress(pickle.dumps(_Reduce(c("xz_joblib")), protocol=4)),
        "joblib", "joblib compressors")
    buf = io.BytesIO()
    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = _Reduce(c("joblib_object_array")), "x"
    joblib.dump({"w": np.arange(3.0), "o": arr}, buf)
    add("joblib_object_array", "model.joblib", buf.getvalue(), "joblib", "joblib nested pickle")
    hidden = b"0" + _p0_system(c("joblib_array_hides_payload"))
    add("joblib_array_hides_payload", "model.pkl", _joblib_record(hidden, n=len(hidden)), "pickle",
        "joblib array bytes read as opcodes by pickle.load")
    # -- classic payloads, protocols 0-5 -------------------------------------------------------
    add("reduce_p2", "model.bin", pickle.dumps(_Reduce(c("reduce_p2")), protocol=2), "pickle", "baseline")
    add("reduce_p5", "model.bin", pickle.dumps(_Reduce(c("reduce_p5")), protocol=5), "pickle", "baseline")
    add("inst_opcode", "model.bin", b"(" + _s0(c("inst_opcode")) + b"ios\nsystem\n.", "pickle", "INST opcode")
    add("obj_opcode", "model.bin", b"(cos\nsystem\n" + _s0(c("obj_opcode")) + b"o.", "pickle", "OBJ opcode")
    add("py2_builtin_eval", "model.bin", b"c__builtin__\neval\n(" + _s0(f"__import__('os').system({c('py2_builtin_eval')!r})")
        + b"tR.", "pickle", "Python 2 module names")
    add("truncated_after_payload", "model.bin", b"cos\nsystem\n(" + _s0(c("truncated_after_payload")) + b"tR\xff\xff",
        "pickle", "payload before a parse error")
    # -- picklescan / modelscan advisories ------------------------------------------------------
    add("memo_decoy", "model.bin", b"\x80\x04" + _u("os") + b"\x94" + b"0" + _u("system") + b"\x94" + b"0"
        + _u("collections") + b"0" + _u("OrderedDict") + b"0" + b"h\x00h\x01\x93" + _u(c("memo_decoy"))
        + b"\x85R.", "pickle", "picklescan memo handling (CTF 'Safe Pickle', picklescan #22)")
    add("numpy_builtins_dict_get", "model.bin", b"\x80\x05cbuiltins\ndict.get\ncnumpy\n__builtins__\n"
        + _v0("exec") + b"\x86R" + _v0(f"__import__('os').system({c('numpy_builtins_dict_get')!r})") + b"\x85R.",
        "pickle", "modelscan #89 (safe module's __builtins__)")
    add("numpy_prod_setattr", "model.bin", b"\x80\x05cnumpy\nprod\nN(" + _v0("a") + _v0("os") + b"d\x86b"
        + b"N(" + _v0("b") + _v0("system") + b"d\x86b0" + b"cnumpy\nprod.a\np0\n0cnumpy\nprod.b\np1\n0"
        + b"g0\ng1\n\x93" + _v0(c("numpy_prod_setattr")) + b"\x85R.", "pickle",
        "modelscan #85 (BUILD setattr then STACK_GLOBAL)")
    add("computed_stack_global", "model.bin", b"\x80\x04" + _u("builtins") + _u("str") + b"\x93" + _u("os")
        + b"\x85R" + _u("system") + b"\x93" + _u(c("computed_stack_global")) + b"\x85R.", "pickle",
        "modelscan #331 (module name computed at load)")
    add("importlib_getattr", "model.bin", b"\x80\x04" + _u("builtins") + _u("getattr") + b"\x93" + _u("importlib")
        + _u("import_module") + b"\x93" + _u("os") + b"\x85R" + _u("system") + b"\x86R"
        + _u(c("importlib_getattr")) + b"\x85R.", "pickle", "picklescan #66 / #74 (importlib)")
    add("pkgutil_resolve_name", "model.bin", b"\x80\x04" + _u("pkgutil") + _u("resolve_name") + b"\x93"
        + _u("os:system") + b"\x85R" + _u(c("pkgutil_resolve_name")) + b"\x85R.", "pickle",
        "picklescan GHSA-vvpj-8cmc-gx39")
    add("runpy_run_code", "model.bin", b"\x80\x04" + _u("runpy") + _u("_run_code") + b"\x93"
        + _u(f"import os; os.system({c('runpy_run_code')!r})") + b"}\x86R.", "pickle", "picklescan unsafe globals")
    add("timeit", "model.bin", b"\x80\x04" + _u("timeit") + _u("timeit") + b"\x93"
        + _u(f"__import__('os').system({c('timeit')!r}); 1/0") + b"\x85R.", "pickle",
        "picklescan GHSA-v7x6-rv5q-mhwc")  # 1/0 ends timeit's million repeats after the first
    add("cprofile_run", "model.bin", b"\x80\x04" + _u("cProfile") + _u("run") + b"\x93"
        + _u(f"__import__('os').system({c('cprofile_run')!r})") + b"\x85R.", "pickle", "modelscan #313")
    add("uuid_get_command_stdout", "model.bin", b"\x80\x04" + _u("uuid") + _u("_get_command_stdout") + b"\x93"
        + _u("touch") + _u("PWNED-uuid_get_command_stdout") + b"\x86R.", "pickle",
        "picklescan < 1.0.4 stdlib bypass (uuid)")
    add("osx_support_read_output", "model.bin", b"\x80\x04" + _u("_osx_support") + _u("_read_output") + b"\x93"
        + _u(c("osx_support_read_output")) + b"\x85R.", "pickle", "picklescan < 1.0.4 stdlib bypass (_osx_support)")
    add("imaplib_imap4_stream", "model.bin", b"\x80\x04" + _u("imaplib") + _u("IMAP4_stream") + b"\x93"
        + _u(c("imaplib_imap4_stream")) + b"\x85R.", "pickle", "picklescan < 1.0.4 stdlib bypass (imaplib)")
    add("nested_pickle_loads", "model.bin", b"\x80\x04" + _u("_pickle") + _u("loads") + b"\x93"
        + b"C" + bytes([len(_p0_system(c("nested_pickle_loads")))]) + _p0_system(c("nested_pickle_loads"))
        + b"\x85R.", "pickle", "modelscan #267 / #270 (_pickle.loads)")
    add("profile_run", "model.bin", b"\x80\x04" + _u("profile") + _u("run") + b"\x93"
        + _u(f"__import__('os').system({c('profile_run')!r})") + b"\x85R.", "pickle", "modelscan #313 (profile)")
    add("subprocess_run", "model.bin", b"\x80\x04" + _u("subprocess") + _u("run") + b"\x93"
        + b"]" + b"(" + _u("touch") + _u("PWNED-subprocess_run") + b"e\x85R.", "pickle", "baseline (subprocess)")
    caps = {"text/plain": [{"view": "true", "test": c("mailcap_findmatch")}]}
    add("mailcap_findmatch", "model.bin", pickle.dumps(_Call("mailcap", "findmatch", (caps, "text/plain")), protocol=4),
        "pickle", "modelscan #346 (mailcap.findmatch)")
    code = marshal.dumps(compile(f"__import__('os').system({c('marshal_function')!r})", "<m>", "exec"))
    add("marshal_function", "model.bin", b"\x80\x04" + _u("types") + _u("FunctionType") + b"\x93"
        + _u("marshal") + _u("loads") + b"\x93" + b"B" + struct.pack("<I", len(code)) + code + b"\x85R"
        + b"}\x86R)R.", "pickle", "picklescan #74 (marshal.loads code object)")
    # -- containers and disguises --------------------------------------------------------------
    add("torch_zip_data_pkl", "pytorch_model.bin",
        _torch_zip_with(pickle.dumps(_Reduce(c("torch_zip_data_pkl")), protocol=2)), "torch", "baseline")
    add("torch_zip_bad_crc", "pytorch_model.bin",
        _torch_zip_with(pickle.dumps(_Reduce(c("torch_zip_bad_crc")), protocol=2), bad_crc=True), "torch",
        "picklescan GHSA-7q5r-7gvp-wc82 / CVE-2025-10156 (CRC torch ignores)")
    add("npy_object_array", "weights.npy", _npy_object(c("npy_object_array")), "numpy", "numpy allow_pickle")
    add("npy_name_pickle_content", "weights.npy", _p0_system(c("npy_name_pickle_content")), "numpy",
        "numpy.load falls back to pickle without the magic")
    add("pickle_named_safetensors", "model.safetensors", _p0_system(c("pickle_named_safetensors")), "pickle",
        "picklescan GHSA-769v-p64c-89pr / CVE-2025-10155 (extension)")
    add("tar_name_is_pickle", "model.pkl", _tar_polyglot(_p0_system(c("tar_name_is_pickle"))), "pickle",
        "tar/pickle polyglot")
    add("zip_after_pickle", "model.pkl", pickle.dumps({"weights": [0.0] * 8}, protocol=2)
        + _zip({"model.pkl": _p0_system(c("zip_after_pickle"))}), "zip-extract",
        "pickle/zip polyglot (zip readers start from the end)")
    add("zip_in_zip", "bundle.zip", _zip({"inner.zip": _zip({"model.pkl": _p0_system(c("zip_in_zip"))})}),
        "zip-extract", "nested archives")
    return t


def _npy_object(cmd: str) -> bytes:
    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = _Reduce(cmd), "ok"
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _tar_polyglot(payload: bytes) -> bytes:
    """A tar whose first member is *named* with the payload: its header starts with the pickle."""
    if len(payload) > 100:
        raise ValueError("payload longer than a tar name field")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo(payload.decode("latin-1"))
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def benign(folder: Path) -> list[Path]:
    """Ordinary checkpoints of every format the gate claims; returns the written paths."""
    import gguf
    import joblib
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {"embed.weight": torch.randn(8, 4), "head.bias": torch.zeros(2, dtype=torch.float16),
             "step": torch.tensor(3)}
    out: list[Path] = []

    def keep(name: str) -> Path:
        p = folder / name
        out.append(p)
        return p

    torch.save(state, keep("pytorch_model.bin"))
    torch.save(state, keep("legacy.pt"), _use_new_zipfile_serialization=False)
    torch.save({"model": state, "epoch": 3, "lr": [0.1, 0.01]}, keep("trainer.ckpt"))
    large = {f"layer{i}.weight": torch.randn(256, 256) for i in range(4)}  # heads longer than 64 KiB
    torch.save(large, keep("large.pt"))
    torch.save(large, keep("large_legacy.pth"), _use_new_zipfile_serialization=False)
    save_file({k: v.float() for k, v in state.items()}, keep("model.safetensors"))
    w = gguf.GGUFWriter(str(keep("model.gguf")), "llama")
    w.add_block_count(1)
    w.add_tensor("tok.weight", np.ones((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    np.save(keep("weights.npy"), np.arange(12, dtype=np.float32).reshape(3, 4))
    np.save(keep("table.npy"), np.zeros(3, dtype=[("x", "<i4"), ("y", "<f8")]))
    np.savez(keep("arrays.npz"), a=np.arange(3), b=np.ones((2, 2)))
    joblib.dump(np.arange(1000.0), keep("plain.joblib"))  # the false positive
    joblib.dump({"w": np.random.default_rng(0).random((20, 5)), "names": np.array(["a", "b"]),
                 "ids": np.arange(5, dtype=np.int64), "objects": np.array(["a", 1, None], dtype=object)},
                keep("dict.joblib"))
    joblib.dump(np.asfortranarray(np.ones((64, 32), dtype=np.float32)), keep("fortran.pkl"))
    for comp in ("zlib", "gzip", "bz2", "lzma", "xz"):
        joblib.dump({"w": np.arange(100.0)}, keep(f"{comp}.joblib"), compress=(comp, 3))
    for proto in range(6):
        keep(f"plain_p{proto}.pkl").write_bytes(pickle.dumps({"a": [1, 2.5, "x"], "b": (None, True)},
                                                            protocol=proto))
    return out
