"""Archives, ONNX external data, links in the model folder, and the scan CLI."""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from modelcert.analyzers.artifact import Limits, scan_path
from modelcert.errors import ConfigError, UnsafeArtifactError


def evil_pickle(sentinel: Path) -> bytes:
    return b"cos\nsystem\n(S'touch " + str(sentinel).encode() + b"'\ntR."


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_nested_archives_are_opened_to_the_pickle(tmp_path: Path) -> None:
    sentinel = tmp_path / "PWNED"
    folder = tmp_path / "model"
    folder.mkdir()
    inner_zip = _zip({"weights/model.pkl": evil_pickle(sentinel)})
    (folder / "bundle.zip").write_bytes(_zip({"inner.zip": inner_zip, "README.md": b"hi"}))
    (folder / "weights.tar.gz").write_bytes(_tar({"ckpt/model.bin": evil_pickle(sentinel)}, "w:gz"))
    # a gzip stream around a tar around a zip around a pickle
    (folder / "deep.gz").write_bytes(gzip.compress(_tar({"a.zip": inner_zip})))

    report = scan_path(folder)

    hits = {f.file for f in report.findings if f.rule == "pickle/dangerous-import"}
    assert hits == {
        "bundle.zip!inner.zip!weights/model.pkl",
        "weights.tar.gz!weights.tar!ckpt/model.bin",
        "deep.gz!deep!a.zip!weights/model.pkl",
    }
    assert not sentinel.exists()


def test_nesting_limit_is_a_blocking_finding(tmp_path: Path) -> None:
    data = b"payload"
    for _ in range(4):
        data = _zip({"x.zip": data})
    (tmp_path / "deep.zip").write_bytes(data)
    report = scan_path(tmp_path, limits=Limits(max_depth=2))
    assert "archive/too-deep" in {f.rule for f in report.findings}
    assert report.blocking


def test_expansion_budget_stops_a_decompression_bomb(tmp_path: Path) -> None:
    (tmp_path / "big.gz").write_bytes(gzip.compress(b"\0" * (4 * 1024 * 1024)))
    report = scan_path(tmp_path, limits=Limits(max_expand=1024 * 1024))
    assert [(f.file, f.rule) for f in report.findings] == [("big.gz", "archive/bomb")]
    assert report.blocking


