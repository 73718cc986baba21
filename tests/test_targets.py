"""Targets: model strings, access tiers, downgrades and identity digests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modelcert.errors import AccessError, ConfigError
from modelcert.targets import make_target, tier_allows


def test_local_target_defaults_to_weights_and_has_manifest_identity(random_checkpoint: Path) -> None:
    t = make_target(f"local/{random_checkpoint}")
    assert t.access == "weights" and not t.downgraded
    ident = t.identity()
    assert ident["kind"] == "weights-manifest"
    assert "model.safetensors" in ident["manifest"]
    assert len(t.identity_digest) == 64


def test_downgrade_is_allowed_and_recorded(random_checkpoint: Path) -> None:
    t = make_target(f"local/{random_checkpoint}", "api")
    assert t.access == "api" and t.max_access == "weights" and t.downgraded
    s = t.summary()
    assert s["downgraded"] is True
    assert "token log-probabilities" in s["withheld"]
    assert not t.allows("logprobs")
    with pytest.raises(AccessError):
        t.require("weights", "a weights analyzer")


def test_more_access_than_provider_supports_is_an_error() -> None:
    with pytest.raises(AccessError, match="supports at most 'api'"):
        make_target("anthropic/claude-x", "logprobs")
    with pytest.raises(AccessError, match="supports at most 'logprobs'"):
        make_target("openai-api/lab/m", "weights")


def test_api_identity_covers_address_and_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_BASE_URL", "http://127.0.0.1:9/v1")
    a = make_target("openai-api/lab/model-a")
    assert a.access == "logprobs"
    assert a.identity()["base_url"] == "http://127.0.0.1:9/v1"
    b = make_target("openai-api/lab/model-a", generation={"temperature": 0.7})
    c = make_target("openai-api/lab/model-b")
    assert len({a.identity_digest, b.identity_digest, c.identity_digest}) == 3


def test_identity_digest_changes_when_any_weight_file_changes(random_checkpoint: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(random_checkpoint, copy)
    before = make_target(f"local/{copy}").identity_digest
    assert make_target(f"local/{copy}").identity_digest == before  # stable
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # flip one bit in the last tensor byte
    weights.write_bytes(bytes(data))
    after_weights = make_target(f"local/{copy}").identity_digest
    assert after_weights != before
    (copy / "config.json").write_text((copy / "config.json").read_text() + " ")
    assert make_target(f"local/{copy}").identity_digest not in (before, after_weights)


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "weights.ckpt", "w.pkl"])
def test_pickle_checkpoints_are_refused(random_checkpoint: Path, tmp_path: Path, name: str) -> None:
    copy = tmp_path / "ckpt"
    shutil.copytree(random_checkpoint, copy)
    sentinel = tmp_path / "PWNED"
    # A pickle that would create the sentinel if anything unpickled it.
    payload = (
        b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94"
        + b"\x8c" + bytes([len(f"touch {sentinel}")]) + f"touch {sentinel}".encode() + b"\x94\x85\x94R\x94."
    )
    (copy / name).write_bytes(payload)
    with pytest.raises(AccessError, match="pickle-format"):
        make_target(f"local/{copy}")
    assert not sentinel.exists()


def test_bad_addresses_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        make_target("no-provider")
    with pytest.raises(ConfigError, match="not found"):
        make_target(f"local/{tmp_path / 'missing'}")
    with pytest.raises(ConfigError, match="safetensors"):
        make_target(f"local/{tmp_path}")
    with pytest.raises(ConfigError, match="unknown access tier"):
        make_target("openai-api/lab/m", "root")


def test_tier_order() -> None:
    assert tier_allows("weights", "api") and tier_allows("logprobs", "logprobs")
    assert not tier_allows("api", "logprobs")


def test_address_is_shown_as_typed_with_the_resolved_folder(random_checkpoint: Path) -> None:
    from modelcert.organisms import zoo_path

    s = make_target("local/zoo:clean").summary()
    assert s["model"] == "local/zoo:clean" and s["resolved"] == str(zoo_path("clean"))  # not local//<abs path>
    typed = f"local/{random_checkpoint}"
    s = make_target(typed).summary()
    assert s["model"] == typed and s["resolved"] == str(random_checkpoint.resolve())  # as typed, even "local//"
    assert "resolved" not in make_target("openai-api/lab/m").summary()


def test_unknown_provider_is_refused_before_anything_runs() -> None:
    from modelcert.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown model provider 'foo' in 'foo/bar'; known: .*openai-api"):
        make_target("foo/bar")
    assert make_target("mockllm/model").provider == "mockllm"  # any provider Inspect knows is accepted
