"""The local/ model served from a child process: same outputs, same tier refusals, clean failure."""

from __future__ import annotations

from pathlib import Path

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.model import GenerateConfig, get_model
from inspect_ai.scorer import includes
from inspect_ai.solver import generate

from modelcert.errors import AccessError, ConfigError, ModelCallError
from modelcert.providers.checkpoint import load_checkpoint
from modelcert.providers.process import ModelProcess, serve_checkpoint

CHATS = [[{"role": "user", "content": f"hello number {i}"}] for i in range(6)]


@pytest.fixture(scope="module")
def served(random_checkpoint: Path):
    server = serve_checkpoint(random_checkpoint, access="weights")
    yield server


def test_the_child_gives_the_in_process_outputs(served: ModelProcess, random_checkpoint: Path) -> None:
    here = load_checkpoint(random_checkpoint, access="weights")
    kw = {"max_new_tokens": 6, "logprobs": True, "top_logprobs": 2}
    assert served.generate(CHATS, **kw) == here.generate(CHATS, **kw)
    conts = ["yes"] * len(CHATS)
    assert served.loglikelihood(CHATS, conts) == here.loglikelihood(CHATS, conts)
    a, b = served.hidden_states(CHATS, [1], pool="mean"), here.hidden_states(CHATS, [1], pool="mean")
    assert (a[1] == b[1]).all()
    assert served.tokenizer("hello")["input_ids"] == here.tokenizer("hello")["input_ids"]
    assert serve_checkpoint(random_checkpoint, access="weights") is served  # one child per model


def test_inspect_eval_through_the_child_matches_and_batches(served: ModelProcess, random_checkpoint: Path,
                                                            tmp_path: Path) -> None:
    task = Task(dataset=[Sample(input=f"hi {i}", target="x") for i in range(24)], solver=generate(), scorer=includes())
    cfg = GenerateConfig(temperature=0.0, max_tokens=6)
    before = served.batches_run
    logs = [inspect_eval(task, model=get_model(f"local/{random_checkpoint}", config=cfg, access="weights",
                                               process=p), display="none", log_dir=str(tmp_path / p))[0]
            for p in ("1", "0")]
    assert all(log.status == "success" for log in logs)
    by_id = [{s.id: s.output.completion for s in log.samples} for log in logs]
    assert by_id[0] == by_id[1]
    assert 0 < served.batches_run - before < 24 / 4  # the child ran batches, not one prompt at a time


def test_the_child_enforces_the_tier(random_checkpoint: Path) -> None:
    low = ModelProcess(random_checkpoint, access="api")
    try:
        with pytest.raises(AccessError):
            low.generate(CHATS[:1], max_new_tokens=2, logprobs=True)
        with pytest.raises(AccessError):
            low.loglikelihood(CHATS[:1], ["yes"])
        low._proc.kill()  # a dead child fails the next call at once instead of hanging it
        low._proc.wait()
        with pytest.raises(ModelCallError, match=r"not running|died"):
            low.generate(CHATS[:1], max_new_tokens=2)
    finally:
        low.close()


def test_a_bad_process_arg_is_refused(random_checkpoint: Path) -> None:
    with pytest.raises(ConfigError, match="process"):
        get_model(f"local/{random_checkpoint}", process="maybe")


def test_weights_tier_callers_keep_the_in_process_copy(served: ModelProcess, random_checkpoint: Path) -> None:
    # The backdoor scan, the probes and loglikelihood scoring read the model directly
    # (model.api.checkpoint): they get the shared in-process copy, generation the child.
    api = get_model(f"local/{random_checkpoint}", access="weights", process="1").api
    assert api.generator is served
    assert api.checkpoint is load_checkpoint(random_checkpoint, access="weights")