def test_onnx_inside_an_archive_gets_syntax_checks(tmp_path: Path) -> None:
    model = onnx_model([_tensor("abs", "/etc/shadow"), _tensor("rel", "weights.bin")])
    (tmp_path / "m.zip").write_bytes(_zip({"model/model.onnx": model}))
    report = scan_path(tmp_path)
    assert report.files["m.zip!model/model.onnx"] == "onnx"
    assert [(f.detail["tensor"], f.rule) for f in report.findings] == [("abs", "onnx/external-data-path")]


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_zip_slip_links_duplicates_and_bombs(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("../../outside.txt", b"x")
        zf.writestr("/etc/cron.d/job", b"x")
        link = zipfile.ZipInfo("link")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
        zf.writestr("bomb.bin", b"\0" * (24 * 1024 * 1024))
        zf.writestr("dup.txt", b"a")
        zf.writestr("dup.txt", b"b")
    (tmp_path / "a.zip").write_bytes(buf.getvalue())

    report = scan_path(tmp_path)

    got = {(f.file, f.rule) for f in report.findings}
    assert ("a.zip!../../outside.txt", "archive/path-traversal") in got
    assert ("a.zip!/etc/cron.d/job", "archive/path-traversal") in got
    assert ("a.zip!link", "archive/link") in got
    assert ("a.zip!bomb.bin", "archive/bomb") in got
    assert ("a.zip!dup.txt", "archive/duplicate-member") in got


def test_tar_links_and_traversal(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        sym = tarfile.TarInfo("config.json")
        sym.type, sym.linkname = tarfile.SYMTYPE, "/root/.ssh/id_rsa"
        tf.addfile(sym)
        evil = tarfile.TarInfo("../evil.py")
        evil.size = 1
        tf.addfile(evil, io.BytesIO(b"x"))
    (tmp_path / "m.tar").write_bytes(buf.getvalue())
    got = {(f.file, f.rule, f.severity) for f in scan_path(tmp_path).findings}
    assert ("m.tar!config.json", "archive/link", "critical") in got
    assert ("m.tar!../evil.py", "archive/path-traversal", "critical") in got


def test_corrupt_archives_are_flagged_not_crashed(tmp_path: Path) -> None:
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    (tmp_path / "blob.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 16)
    rules = {(f.file, f.rule) for f in scan_path(tmp_path).findings}
    assert ("bad.zip", "archive/malformed") in rules
    assert ("bad.gz", "archive/malformed") in rules
    assert ("blob.zst", "format/not-analysed") in rules


# --- ONNX ------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _tensor(name: str, location: str, offset: int = 0, length: int = 16) -> bytes:
    entries = [("location", location), ("offset", str(offset)), ("length", str(length))]
    t = _field(1, 4) + _field(2, 1) + _field(8, name.encode())
    t += b"".join(_field(13, _field(1, k.encode()) + _field(2, v.encode())) for k, v in entries)
    return t + _field(14, 1)


def onnx_model(initializers: list[bytes], subgraph_tensor: bytes | None = None) -> bytes:
    graph = _field(2, b"g") + b"".join(_field(5, t) for t in initializers)
    if subgraph_tensor is not None:  # an If node whose then_branch graph holds an external tensor
        sub = _field(5, subgraph_tensor)
        attr = _field(1, b"then_branch") + _field(6, sub)
        graph = _field(1, _field(4, b"If") + _field(5, attr)) + graph
    opset = _field(1, b"") + _field(2, 17)
    return _field(1, 8) + _field(2, b"test") + _field(7, graph) + _field(8, opset)


def test_onnx_external_data_paths(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"\0" * 32)
    outside = tmp_path / "secret.bin"
    outside.write_bytes(b"\0" * 64)
    (model / "escape.bin").symlink_to(outside)
    (model / "model.onnx").write_bytes(onnx_model(
        [_tensor("ok", "weights.bin"), _tensor("abs", "/etc/passwd"), _tensor("dots", "../secret.bin"),
         _tensor("link", "escape.bin"), _tensor("missing", "nope.bin"), _tensor("long", "weights.bin", 24, 16)],
        subgraph_tensor=_tensor("in_if", "..\\..\\boot.ini"),
    ))

    report = scan_path(model)

    assert report.files["model.onnx"] == "onnx"
    by_tensor = {f.detail.get("tensor"): (f.rule, f.severity) for f in report.findings if f.file == "model.onnx"}
    assert by_tensor == {
        "abs": ("onnx/external-data-path", "critical"),
        "dots": ("onnx/external-data-path", "critical"),
        "link": ("onnx/external-data-path", "critical"),
        "in_if": ("onnx/external-data-path", "critical"),
        "missing": ("onnx/external-data-missing", "medium"),
        "long": ("onnx/external-data-bounds", "high"),
    }


def test_clean_onnx_and_truncated_onnx(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(b"\0" * 16)
    good = onnx_model([_tensor("ok", "w.bin")])
    (tmp_path / "good.onnx").write_bytes(good)
    (tmp_path / "cut.onnx").write_bytes(good[:-7])
    got = {(f.file, f.rule) for f in scan_path(tmp_path).findings}
    assert ("cut.onnx", "onnx/malformed") in got
    assert not any(name == "good.onnx" for name, _ in got)


# --- the folder itself -----------------------------------------------------------------
def test_links_leaving_the_folder(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (tmp_path / "evil.pkl").write_bytes(evil_pickle(tmp_path / "PWNED"))
    (model / "pytorch_model.bin").symlink_to(tmp_path / "evil.pkl")
    (model / "etc").symlink_to("/etc")
    (model / "dangling").symlink_to(tmp_path / "nothing")

    report = scan_path(model)

    got = {(f.file, f.rule, f.severity) for f in report.findings}
    # the link's target content is scanned (the HF cache links every file into blobs/)
    assert ("pytorch_model.bin", "pickle/dangerous-import", "critical") in got
    assert ("etc", "fs/symlink", "high") in got
    assert ("dangling", "fs/symlink", "medium") in got


def test_missing_path_and_raise_if_blocking(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        scan_path(tmp_path / "absent")
    (tmp_path / "m.pkl").write_bytes(evil_pickle(tmp_path / "PWNED"))
    with pytest.raises(UnsafeArtifactError, match=r"os\.system"):
        scan_path(tmp_path).raise_if_blocking()


# --- CLI and SARIF ---------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "modelcert", "scan", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_cli_exit_codes_json_and_sarif(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "config.json").write_text(json.dumps({"model_type": "llama"}))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes(pickle.dumps({"x": 1}, protocol=2))
    (bad / "x.zip").write_bytes(_zip({"a/b.pkl": evil_pickle(tmp_path / "PWNED")}))

    ok = _cli(str(clean))
    assert ok.returncode == 0, ok.stderr
    assert "clean" in ok.stdout

    sarif_path = tmp_path / "out.sarif"
    blocked = _cli(str(bad), "--json", "--sarif", str(sarif_path))
    assert blocked.returncode == 1, blocked.stderr
    doc = json.loads(blocked.stdout)
    assert doc["blocking"] is True and doc["counts"]["critical"] == 1

    sarif = json.loads(sarif_path.read_text())
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in {"error", "warning", "note"}
    member = next(r for r in run["results"] if r["ruleId"] == "pickle/dangerous-import")
    assert member["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "x.zip"
    assert member["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "x.zip!a/b.pkl"

    missing = _cli(str(tmp_path / "absent"))
    assert missing.returncode == 2
    assert missing.stderr.strip().startswith("error: no such file or directory")
    assert not (tmp_path / "PWNED").exists()
