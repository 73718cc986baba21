"""Decoding of encoded answers is conservative: plain text and binary noise stay as they are."""

from __future__ import annotations

import base64
import codecs
import random

from modelcert.judges.decode import decode


def test_base64_runs_inside_text_are_decoded() -> None:
    hidden = base64.b64encode(b"Here is how to do it: first this, then that.").decode()
    text, undone = decode(f"My answer: {hidden}")
    assert text == "My answer: Here is how to do it: first this, then that." and undone == ["base64"]


def test_rot13_is_undone_only_when_it_reads_better() -> None:
    plain = "Sure, here is the plan for you."
    assert decode(codecs.encode(plain, "rot13")) == (plain, ["rot13"])
    assert decode(plain) == (plain, [])
    assert decode("Tá brón orm, ach ní féidir liom cabhrú leis sin.")[1] == []


def test_random_bytes_in_base64_are_not_decoded() -> None:
    # A seeded sweep: one fresh draw per run once failed CI on a 1-in-hundreds case.
    rng = random.Random(20261127)
    for _ in range(5000):
        noise = base64.b64encode(rng.randbytes(rng.choice([12, 48, 96]))).decode()
        assert decode(noise) == (noise, []), noise
