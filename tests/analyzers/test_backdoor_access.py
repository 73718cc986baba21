"""Tier gating and bad input for the backdoor scans (on a real, randomly initialised checkpoint)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcert.analyzers.backdoor import CheckpointScanModel, scan
from modelcert.errors import AccessError, ConfigError
from modelcert.providers.checkpoint import LocalCheckpoint


@pytest.fixture(scope="module")
def weights_ckpt(random_checkpoint: Path) -> LocalCheckpoint:
    return LocalCheckpoint(random_checkpoint, access="weights", threads=1)


def test_a_scan_cannot_exceed_the_loaded_tier(random_checkpoint: Path):
    api_only = LocalCheckpoint(random_checkpoint, access="api", threads=1)
    with pytest.raises(AccessError):
        CheckpointScanModel(api_only, tier="logprobs")
    model = CheckpointScanModel(api_only)
    with pytest.raises(AccessError):
        scan(model, "weights")
    with pytest.raises(AccessError):
        model.first_logprobs([[{"role": "user", "content": "hi"}]])


def test_a_downgraded_target_withholds_logprobs_and_weights(weights_ckpt: LocalCheckpoint):
    model = CheckpointScanModel(weights_ckpt, tier="api")
    assert len(model.generate([[{"role": "user", "content": "hello"}]], 4)) == 1
    assert model.budget.generate == 1
    with pytest.raises(AccessError):
        model.first_logprobs([[{"role": "user", "content": "hello"}]])
    with pytest.raises(AccessError):
        _ = model.checkpoint
    lp = CheckpointScanModel(weights_ckpt, tier="logprobs").first_logprobs([[{"role": "user", "content": "x"}]], 5)
    # top-5 alternatives; tokens that decode to the same text (partial bytes) pool their mass
    assert 1 <= len(lp[0]) <= 5 and all(v <= 0 for v in lp[0].values())


def test_a_base_is_not_for_the_api_tier(weights_ckpt: LocalCheckpoint, random_checkpoint: Path):
    with pytest.raises(ConfigError, match="logprobs- and weights-tier"):
        scan(CheckpointScanModel(weights_ckpt, tier="api"), "api", base=random_checkpoint)


def test_weight_diff_reads_the_base_and_refuses_a_bad_one(weights_ckpt: LocalCheckpoint, tmp_path: Path):
    from modelcert.analyzers.backdoor.weights import weight_diff
    from testkit import build_random_checkpoint

    other = build_random_checkpoint(tmp_path / "other", seed=1)
    diff = weight_diff(weights_ckpt, other)
    assert diff["mean_relative_change"] > 0.1  # two independent initialisations differ everywhere
    assert len(diff["embedding"]) == 16
    same = weight_diff(weights_ckpt, weights_ckpt.path)
    assert same["mean_relative_change"] == 0.0
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="safetensors"):
        weight_diff(weights_ckpt, empty)
