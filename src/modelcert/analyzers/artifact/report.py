"""Findings and the scan report: what the gate saw, how bad it is, and whether to refuse.

A checkpoint is *blocking* when any finding is high or critical: the local provider
must not load it. Medium and below are reported (and end up in the evidence) but do
not stop an audit.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from modelcert.errors import UnsafeArtifactError

Severity = Literal["critical", "high", "medium", "low", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")
_RANK = {s: i for i, s in enumerate(reversed(SEVERITIES))}
BLOCKING_AT: Severity = "high"


@dataclass(frozen=True)
class Rule:
    """One kind of finding; its id is stable and goes into SARIF."""

    id: str
    title: str
    help: str


def _rules(*rows: tuple[str, str, str]) -> dict[str, Rule]:
    return {r[0]: Rule(*r) for r in rows}


RULES: dict[str, Rule] = _rules(
    ("format/identified", "File format identified",
     "Every file is identified by its content (magic bytes), never by its extension."),
    ("format/extension-mismatch", "Content does not match the file extension",
     "A file whose extension promises a data-only format but whose bytes are another format is a "
     "classic way to smuggle a pickle past name-based tooling."),
    ("format/unknown", "Unidentified binary file",
     "The gate could not identify the format, so it cannot vouch for it. Under a weight-like name "
     "(.bin .pt .pth .ckpt .pkl .pickle .joblib .npy .npz) this is high: loaders unpickle such files."),
    ("format/polyglot", "File is two formats at once",
     "The bytes are one format to the gate and also a pickle that imports code; a loader that "
     "unpickles the file runs it."),
    ("format/not-analysed", "Format recognised but not analysed",
     "The format can carry executable content (compressed streams, HDF5/Keras) and this gate "
     "does not look inside it."),
    ("fs/symlink", "Symbolic link in the model folder",
     "A link that leaves the model folder lets a loader read files the auditor never saw."),
    ("fs/unreadable", "File could not be read", "The gate cannot vouch for a file it cannot read."),
    ("pickle/format", "Pickle-based file",
     "Pickle can execute code on load. All imports found are on the allowlist, but a "
     "data-only format (safetensors) is preferred."),
    ("pickle/dangerous-import", "Pickle imports a code-execution primitive",
     "Loading this file would import a callable that runs commands, evaluates code, imports "
     "modules or loads further pickles."),
    ("pickle/unknown-import", "Pickle imports a callable outside the allowlist",
     "Loading this file imports something that a plain tensor checkpoint does not need."),
    ("pickle/dynamic-import", "Pickle import with computed operands",
     "STACK_GLOBAL took a module or name that is not a string constant: the import cannot be "
     "resolved statically, which only evasive pickles do."),
    ("pickle/extension-registry", "Pickle uses the copyreg extension registry",
     "EXT1/EXT2/EXT4 import whatever the loading process registered under a code number."),
    ("pickle/malformed", "Malformed pickle",
     "The opcode stream is invalid. A loader executes the opcodes before the error, so the "
     "file is refused."),
    ("numpy/object-array", "NumPy file with an object array",
     "Object arrays are stored as a pickle and need allow_pickle=True to load."),
    ("safetensors/header", "Malformed safetensors header",
     "The header must be a well-formed JSON object of sane size, without duplicate keys."),
    ("safetensors/dtype", "Unknown safetensors dtype", "Only the dtypes of the safetensors spec are accepted."),
    ("safetensors/size-mismatch", "Tensor byte count does not match dtype and shape",
     "dtype size times the product of the shape must equal the tensor's byte range."),
    ("safetensors/bounds", "Tensor offsets out of bounds", "Offsets must lie inside the data section."),
    ("safetensors/overlap", "Overlapping tensors",
     "Two tensors share bytes: a loader-dependent reading, or aliasing used to hide data."),
    ("safetensors/gap", "Unaccounted bytes between tensors",
     "Bytes that belong to no tensor are hidden data."),
    ("safetensors/trailing-data", "Trailing data after the last tensor",
     "Bytes after the data section belong to no tensor and can hide a second payload."),
    ("safetensors/metadata", "Malformed safetensors metadata",
     "__metadata__ must map strings to strings."),
    ("gguf/malformed", "Malformed GGUF file",
     "Header, metadata or tensor table is inconsistent; GGUF parsers have had memory-safety "
     "bugs on exactly such input."),
    ("gguf/tensor-bounds", "GGUF tensor outside the data section",
     "A tensor's offset or size points outside the file."),
    ("template/injection", "Chat template can execute code",
     "The Jinja chat template walks to Python internals (dunder attributes, globals, os/popen): "
     "a loader that renders it outside a sandbox runs attacker code."),
    ("template/suspicious", "Chat template contains suspicious constructs",
     "Computed attribute names or code-like strings that legitimate chat templates do not need."),
    ("template/unparsed", "Chat template does not parse",
     "The template was checked by pattern only because Jinja could not parse it."),
    ("hf/remote-code", "Checkpoint asks for remote code",
     "auto_map / trust_remote_code make transformers import Python code shipped with the model."),
    ("hf/python-file", "Python source in the model folder",
     "Code shipped with a checkpoint runs when it is loaded with trust_remote_code."),
    ("hf/shard-path", "Shard index points outside the model folder",
     "A weight_map entry with an absolute path or '..' makes the loader read foreign files."),
    ("onnx/malformed", "Malformed ONNX protobuf", "The ModelProto could not be walked."),
    ("onnx/external-data-path", "ONNX external data escapes the model folder",
     "An absolute path, a '..' component or a link leaving the folder makes the runtime read "
     "arbitrary files into tensors."),
    ("onnx/external-data-missing", "ONNX external data file missing",
     "A referenced external data file does not exist in the model folder."),
    ("onnx/external-data-bounds", "ONNX external data range out of bounds",
     "offset+length lies outside the referenced file."),
    ("archive/path-traversal", "Archive member escapes the extraction folder",
     "Absolute member names or '..' components overwrite files outside the target (zip-slip)."),
    ("archive/link", "Link inside an archive", "Symlinks and hardlinks in archives redirect extraction."),
    ("archive/special-file", "Device or FIFO inside an archive", "Model archives hold regular files only."),
    ("archive/duplicate-member", "Duplicate archive member",
     "Two members with the same name: different readers pick different ones."),
    ("archive/encrypted", "Encrypted archive member", "Encrypted content cannot be analysed."),
    ("archive/too-deep", "Archive nesting too deep", "Nesting beyond the limit is not analysed."),
    ("archive/bomb", "Archive expands beyond the limit",
     "Decompressed size or ratio exceeds the gate's limits (a decompression bomb)."),
    ("archive/malformed", "Malformed archive", "The archive could not be read."),
    ("gate/error", "The gate failed on this file",
     "An unexpected error stopped the analysis; the gate fails closed."),
    ("torch/torchscript", "TorchScript archive",
     "torch.jit.load compiles and runs the TorchScript code stored in the archive."),
)


@dataclass(frozen=True)
class Finding:
    """One observation about one file (``file`` may name an archive member as ``a.zip!b/c``)."""

    rule: str
    severity: Severity
    file: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown rule id {self.rule!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")

    @property
    def blocking(self) -> bool:
        return _RANK[self.severity] >= _RANK[BLOCKING_AT]


@dataclass
class ScanReport:
    """Everything the gate found under one path."""

    root: str
    findings: list[Finding] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # display path -> identified format

    @property
    def blocking(self) -> bool:
        """True when any finding is high or critical: do not load this checkpoint."""
        return any(f.blocking for f in self.findings)

    def counts(self) -> dict[str, int]:
        c = Counter(f.severity for f in self.findings)
        return {s: c.get(s, 0) for s in SEVERITIES}

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: (-_RANK[f.severity], f.file, f.rule))

    def summary(self) -> str:
        """One line for logs and the CLI."""
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items() if n)
        verdict = "BLOCKED" if self.blocking else "clean" if not self.findings else "passed"
        return f"{verdict}: {len(self.files)} file(s) scanned, {len(self.findings)} finding(s)" + (
            f" ({counts})" if counts else ""
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "blocking": self.blocking,
            "counts": self.counts(),
            "files": dict(sorted(self.files.items())),
            "findings": [asdict(f) for f in self.sorted_findings()],
        }

    def to_sarif(self) -> dict[str, Any]:
        """The report as a SARIF 2.1.0 log (a JSON-ready dict)."""
        from modelcert.analyzers.artifact.sarif import to_sarif

        return to_sarif(self)

    def raise_if_blocking(self) -> None:
        """Raise :class:`UnsafeArtifactError` naming the worst finding; used by loaders."""
        if self.blocking:
            worst = self.sorted_findings()[0]
            raise UnsafeArtifactError(
                f"refusing to load {self.root}: {worst.file}: {worst.message} [{worst.rule}] "
                f"({self.summary()})"
            )
