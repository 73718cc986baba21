"""Pickle analysis against hand-crafted malicious pickles: every one flagged, none executed.

Each payload would run ``touch <tmp>/PWNED`` if loaded. The scanner is run with every
unpickling entry point replaced by a tripwire, and the sentinel must never appear.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from modelcert.analyzers.artifact import scan_path
from modelcert.analyzers.artifact.pickle_check import check_pickle
from modelcert.analyzers.artifact.pickle_policy import classify


def _u(s: str) -> bytes:
    """SHORT_BINUNICODE."""
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def _s0(s: str) -> bytes:
    """Protocol-0 STRING."""
    return b"S" + repr(s).encode() + b"\n"


PROTO4 = b"\x80\x04"
STACK_GLOBAL, TUPLE1, TUPLE2, REDUCE, STOP, MEMOIZE = b"\x93", b"\x85", b"\x86", b"R", b".", b"\x94"


def payloads(sentinel: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (pickle bytes, the import that must be reported)."""
    cmd = f"touch {sentinel}"

    class Reduce:
        def __reduce__(self):
            return (os.system, (cmd,))

    return {
        # os.system the way pickle itself writes it (posix.system on Linux), protocols 0 and 4
        "reduce_p0": (pickle.dumps(Reduce(), protocol=0), "posix.system"),
        "reduce_p4": (pickle.dumps(Reduce(), protocol=4), "posix.system"),
        "os_system_p0": (b"cos\nsystem\n(" + _s0(cmd) + b"tR.", "os.system"),
        "inst_opcode": (b"(" + _s0(cmd) + b"ios\nsystem\n.", "os.system"),
        # eval through the Python 2 module name that the unpickler maps to builtins
        "eval_py2_name": (
            b"c__builtin__\neval\n(" + _s0(f"__import__('os').system({cmd!r})") + b"tR.", "__builtin__.eval"),
        "exec": (PROTO4 + _u("builtins") + _u("exec") + STACK_GLOBAL
                 + _u(f"import os; os.system({cmd!r})") + TUPLE1 + REDUCE + STOP, "builtins.exec"),
        # pip.main(["download", "--log", sentinel, "x"]) writes the sentinel as its log file
        "pip_main": (b"cpip\nmain\n((" + _s0("download") + _s0("--log") + _s0(str(sentinel)) + _s0("x")
                     + b"ltR.", "pip.main"),
        # pkgutil.resolve_name("os:system")(cmd)
        "pkgutil_resolve_name": (PROTO4 + _u("pkgutil") + _u("resolve_name") + STACK_GLOBAL
                                 + _u("os:system") + TUPLE1 + REDUCE + _u(cmd) + TUPLE1 + REDUCE + STOP,
                                 "pkgutil.resolve_name"),
        # getattr(importlib.import_module("os"), "system")(cmd)
        "importlib_chain": (PROTO4 + _u("builtins") + _u("getattr") + STACK_GLOBAL
                            + _u("importlib") + _u("import_module") + STACK_GLOBAL + _u("os") + TUPLE1 + REDUCE
                            + _u("system") + TUPLE2 + REDUCE + _u(cmd) + TUPLE1 + REDUCE + STOP,
                            "importlib.import_module"),
        "runpy": (PROTO4 + _u("runpy") + _u("_run_code") + STACK_GLOBAL
                  + _u(f"import os; os.system({cmd!r})") + b"}" + TUPLE2 + REDUCE + STOP, "runpy._run_code"),
        # memo shuffle: the last two strings before STACK_GLOBAL are harmless decoys;
        # the real operands come back from the memo
        "memo_decoy": (PROTO4 + _u("os") + MEMOIZE + b"0" + _u("system") + MEMOIZE + b"0"
                       + _u("collections") + b"0" + _u("OrderedDict") + b"0"
                       + b"h\x00h\x01" + STACK_GLOBAL + _u(cmd) + TUPLE1 + REDUCE + STOP, "os.system"),
        # protocol 4 dotted name: an attribute walk from an allowlisted function to its globals
        "dotted_walk": (PROTO4 + _u("torch._utils") + _u("_rebuild_tensor.__globals__") + STACK_GLOBAL + STOP,
                        "torch._utils._rebuild_tensor.__globals__"),
        # a nested pickle hidden in bytes
        "nested_load": (PROTO4 + _u("torch.storage") + _u("_load_from_bytes") + STACK_GLOBAL
                        + b"C\x00" + TUPLE1 + REDUCE + STOP, "torch.storage._load_from_bytes"),
        # the payload runs before the stream turns invalid; a loader would execute it
        "truncated_after_payload": (b"cos\nsystem\n(" + _s0(cmd) + b"tR\xff\xff", "os.system"),
    }


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tripwires: the gate must never call an unpickler."""

    def tripwire(*_a: object, **_k: object) -> None:
        raise AssertionError("the artifact gate tried to unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, tripwire)
    monkeypatch.setattr(torch, "load", tripwire)
    monkeypatch.setattr(np, "load", tripwire)


def test_every_crafted_payload_is_flagged_and_none_executed(tmp_path: Path, no_unpickling: None) -> None:
    sentinel = tmp_path / "PWNED"
    corpus = payloads(sentinel)
    folder = tmp_path / "model"
    folder.mkdir()
    for name, (data, _) in corpus.items():
        # each payload is a real pickle stream, up to STOP where it has one
        if name != "truncated_after_payload":
            ops = list(pickletools.genops(data))
            assert ops[-1][0].name == "STOP", name
        (folder / f"{name}.bin").write_bytes(data)

    report = scan_path(folder)

    assert report.blocking
    for name, (_, expected_import) in corpus.items():
        mine = [f for f in report.findings if f.file == f"{name}.bin"]
        imports = {f.detail.get("import") for f in mine}
        assert expected_import in imports, (name, mine)
        assert any(f.severity == "critical" for f in mine), (name, mine)
        assert report.files[f"{name}.bin"] == "pickle"
    truncated = [f for f in report.findings if f.file == "truncated_after_payload.bin"]
    assert {"pickle/malformed", "pickle/dangerous-import"} <= {f.rule for f in truncated}
    assert not sentinel.exists()


def test_computed_stack_global_operand_is_flagged() -> None:
    # module name produced by a call (builtins.str("os")), not a constant
    data = (PROTO4 + _u("builtins") + _u("str") + STACK_GLOBAL + _u("os") + TUPLE1 + REDUCE
            + _u("system") + STACK_GLOBAL + STOP)
    findings = check_pickle(io.BytesIO(data), len(data), "x.pkl")
    rules = {f.rule: f.severity for f in findings}
    assert rules["pickle/dynamic-import"] == "critical"
    assert rules["pickle/unknown-import"] == "high"  # builtins.str is not on the allowlist


def test_extension_registry_is_flagged() -> None:
    data = b"\x80\x02\x82\x01)R."
    findings = check_pickle(io.BytesIO(data), len(data), "x.pkl")
    assert [f.rule for f in findings] == ["pickle/extension-registry"]
    assert findings[0].blocking


def test_unknown_class_is_high_not_allowed() -> None:
    data = pickle.dumps(io.BytesIO, protocol=2)  # a class reference: io.BytesIO is not a tensor helper
    sev, _ = classify("mymodel.layers", "Block")
    assert sev == "high"
    assert any(f.blocking for f in check_pickle(io.BytesIO(data), len(data), "x.pkl"))


@pytest.mark.parametrize("legacy", [False, True])
def test_legit_torch_state_dict_is_allowed_but_reported(tmp_path: Path, legacy: bool) -> None:
    state = {
        "embed.weight": torch.randn(8, 4),
        "head.weight": torch.nn.Parameter(torch.randn(2, 4)),
        "half": torch.zeros(3, dtype=torch.float16),
        "step": torch.tensor(5),
    }
    path = tmp_path / "pytorch_model.bin"
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)

    report = scan_path(path)

    assert not report.blocking, report.findings
    formats = [f for f in report.findings if f.rule == "pickle/format"]
    assert len(formats) == 1 and formats[0].severity == "medium"
    assert "torch._utils._rebuild_tensor_v2" in formats[0].detail["imports"]


def test_malicious_data_pkl_inside_a_torch_zip(tmp_path: Path, no_unpickling: None) -> None:
    sentinel = tmp_path / "PWNED"
    clean = tmp_path / "clean.pt"
    torch.save({"w": torch.zeros(2)}, clean)
    evil = tmp_path / "model" / "pytorch_model.bin"
    evil.parent.mkdir()
    with zipfile.ZipFile(clean) as src, zipfile.ZipFile(evil, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):
                data = payloads(sentinel)["reduce_p4"][0]
            dst.writestr(info, data)

    report = scan_path(evil.parent)

    assert report.blocking
    hit = [f for f in report.findings if f.rule == "pickle/dangerous-import"]
    assert hit and hit[0].file == "pytorch_model.bin!clean/data.pkl"
    assert report.files["pytorch_model.bin!clean/data/0"] == "tensor-storage"
    assert not sentinel.exists()


def test_numpy_object_array_pickle_is_analysed(tmp_path: Path, no_unpickling: None) -> None:
    sentinel = tmp_path / "PWNED"

    class Reduce:
        def __reduce__(self):
            return (os.system, (f"touch {sentinel}",))

    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = Reduce(), "ok"
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "arr.npy").write_bytes(buf.getvalue())
    np_plain = io.BytesIO()
    np.lib.format.write_array(np_plain, np.arange(4.0))
    (tmp_path / "m" / "plain.npy").write_bytes(np_plain.getvalue())

    report = scan_path(tmp_path / "m")

    rules = {(f.file, f.rule) for f in report.findings}
    assert ("arr.npy", "numpy/object-array") in rules
    assert ("arr.npy", "pickle/dangerous-import") in rules
    assert not any(f.file == "plain.npy" for f in report.findings)
    assert not sentinel.exists()


def test_big_constants_are_skipped_not_loaded() -> None:
    """A BINBYTES8 constant larger than the skip threshold is seeked over, and the walk goes on."""
    big = 20 * 1024 * 1024
    data = (PROTO4 + b"\x8e" + struct.pack("<Q", big) + b"\0" * big + b"0"
            + _u("os") + _u("system") + STACK_GLOBAL + STOP)
    findings = check_pickle(io.BytesIO(data), len(data), "big.pkl")
    assert [f.detail.get("import") for f in findings] == ["os.system"]


def test_malformed_pickles_do_not_crash() -> None:
    for data in (b"\x80\x04\x95", b"\x80\x02(", b"\x80\x02h\x05.", b"\x80\x02" + b"0" * 3 + b"."):
        findings = check_pickle(io.BytesIO(data), len(data), "bad.pkl")
        assert any(f.rule == "pickle/malformed" for f in findings), data
