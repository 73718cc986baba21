"""The target inversion's forced-prefix extension (analyzers/backdoor/target.py).

Prompts of different lengths are left-padded into one batch; the per-step probabilities
must equal those of each prompt run alone, or the readiness score measures padding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from modelcert.analyzers.backdoor.model import CheckpointScanModel
from modelcert.analyzers.backdoor.target import _extend, target_inversion
from modelcert.providers.checkpoint import LocalCheckpoint


def test_the_batched_extension_matches_each_prompt_alone(random_checkpoint: Path) -> None:
    ckpt = LocalCheckpoint(random_checkpoint, access="weights", threads=1)
    tok = ckpt.tokenizer
    prompts = [tok("a short prompt", add_special_tokens=False)["input_ids"],
               tok("a much longer prompt with many more words in it", add_special_tokens=False)["input_ids"]]
    first = prompts[0][0]
    probs, conts = _extend(ckpt, prompts, [first], length=3)
    # by hand: the prompt-averaged next-token distribution, one unpadded prompt at a time
    seqs = [[*p, first] for p in prompts]
    for step in range(3):
        with torch.inference_mode():
            dists = [torch.softmax(ckpt.model(input_ids=torch.tensor([s])).logits[0, -1].float(), -1).numpy()
                     for s in seqs]
        mean = np.mean(dists, 0)
        assert int(mean.argmax()) == conts[0][step]
        assert abs(float(mean.max()) - probs[0, step]) < 1e-4
        seqs = [[*s, conts[0][step]] for s in seqs]


def test_the_report_sets_aside_what_the_model_already_says(random_checkpoint: Path) -> None:
    model = CheckpointScanModel(LocalCheckpoint(random_checkpoint, access="weights", threads=1))
    out = target_inversion(model, "comply", prompts=2, length=2, first_top=8)
    assert 0.0 <= out["score"] <= 1.0 and out["first_tokens"] == 8
    assert all(not t["says_it"] for t in out["targets"]) and all(t["says_it"] for t in out["set_aside"])
    assert out["score"] == (out["targets"][0]["readiness"] if out["targets"] else 0.0)
    assert model.budget.to_dict()["total"] > 0
