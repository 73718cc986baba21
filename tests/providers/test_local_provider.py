"""The local/ provider: Inspect integration, batching, tier enforcement, weights-tier API."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.scorer import includes
from inspect_ai.solver import generate

from modelcert.errors import AccessError, ConfigError
from modelcert.providers.checkpoint import LocalCheckpoint, load_checkpoint
from modelcert.targets import make_target


def _task(n: int) -> Task:
    return Task(dataset=[Sample(input=f"hello {i}", target="x") for i in range(n)], solver=generate(), scorer=includes())


def _eval(model, n: int, tmp_path: Path):
    return inspect_eval(_task(n), model=model, display="none", log_dir=str(tmp_path), log_format="json")[0]


def test_inspect_eval_batches_concurrent_requests(random_checkpoint: Path, tmp_path: Path) -> None:
    target = make_target(f"local/{random_checkpoint}", generation={"temperature": 0.0, "max_tokens": 8})
    ckpt = load_checkpoint(random_checkpoint, access="weights")
    before_batches, before_prompts = ckpt.batches_run, ckpt.prompts_run
    log = _eval(target.inspect_model(), 40, tmp_path)
    assert log.status == "success" and len(log.samples) == 40
    batches = ckpt.batches_run - before_batches
    assert ckpt.prompts_run - before_prompts == 40
    assert batches < 40 / 4, f"requests were not batched: {batches} forward loops for 40 prompts"


def test_greedy_generation_is_deterministic(random_checkpoint: Path, tmp_path: Path) -> None:
    target = make_target(f"local/{random_checkpoint}", generation={"temperature": 0.0, "max_tokens": 12})
    a = [s.output.completion for s in _eval(target.inspect_model(), 8, tmp_path).samples]
    b = [s.output.completion for s in _eval(target.inspect_model(), 8, tmp_path).samples]
    assert a == b


def test_logprobs_returned_at_logprobs_tier_and_withheld_at_api(random_checkpoint: Path, tmp_path: Path) -> None:
    gen = {"temperature": 0.0, "max_tokens": 5}
    at_lp = make_target(f"local/{random_checkpoint}", "logprobs", generation=gen)
    log = _eval(at_lp.inspect_model(logprobs=True, top_logprobs=3), 3, tmp_path)
    lp = log.samples[0].output.choices[0].logprobs
    assert lp is not None and len(lp.content) == 5
    assert len(lp.content[0].top_logprobs) == 3
    assert lp.content[0].logprob == pytest.approx(lp.content[0].top_logprobs[0].logprob)  # greedy = argmax

    at_api = make_target(f"local/{random_checkpoint}", "api", generation=gen)
    # Ask for logprobs explicitly, bypassing the target's own filtering: the provider must still refuse.
    from inspect_ai.model import GenerateConfig, get_model

    model = get_model(at_api.model, config=GenerateConfig(logprobs=True, top_logprobs=3, max_tokens=5), access="api")
    log = _eval(model, 3, tmp_path)
    assert all(s.output.choices[0].logprobs is None for s in log.samples)


def test_weights_tier_api_is_gated(random_checkpoint: Path) -> None:
    chat = [{"role": "user", "content": "hello"}]
    low = LocalCheckpoint(random_checkpoint, access="logprobs")
    with pytest.raises(AccessError):
        low.loglikelihood([chat], ["yes"])
    with pytest.raises(AccessError):
        low.hidden_states([chat], [1])
    with pytest.raises(AccessError):
        low.parameters()
    api = LocalCheckpoint(random_checkpoint, access="api")
    with pytest.raises(AccessError):
        api.generate([chat], max_new_tokens=2, logprobs=True)


def test_loglikelihood_matches_generation_logprobs(random_checkpoint: Path) -> None:
    ckpt = LocalCheckpoint(random_checkpoint, access="weights")
    chats = [[{"role": "user", "content": "hello world"}], [{"role": "user", "content": "yes no"}]]
    gens = ckpt.generate(chats, max_new_tokens=3, logprobs=True)
    conts = [ckpt.tokenizer.decode([t.token_id for t in g.logprobs]) for g in gens]
    ll = ckpt.loglikelihood(chats, conts)
    for g, value in zip(gens, ll):
        assert value == pytest.approx(sum(t.logprob for t in g.logprobs), abs=1e-3)
    hs = ckpt.hidden_states(chats, [0, -1])
    assert hs[-1].shape == (2, ckpt.model.config.hidden_size)
    with pytest.raises(ConfigError):
        ckpt.hidden_states(chats, [99])


def test_unknown_model_args_and_tools_are_refused(random_checkpoint: Path) -> None:
    from inspect_ai.model import get_model

    with pytest.raises(ConfigError, match="unknown model args"):
        get_model(f"local/{random_checkpoint}", bogus=1)


def test_plain_inspect_cli_finds_the_provider_through_the_entry_point(random_checkpoint: Path, tmp_path: Path) -> None:
    task_file = tmp_path / "t.py"
    task_file.write_text(textwrap.dedent("""
        from inspect_ai import Task, task
        from inspect_ai.dataset import Sample
        from inspect_ai.scorer import includes
        from inspect_ai.solver import generate

        @task
        def tiny():
            return Task(dataset=[Sample(input="hello", target="x")], solver=generate(), scorer=includes())
    """))
    inspect_bin = Path(sys.executable).parent / "inspect"
    proc = subprocess.run(
        [str(inspect_bin), "eval", "t.py", "--model", f"local/{random_checkpoint}",
         "--max-tokens", "4", "--log-dir", str(tmp_path / "logs"), "--display", "none"],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert list((tmp_path / "logs").glob("*.eval")), proc.stdout[-2000:]


def test_provider_refuses_a_checkpoint_the_artifact_gate_flags(random_checkpoint: Path, tmp_path: Path) -> None:
    import shutil

    from modelcert.errors import UnsafeArtifactError

    bad = tmp_path / "bad"
    shutil.copytree(random_checkpoint, bad)
    # A chat template that walks to os.popen: refused by the gate, never rendered.
    cfg = bad / "tokenizer_config.json"
    cfg.write_text(cfg.read_text().replace(
        '"model_max_length"',
        '"chat_template": "{{ cycler.__init__.__globals__.os.popen(\'touch ' + str(tmp_path / 'PWNED') + '\').read() }}",\n  "model_max_length"',
        1,
    ))
    (bad / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(UnsafeArtifactError, match=r"artifact gate|refus|template"):
        LocalCheckpoint(bad, access="weights")
    assert not (tmp_path / "PWNED").exists()
