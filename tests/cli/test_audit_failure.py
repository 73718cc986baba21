"""An audit that dies after it started closes its runs as ``failed``, with the error."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from modelcert.cli import main
from modelcert.evidence.store import RUN_END, EvidenceStore
from modelcert.runner.engine import Runner


def test_a_dying_audit_leaves_no_open_run(random_checkpoint: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def dies(self, *a, **k):  # type: ignore[no-untyped-def]
        raise RuntimeError("the model host went away")

    monkeypatch.setattr(Runner, "run_round", dies)
    db = f"sqlite:///{tmp_path / 'ev.sqlite'}"
    monkeypatch.setattr(sys, "argv", ["modelcert", "audit", "--model", f"local/{random_checkpoint}", "--only",
                                      "CoP-SSR-harmful-compliance", "--out", str(tmp_path / "out"), "--db", db])
    with pytest.raises(RuntimeError, match="went away"):  # a bug, not a user error: it keeps its traceback
        main()
    with EvidenceStore(db) as store:
        runs = store.runs()
        assert len(runs) == 2 and all(r.closed for r in runs)  # the audit's own run and the requirement's
        for r in runs:
            [end] = list(store.records(r.run_id, kinds=(RUN_END,)))
            assert end.data["status"] == "failed" and end.data["error"] == "RuntimeError: the model host went away"
