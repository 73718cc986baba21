"""A run that dies after it started is closed as ``failed`` with its error, not left "open"."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcert.checks.registry import get_check
from modelcert.evidence.store import RUN_END, EvidenceStore
from modelcert.runner.check import run_check_recorded
from modelcert.runner.engine import Runner
from modelcert.targets import make_target


def test_a_run_that_dies_is_closed_as_failed(random_checkpoint: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def dies(self, *a, **k):  # type: ignore[no-untyped-def]
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(Runner, "run_round", dies)
    target = make_target(f"local/{random_checkpoint}", "api")
    with EvidenceStore(f"sqlite:///{tmp_path / 'ev.sqlite'}") as store:
        with pytest.raises(RuntimeError, match="disk went away"):
            run_check_recorded(get_check("safety.harmful"), target, store=store, limit=2)
        [run] = store.runs()
        assert run.closed
        [end] = list(store.records(run.run_id, kinds=(RUN_END,)))
        assert end.data["status"] == "failed" and end.data["error"] == "RuntimeError: the disk went away"
