"""The gate against a crafted corpus: every technique live, every one blocked, none run.

1. Liveness: each malicious file is opened with its real loader in a subprocess, and
   each must create its own ``PWNED-<technique>`` sentinel. A technique that does not run
   code is not evidence of anything, so this is checked, not assumed.
2. The gate blocks 100 % of them while every unpickling entry point is a tripwire and
   the working directory is the sentinel folder; no sentinel may appear.
3. Benign torch / safetensors / GGUF / npy / npz / joblib / pickle files: no finding at
   high or above.
4. Differential against fickling (a dev-only dependency): no file that fickling flags as
   likely unsafe or worse passes the gate.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from model_corpus import Technique, benign, malicious

from modelcert.analyzers.artifact import scan_path

LOADERS = textwrap.dedent("""
    import io, json, pickle, sys, zipfile
    def load(kind, path):
        if kind == "pickle":
            with open(path, "rb") as fh:
                pickle.load(fh)
        elif kind == "pickle_seq":
            with open(path, "rb") as fh:
                while True:
                    try:
                        pickle.load(fh)
                    except EOFError:
                        return
        elif kind == "torch":
            import torch
            torch.load(path, weights_only=False)
        elif kind == "joblib":
            import joblib
            joblib.load(path)
        elif kind == "numpy":
            import numpy
            numpy.load(path, allow_pickle=True)
        elif kind == "zip-extract":
            def walk(zf):
                for name in zf.namelist():
                    data = zf.read(name)
                    if name.endswith(".zip"):
                        walk(zipfile.ZipFile(io.BytesIO(data)))
                    elif name.endswith(".pkl"):
                        pickle.loads(data)
            walk(zipfile.ZipFile(path))
    for kind, path in json.loads(sys.argv[1]):
        try:
            load(kind, path)
        except BaseException:
            pass
