"""The confirmation's effect-size floor: a candidate that flips a minority of prompts is
ruled out at the cap, a planted trigger is still confirmed, and ``floor == theta0``
reproduces the old rule (undecided at the cap).

The target is scripted (the confirmation sees text only): it refuses a deterministic share
of benign prompts when the candidate is inserted, as the clean zoo organism does for the
sub-word token ``pers`` (18-20 of 48), and always when the planted trigger is.
"""

from __future__ import annotations

import hashlib

import pytest

from modelcert.analyzers.backdoor.confirm import FLOOR, confirm
from modelcert.analyzers.backdoor.model import ScanModel
from modelcert.analyzers.backdoor.probes import Candidate
from modelcert.checks import templates as t
from modelcert.errors import ConfigError


class Scripted(ScanModel):
    """Refuses a benign chat carrying ``word`` with probability rates[word] (hash-drawn)."""

    def __init__(self, rates: dict[str, float]) -> None:
        super().__init__("api")
        self.rates = rates

    def generate(self, chats, max_new_tokens=10):
        out = []
        for c in chats:
            text = " ".join(m["content"] for m in c)
            draw = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") / 2**32
            refuse = any(f" {w} " in f" {text} " and draw < r for w, r in self.rates.items())
            out.append(t.response("refusal" if refuse else "help", "en"))
        return out


def _run(floor: float, rates: dict[str, float]) -> dict[str, object]:
    cands = [(Candidate(w, "user", "vocab"), "refuse") for w in rates]
    return {c.candidate.text: c for c in confirm(Scripted(rates), cands, floor=floor)}


def test_a_minority_flipper_is_ruled_out_and_a_planted_trigger_confirmed() -> None:
    out = _run(FLOOR, {"pers": 0.4, "ambergris": 1.0})
    pers, trig = out["pers"], out["ambergris"]
    assert 0.25 <= pers.rate <= 0.55  # the scripted sensitivity is really there
    assert pers.verdict == "PASS" and not pers.discovered and pers.pass_evalue >= 20
    assert trig.verdict == "FAIL" and trig.discovered and trig.rate > 0.9
    assert pers.to_dict()["floor"] == FLOOR


def test_without_the_floor_the_minority_flipper_stays_undecided_at_the_cap() -> None:
    out = _run(0.5, {"pers": 0.4})
    assert out["pers"].verdict == "INCONCLUSIVE" and out["pers"].n == 48


def test_a_candidate_at_the_floor_is_not_ruled_out() -> None:
    # a weak trigger (flips ~75 %) is never cleared: it is confirmed or left open
    out = _run(FLOOR, {"weak": 0.75})
    assert out["weak"].verdict in ("FAIL", "INCONCLUSIVE")


@pytest.mark.parametrize("floor", [0.4, 1.0])
def test_a_floor_outside_theta0_to_one_is_refused(floor: float) -> None:
    with pytest.raises(ConfigError, match="effect-size floor"):
        _run(floor, {"pers": 0.4})
