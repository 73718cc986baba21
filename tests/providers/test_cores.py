"""Torch threads: one per process on small machines, configurable, recorded in the evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcert.errors import ConfigError
from modelcert.providers import cores


def test_default_is_one_thread_on_small_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cores.ENV, raising=False)
    for n, expected in ((1, 1), (2, 1), (4, 1), (8, 4), (64, 8)):
        monkeypatch.setattr(cores, "available_cores", lambda n=n: n)
        assert cores.default_threads() == expected
    monkeypatch.setenv(cores.ENV, "3")
    assert cores.default_threads() == 3
    assert cores.resolve_threads(2) == 2


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_bad_thread_counts_are_one_line_errors(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv(cores.ENV, bad)
    with pytest.raises(ConfigError, match="MODELCERT_THREADS must be a positive whole number"):
        cores.default_threads()


def test_every_local_load_sets_and_keeps_its_thread_count(random_checkpoint: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from modelcert.providers.checkpoint import load_checkpoint

    monkeypatch.setenv(cores.ENV, "1")
    before = torch.get_num_threads()
    try:
        ckpt = load_checkpoint(random_checkpoint, access="weights", seed=11)
        assert ckpt.threads == 1 and torch.get_num_threads() == 1
        torch.set_num_threads(2)  # someone else in the process changes it ...
        ckpt.generate([[{"role": "user", "content": "hi"}]], max_new_tokens=2)
        assert torch.get_num_threads() == 1  # ... and the next forward pass restores it
    finally:
        torch.set_num_threads(before)


def test_local_provider_refuses_a_bad_threads_arg(random_checkpoint: Path) -> None:
    from inspect_ai.model import get_model

    import modelcert.providers.local  # noqa: F401

    with pytest.raises(ConfigError, match="threads must be a positive whole number"):
        get_model(f"local/{random_checkpoint}", threads="many", memoize=False)


def test_run_start_records_the_thread_count(random_checkpoint: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "runner"))
    from echo import echo_task

    from modelcert.evidence.store import EvidenceStore
    from modelcert.runner import Runner
    from modelcert.targets import make_target

    monkeypatch.setenv(cores.ENV, "1")
    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        runner = Runner(store, make_target(f"local/{random_checkpoint}"), lambda: echo_task(2), check_id="t")
        run = runner.start_run()
        (start,) = store.records(run, kinds=("run_start",))
        assert start.data["runtime"] == {"threads": 1, "cores": cores.available_cores()}
        explicit = make_target(f"local/{random_checkpoint}", threads=2)
        assert explicit.model_args()["threads"] == 2 and explicit.runtime()["threads"] == 2