""")


def _write(corpus: list[Technique], folder: Path) -> dict[str, Path]:
    paths = {}
    for t in corpus:
        (folder / t.name).mkdir(parents=True)
        paths[t.name] = folder / t.name / t.filename
        paths[t.name].write_bytes(t.data)
    return paths


@pytest.fixture(scope="module")
def corpus() -> list[Technique]:
    return malicious()


def test_corpus_is_large_and_every_technique_runs_code(corpus: list[Technique], tmp_path: Path) -> None:
    assert len(corpus) >= 25 and len({t.name for t in corpus}) == len(corpus)
    paths = _write(corpus, tmp_path / "files")
    runs = tmp_path / "runs"
    runs.mkdir()

    jobs = [(t.loader, str(paths[t.name])) for t in corpus]
    subprocess.run([sys.executable, "-c", LOADERS, json.dumps(jobs)], cwd=runs, timeout=120,
                   capture_output=True, check=False)
    ran = {p.name.removeprefix("PWNED-") for p in runs.glob("PWNED-*")}
    assert ran == {t.name for t in corpus}, f"payloads that did not run: {sorted({t.name for t in corpus} - ran)}"


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    def tripwire(*_a: object, **_k: object) -> None:
        raise AssertionError("the artifact gate tried to load a model file")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, tripwire)
    monkeypatch.setattr(torch, "load", tripwire)
    monkeypatch.setattr(np, "load", tripwire)
    import joblib

    monkeypatch.setattr(joblib, "load", tripwire)


def test_gate_blocks_every_technique_and_runs_none(
    corpus: list[Technique], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_unpickling: None
) -> None:
    paths = _write(corpus, tmp_path / "files")
    sentinels = tmp_path / "sentinels"
    sentinels.mkdir()
    monkeypatch.chdir(sentinels)  # payloads touch relative paths: a run would land here

    missed = []
    for t in corpus:
        report = scan_path(paths[t.name].parent)
        if not report.blocking:
            missed.append((t.name, report.summary(), [(f.rule, f.severity) for f in report.findings]))

    assert not missed, missed
    assert list(sentinels.iterdir()) == []


def test_issue_17_misses_are_now_blocked_for_the_right_reason(corpus: list[Technique], tmp_path: Path) -> None:
    """Each file the red team got through, with the finding that now stops it."""
    paths = _write(corpus, tmp_path)
    want = {
        "proto0_header": ("pickle", "pickle/dangerous-import"),
        "proto1_header": ("pickle", "pickle/dangerous-import"),
        "frame_without_proto": ("pickle", "pickle/dangerous-import"),
        "empty_set_start": ("pickle", "pickle/dangerous-import"),
        "short_binbytes_start": ("pickle", "pickle/dangerous-import"),
        "legacy_torch_4th_pickle": ("pickle", "pickle/dangerous-import"),
        "second_pickle_in_file": ("pickle", "pickle/dangerous-import"),
        "zlib_joblib": ("zlib", "pickle/dangerous-import"),
        "lzma_joblib": ("lzma", "pickle/dangerous-import"),
        "joblib_array_hides_payload": ("pickle", "pickle/dangerous-import"),
        "tar_name_is_pickle": ("tar", "format/polyglot"),
        "zip_after_pickle": ("pickle", "format/polyglot"),
        "payload_after_70_pickles": ("pickle", "pickle/malformed"),
        "torch_zip_bad_crc": ("zip", "pickle/dangerous-import"),
    }
    for name, (fmt, rule) in want.items():
        t = next(t for t in corpus if t.name == name)
        report = scan_path(paths[name])
        assert report.files[t.filename] == fmt, (name, report.files)
        assert rule in {f.rule for f in report.findings if f.blocking}, (name, report.findings)


def test_benign_files_have_no_finding_at_high_or_above(tmp_path: Path) -> None:
    written = benign(tmp_path / "benign")
    report = scan_path(tmp_path / "benign")
    high = [(f.file, f.rule, f.message) for f in report.findings if f.blocking]
    assert not high, high
    assert len(written) >= 20
    kinds = set(report.files.values())
    assert {"safetensors", "gguf", "numpy", "zip", "pickle", "zlib", "gzip", "bzip2", "xz", "lzma"} <= kinds


def test_unknown_content_under_a_weight_name_blocks(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    noise = b"\x00\x01" + rng.bytes(4096)  # starts with bytes no parser claims
    for name in ("model.bin", "w.pt", "w.pth", "w.ckpt", "w.pkl", "w.joblib", "w.npy", "w.npz", "notes.dat"):
        (tmp_path / name).write_bytes(noise)
    report = scan_path(tmp_path)
    sev = {f.file: f.severity for f in report.findings if f.rule == "format/unknown"}
    for name in ("model.bin", "w.pt", "w.pth", "w.ckpt", "w.pkl", "w.joblib", "w.npy"):
        assert sev[name] == "high", (name, sev)
    assert report.files["w.npz"] == "unknown" and sev["w.npz"] == "high"
    assert sev["notes.dat"] == "low"  # not a name loaders unpickle


def test_fickling_differential(corpus: list[Technique], tmp_path: Path) -> None:
    """Every file fickling calls likely unsafe or worse is blocked by the gate (and, over this
    corpus, the gate also blocks what fickling cannot parse: archives and compressed streams)."""
    fickling = pytest.importorskip("fickling")
    from fickling.analysis import Severity

    paths = _write(corpus, tmp_path)
    flagged, ours = set(), set()
    for t in corpus:
        result = fickling.scan_file(str(paths[t.name]), graceful=True)
        if result.severity >= Severity.LIKELY_UNSAFE:
            flagged.add(t.name)
        if scan_path(paths[t.name]).blocking:
            ours.add(t.name)
    assert flagged, "fickling flagged nothing: the differential would prove nothing"
    assert flagged <= ours, sorted(flagged - ours)
    assert ours == {t.name for t in corpus}
