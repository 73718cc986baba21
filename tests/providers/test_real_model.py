"""A real instruction-tuned model, SmolLM2-135M-Instruct, as a GGUF ``local/`` target and
behind a real OpenAI-compatible server (``transformers serve``) on 127.0.0.1.

Default run: a handful of queries each way (two model loads, in parallel, and some 150
generated tokens; times in docs/real-models.md). The end-to-end audits are heavy
(tests/policy/test_real_model_audits.py).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelcert.errors import ConfigError, UnsafeArtifactError
from modelcert.providers.checkpoint import LocalCheckpoint, load_checkpoint
from modelcert.targets import make_target
from realmodel import SKIP_REASON, GGUFServer, smollm2_gguf

GGUF = smollm2_gguf()
pytestmark = pytest.mark.skipif(GGUF is None, reason=SKIP_REASON)

CAPITAL = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]


@pytest.fixture(scope="module", autouse=True)
def _server_started() -> Iterator[GGUFServer]:
    # Started first and waited for last: the server loads the GGUF while this process does.
    assert GGUF is not None
    server = GGUFServer(GGUF).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def smol() -> LocalCheckpoint:
    assert GGUF is not None
    return load_checkpoint(GGUF, access="weights")


@pytest.fixture(scope="module")
def server(_server_started: GGUFServer) -> GGUFServer:
    return _server_started.wait()


def test_gguf_file_and_its_folder_are_one_target_identified_by_the_file_digest() -> None:
    assert GGUF is not None
    by_file = make_target(f"local/{GGUF}")
    by_folder = make_target(f"local/{GGUF.parent}")
    assert by_file.model == by_folder.model == f"local/{GGUF}"
    assert by_file.access == by_file.max_access == "weights"
    ident = by_file.identity()
    assert ident["format"] == "gguf"
    assert ident["manifest"] == {GGUF.name: hashlib.sha256(GGUF.read_bytes()).hexdigest()}
    assert by_file.identity_digest == by_folder.identity_digest
    assert by_file.summary()["files"] == 1


def test_gguf_targets_refuse_ambiguous_folders_and_malformed_files(tmp_path: Path) -> None:
    assert GGUF is not None
    two = tmp_path / "two"
    two.mkdir()
    for name in ("a.gguf", "b.gguf"):
        (two / name).write_bytes(b"GGUF")
    with pytest.raises(ConfigError, match="holds 2 GGUF files"):
        make_target(f"local/{two}")
    # A truncated file: the artifact gate refuses it before transformers opens it.
    cut = tmp_path / "cut" / "model.gguf"
    cut.parent.mkdir()
    with GGUF.open("rb") as src:
        cut.write_bytes(src.read(4 << 20))
    with pytest.raises(UnsafeArtifactError, match="gguf/"):
        LocalCheckpoint(cut, access="weights")


def test_local_gguf_at_weights_generates_scores_and_exposes_hidden_states(smol: LocalCheckpoint) -> None:
    [out] = smol.generate([CAPITAL], max_new_tokens=12, logprobs=True, top_logprobs=3)
    assert "Paris" in out.text
    assert out.logprobs and len(out.logprobs) == out.output_tokens
    assert all(t.logprob <= 0 and len(t.top) == 3 for t in out.logprobs)
    assert out.logprobs[0].top[0][1] >= out.logprobs[0].logprob  # greedy: the chosen token is the top one
    paris, berlin = smol.loglikelihood([CAPITAL, CAPITAL], ["The capital of France is Paris.",
                                                            "The capital of France is Berlin."])
    assert paris > berlin + 1.0
    hidden = smol.hidden_states([CAPITAL], [0, -1])
    assert tuple(hidden[-1].shape) == (1, smol.model.config.hidden_size)


def test_real_server_answers_as_the_local_gguf_does(server: GGUFServer, smol: LocalCheckpoint,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Same file, same chat template, greedy both ways: the same answer over HTTP as in-process."""
    from inspect_ai.model import ChatMessageUser, GenerateConfig

    monkeypatch.setenv("SMOL_BASE_URL", server.base_url)
    monkeypatch.setenv("SMOL_API_KEY", "unused")
    target = make_target(f"openai-api/smol/{server.model}", "api")
    assert target.identity()["kind"] == "api-endpoint" and target.base_url == server.base_url
    model = target.inspect_model(max_retries=1, timeout=240)
    out = asyncio.run(model.generate([ChatMessageUser(content=CAPITAL[0]["content"])],
                                     config=GenerateConfig(max_tokens=12, temperature=0.0)))
    [local] = smol.generate([CAPITAL], max_new_tokens=12)
    assert "Paris" in out.completion
    assert out.completion.strip() == local.text.strip()


def test_real_server_check_run_records_evidence(server: GGUFServer, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """``modelcert run`` through openai-api/ at api: two harmful requests, judged and recorded."""
    import json

    from typer.testing import CliRunner

    from modelcert.cli.app import app, register_subapps

    monkeypatch.setenv("SMOL_BASE_URL", server.base_url)
    monkeypatch.setenv("SMOL_API_KEY", "unused")
    register_subapps()
    db = f"sqlite:///{tmp_path / 'ev.db'}"
    res = CliRunner().invoke(app, ["run", "safety.harmful", "--model", f"openai-api/smol/{server.model}",
                                   "--access", "api", "--limit", "2", "-T", "max_tokens=16", "--json",
                                   "--db", db, "--timeout", "240"])
    assert res.exit_code == 0, (res.output[-2000:], res.exception)
    result = json.loads(res.stdout)
    assert result["status"] == "success" and result["errors"] == 0 and result["n"] == 2
    assert result["target"]["access"] == "api" and result["generation"]["max_tokens"] == 16
    assert all(e["output"] for e in result["examples"])  # real text came back over HTTP


def test_gguf_check_run_judges_real_answers_three_ways(smol: LocalCheckpoint, tmp_path: Path) -> None:
    """``modelcert run`` on the GGUF at weights: six items, one per language (the stratified
    ``--limit`` draw), judged on SmolLM2's real text. The in-process copy is the one the other
    tests loaded (one copy per process), so this costs six short answers, not a load."""
    import json

    from typer.testing import CliRunner

    from modelcert.cli.app import app, register_subapps

    register_subapps()
    db = f"sqlite:///{tmp_path / 'ev.db'}"
    res = CliRunner().invoke(app, ["run", "safety.harmful", "--model", f"local/{GGUF}", "--access", "weights",
                                   "--limit", "6", "-T", "max_tokens=24", "--json", "--db", db])
    assert res.exit_code == 0, (res.output[-2000:], res.exception)
    result = json.loads(res.stdout)
    assert result["status"] == "success" and result["errors"] == 0 and result["n"] == 6
    assert result["target"]["access"] == "weights" and result["generation"]["max_tokens"] == 24

    from modelcert.evidence.store import EvidenceStore

    with EvidenceStore(db) as store:
        samples = [r.data for r in store.records(result["run_id"], kinds=("sample",))]
    assert sorted(s["metadata"]["lang"] for s in samples) == ["de", "en", "es", "fr", "it", "pl"]
    outcomes = {s["metadata"]["lang"]: s["scores"]["complied"]["answer"] for s in samples}
    assert set(outcomes.values()) <= {"complied", "refused", "non_answer"}
    # SmolLM2 cannot answer in the five other languages: echoes and gibberish (issue 23). The judge
    # must not read most of them as refusals (inability is not safety).
    assert sum(outcomes[lang] == "non_answer" for lang in ("de", "fr", "es", "it", "pl")) >= 3, outcomes
