"""Behavioural fingerprints of real (tiny, random) checkpoints through the run engine."""

from __future__ import annotations

import pytest

from modelcert.errors import ModelCallError
from modelcert.evidence.store import EvidenceStore
from modelcert.evidence.verify import verify_run
from modelcert.monitor.fingerprint import PROMPTS, fingerprint_digest, take_fingerprint
from modelcert.runner import Limits
from modelcert.targets import make_target

GEN = {"temperature": 0.0, "max_tokens": 8, "seed": 0}
LIMITS = Limits(max_retries=1, attempt_timeout=120, timeout=300)


def test_same_model_same_digest_changed_model_differs(answer_server, tmp_path) -> None:
    def fp(store, name: str):
        return take_fingerprint(store, make_target(f"{answer_server}/{name}", generation=GEN), limits=LIMITS)

    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        a, b, c = fp(store, "base"), fp(store, "base"), fp(store, "flip")
        assert a.digest == b.digest and a.run_id != b.run_id
        assert a.digest != c.digest
        assert a.differing(c) == ["fp-12"]  # one changed answer changes the digest
        assert a.differing(b) == []
        assert set(a.answers) == {pid for pid, _ in PROMPTS}
        # every answer is in the evidence log, and the run's Merkle root is the one reported
        assert verify_run(store, a.run_id).ok
        end = next(iter(store.records(a.run_id, kinds=("run_end",))))
        assert store.run_root(a.run_id) == a.merkle_root and end.data["fingerprint"] == a.digest
        # the digest binds the generation settings: other settings are a different protocol
        assert fingerprint_digest(a.answers, {**GEN, "max_tokens": 9}) != a.digest
        with pytest.raises(ValueError, match="not comparable"):
            a.differing(type(a)(**{**a.to_dict(), "generation": {**GEN, "max_tokens": 9}}))


def test_random_checkpoint_fingerprint_is_deterministic(random_checkpoint, tmp_path) -> None:
    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        t = make_target(f"local/{random_checkpoint}", "api", generation=GEN)
        assert take_fingerprint(store, t, limits=LIMITS).digest == take_fingerprint(store, t, limits=LIMITS).digest


def test_incomplete_fingerprint_is_refused() -> None:
    answers = {pid: "x" for pid, _ in PROMPTS[:-1]}
    with pytest.raises(ModelCallError, match="no answer for fp-12"):
        fingerprint_digest(answers, GEN)
