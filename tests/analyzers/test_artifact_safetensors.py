"""safetensors header validation and content-based format identification."""

from __future__ import annotations

import io
import json
import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from modelcert.analyzers.artifact import scan_path
from modelcert.analyzers.artifact.formats import identify
from modelcert.analyzers.artifact.safetensors_check import check_safetensors


def _raw(header: dict, data: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def _check(blob: bytes) -> dict[str, str]:
    findings = check_safetensors(io.BytesIO(blob), len(blob), "model.safetensors")
    return {f.rule: f.message for f in findings}


def test_clean_checkpoint_has_no_findings(tmp_path: Path) -> None:
    save_file(
        {"embed.weight": torch.randn(16, 8), "norm": torch.ones(8, dtype=torch.bfloat16),
         "mask": torch.zeros(3, dtype=torch.bool), "empty": torch.zeros(0)},
        tmp_path / "model.safetensors", metadata={"format": "pt"},
    )
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 8}))
    (tmp_path / "generation_config.json").write_text(json.dumps({"do_sample": False}))

    report = scan_path(tmp_path)

    assert report.findings == []
    assert not report.blocking
    assert report.files == {"config.json": "json", "generation_config.json": "json",
                            "model.safetensors": "safetensors"}
    assert report.summary().startswith("clean: 3 file(s)")


def test_overlapping_offsets() -> None:
    blob = _raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                 "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12)
    problems = _check(blob)
    assert "overlaps" in problems["safetensors/overlap"]


def test_trailing_data_after_last_tensor() -> None:
    blob = _raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8 + b"HIDDENPAYLOAD")
    assert _check(blob) == {"safetensors/trailing-data": "13 bytes after the last tensor"}


def test_gap_between_tensors() -> None:
    blob = _raw({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                 "b": {"dtype": "U8", "shape": [4], "data_offsets": [8, 12]}}, b"\0" * 12)
    assert list(_check(blob)) == ["safetensors/gap"]


def test_size_mismatch_dtype_bounds_and_metadata() -> None:
    blob = _raw({
        "__metadata__": {"format": "pt", "n": 3},
        "a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]},
        "b": {"dtype": "Q9", "shape": [1], "data_offsets": [8, 9]},
        "c": {"dtype": "U8", "shape": [100], "data_offsets": [9, 109]},
    }, b"\0" * 9)
    problems = _check(blob)
    assert set(problems) == {"safetensors/metadata", "safetensors/size-mismatch", "safetensors/dtype",
                             "safetensors/bounds"}
    assert "needs 12 bytes but spans 8" in problems["safetensors/size-mismatch"]


def test_sub_byte_dtypes_are_sized_in_bits() -> None:
    ok = _raw({"a": {"dtype": "F4", "shape": [4], "data_offsets": [0, 2]}}, b"\0\0")
    assert _check(ok) == {}
    bad = _raw({"a": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}, b"\0\0")
    assert "safetensors/size-mismatch" in _check(bad)


_DUP = b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": {"dtype": "U8"}}'


@pytest.mark.parametrize(
    ("blob", "needle"),
    [
        (struct.pack("<Q", 10**12) + b"{}", "exceeds"),
        (struct.pack("<Q", 5) + b'{"a":', "not valid UTF-8 JSON"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
        (struct.pack("<Q", len(_DUP)) + _DUP + b"\0", "duplicate JSON key"),
        (b"\x01\x00", "shorter than"),
    ],
)
def test_malformed_headers(blob: bytes, needle: str) -> None:
    problems = _check(blob)
    assert any(needle in message for message in problems.values()), problems


def test_corrupt_file_named_safetensors_gets_precise_findings(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", 10**6) + b"{}")
    report = scan_path(tmp_path)
    assert report.blocking
    assert [f.rule for f in report.findings] == ["safetensors/bounds"]


def test_renamed_pickle_is_identified_by_content(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=2))
    report = scan_path(tmp_path)
    assert report.files["model.safetensors"] == "pickle"
    mismatch = [f for f in report.findings if f.rule == "format/extension-mismatch"]
    assert mismatch and mismatch[0].severity == "high"
    assert report.blocking


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"GGUF\x03\x00\x00\x00", "gguf"),
        (b"PK\x03\x04" + b"\0" * 30, "zip"),
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"\xfd7zXZ\x00\x00", "xz"),
        (b"BZh91AY", "bzip2"),
        (b"\x28\xb5\x2f\xfd\x00", "zstd"),
        (b"\x93NUMPY\x01\x00", "numpy"),
        (b"\x89HDF\r\n\x1a\n", "hdf5"),
        (b"\0" * 257 + b"ustar\x0000", "tar"),
        (b'{"model_type": "llama"}', "json"),
        (b"# Model card\nThis model ...\n", "text"),
        (b"(c) 2024 Example Corp. All rights reserved.\n", "text"),
        (bytes(range(256)) * 4, "unknown"),
        (pickle.dumps([1, 2, 3], protocol=0), "pickle"),
        (pickle.dumps({"a": 1}, protocol=1), "pickle"),
        (pickle.dumps({"a": 1}, protocol=5), "pickle"),
    ],
)
def test_identify_by_magic(head: bytes, expected: str) -> None:
    assert identify(head, len(head) + 100) == expected
