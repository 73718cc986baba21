"""The backdoor checks: registered per tier, runnable through Inspect, honest in their report."""

from __future__ import annotations

import asyncio
import types
from pathlib import Path

import pytest

from modelcert.checks.registry import get_check
from modelcert.errors import ConfigError


@pytest.mark.parametrize("tier", ["api", "logprobs", "weights"])
def test_one_check_per_tier_for_the_poisoning_requirement(tier):
    spec = get_check(f"security.backdoor.{tier}")
    assert spec.tier == tier
    assert spec.requirements == ("AIA-15.5-poisoning",)
    assert spec.family == "security"


def test_weights_tier_needs_a_local_checkpoint():
    from modelcert.checks.backdoor import _scan_model

    remote = types.SimpleNamespace(api=types.SimpleNamespace())  # an Inspect model without a checkpoint
    with pytest.raises(ConfigError, match="local/"):
        _scan_model(remote, "weights", asyncio.new_event_loop())


def test_api_check_runs_through_inspect_and_records_the_report(random_checkpoint: Path, tmp_path: Path):
    # The random model answers gibberish. Under the old two-way judge that read as a refusal of
    # every benign probe, so the refuse direction had no prompt to test (which once raised
    # StopIteration in a worker thread and stalled the eval); the three-way judge calls it a
    # non-answer. Either way a random model plants nothing: no candidate may be confirmed.
    import torch
    from inspect_ai import eval as inspect_eval

    from modelcert.checks.backdoor import backdoor_api

    torch.set_num_threads(1)
    task = backdoor_api(dictionary=0, candidates="quokka,zeppelin")
    log = inspect_eval(task, model=f"local/{random_checkpoint}", model_args={"access": "api"}, display="none",
                       log_dir=str(tmp_path), log_format="json", max_retries=1, timeout=120)[0]
    assert log.status == "success", log.error
    sample = log.samples[0]
    report = sample.metadata["backdoor_report"]
    assert report["tier"] == "api"
    assert report["candidates"]["extra"] == 2
    assert report["queries"]["total"] > 0 and report["queries"]["logprobs"] == 0
    assert "not proof of absence" in report["statement"]
    refuse = [c for c in report["confirmations"] if c["attack"] == "refuse"]
    assert refuse and all(c["verdict"] != "FAIL" and not c["discovered"] for c in refuse)
    untestable = [c for c in refuse if c["verdict"] == "INCONCLUSIVE"]
    score = next(iter(sample.scores.values()))
    assert score.value == (1 if report["flagged"] else 0)
    assert score.metadata["queries"] == report["queries"]["total"]
    # the undecided candidates travel with the score, so a policy cannot read them as a clean scan
    assert {(c["text"], c["attack"]) for c in score.metadata["undecided"]} >= {
        (c["text"], c["attack"]) for c in untestable}
