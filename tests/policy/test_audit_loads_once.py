"""An audit loads each local model once: the fingerprint and every check share one copy."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcert.policy.audit import AuditOptions, run_audit
from modelcert.providers import checkpoint
from modelcert.runner import Limits


def test_fingerprint_and_checks_share_one_loaded_model(random_checkpoint: Path, test_checks, policy_file: Path,
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "_CACHE", {})  # no copy left over from another test
    loads: list[Path] = []
    real_init = checkpoint.LocalCheckpoint.__init__

    def counting_init(self, path, **kw):  # type: ignore[no-untyped-def]
        loads.append(Path(path))
        real_init(self, path, **kw)

    used: set[int] = set()
    real_generate = checkpoint.LocalCheckpoint.generate

    def recording_generate(self, *args, **kw):  # type: ignore[no-untyped-def]
        used.add(id(self))
        return real_generate(self, *args, **kw)

    monkeypatch.setattr(checkpoint.LocalCheckpoint, "__init__", counting_init)
    monkeypatch.setattr(checkpoint.LocalCheckpoint, "generate", recording_generate)
    report = run_audit(AuditOptions(model=f"local/{random_checkpoint}", policy=str(policy_file), out=tmp_path / "o",
                                    db=str(tmp_path / "e.sqlite"), fingerprint=True, only=["R-clean", "R-files"],
                                    limits=Limits(max_retries=1, attempt_timeout=120, timeout=300)))
    reqs = {q["id"]: q for q in report.result["requirements"]}
    assert report.result["fingerprint"]["digest"] and reqs["R-clean"]["n"] > 0  # both queried the model
    # one copy answered both (Inspect may hand back a model an earlier test loaded: then no load here)
    assert len(used) == 1 and loads in ([], [random_checkpoint])
