"""The round engine against a real HTTP chat server and a real local checkpoint."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from echo import echo_task
from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import includes
from inspect_ai.solver import generate

from modelcert.errors import ConfigError, EvidenceError
from modelcert.evidence.store import EvidenceStore
from modelcert.evidence.verify import verify_run
from modelcert.runner import Limits, Runner
from modelcert.targets import make_target

FAST = Limits(max_retries=1, attempt_timeout=5, timeout=30, max_samples=4)


def _runner(store: EvidenceStore, server, task, **kw) -> Runner:
    target = make_target("openai-api/fake/echo", base_url=server.base_url)
    return Runner(store, target, task, check_id="test.echo", check_version="1", limits=kw.pop("limits", FAST), **kw)


def test_rounds_record_every_sample_and_resume_requeries_nothing(chat_server, tmp_path: Path) -> None:
    seen = []
    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        first = _runner(store, chat_server, echo_task(8), on_record=seen.append)
        run_id = first.start_run()
        got = first.run_round(start=0, stop=3)
        assert sorted(r.sample_id for r in got) == [1, 2, 3]
        assert all(r.ok and not r.resumed for r in got)
        assert [r.seq for r in seen] == sorted(r.seq for r in got)  # recorded as each finished
        assert got[0].scores["includes"]["value"] == "C"
        assert got[0].data["output"]["completion"] == f"echo: question {got[0].sample_id}"

        # a second invocation with the same configuration resumes the same run
        again = _runner(store, chat_server, echo_task(8))
        assert again.start_run() == run_id
        assert again.completed_ids() == {(1, 1), (2, 1), (3, 1)}
        got = again.run_round([2, 3, 4, 5])
        assert {(r.sample_id, r.resumed) for r in got} == {(2, True), (3, True), (4, False), (5, False)}
        again.run_round()  # the rest
        end = again.finish_run()
        assert end.data["samples"] == 8 and end.data["errors"] == 0
        assert dict(chat_server.calls) == {f"question {i}": 1 for i in range(1, 9)}
        kinds = [r.kind for r in store.records(run_id)]
        assert kinds.count("sample") == 8 and kinds.count("round") == 3 and kinds.count("resume") == 1
        assert verify_run(store, run_id).ok
        # after run_end the same command starts a fresh run
        assert _runner(store, chat_server, echo_task(8)).start_run() != run_id


def test_a_different_configuration_is_a_different_run(chat_server, tmp_path: Path) -> None:
    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        a = _runner(store, chat_server, echo_task(3))
        b = _runner(store, chat_server, echo_task(4))  # another suite
        c = _runner(store, chat_server, echo_task(3), seed=1)
        assert len({a.resume_key(), b.resume_key(), c.resume_key()}) == 3
        assert a.start_run() != b.start_run()


def test_errors_are_recorded_bounded_and_retried_on_resume(chat_server, tmp_path: Path) -> None:
    samples = [Sample(id="ok", input="fine", target="fine"),
               Sample(id="bad", input="please [400]", target="x"),
               Sample(id="slow", input="please [hang]", target="x")]
    task = Task(dataset=MemoryDataset(samples), solver=generate(), scorer=includes())
    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        runner = _runner(store, chat_server, task, limits=Limits(max_retries=0, attempt_timeout=20, timeout=30))
        run_id = runner.start_run()
        got = {r.sample_id: r for r in runner.run_round(["ok", "bad"])}
        assert got["ok"].ok
        assert not got["bad"].ok and "400" in got["bad"].error
        # a server that never answers: bounded by the attempt timeout (limits are not part of the run's key)
        impatient = _runner(store, chat_server, task, limits=Limits(max_retries=0, attempt_timeout=1, timeout=5))
        assert impatient.start_run() == run_id
        t0 = time.perf_counter()
        (slow,) = impatient.run_round(["slow"])
        assert time.perf_counter() - t0 < 25 and not slow.ok and slow.error
        rounds = [r.data for r in store.records(run_id, kinds=("round",))]
        assert [(r["recorded"], r["errors"], r["unfinished"]) for r in rounds] == [(2, 1, []), (1, 1, [])]
        # errors are not "complete": the next round tries them again, and keeps the old error records
        runner.run_round(["ok", "bad"])
        assert chat_server.calls["fine"] == 1 and chat_server.calls["please [400]"] == 2
        errors = [r for r in store.records(run_id, kinds=("sample_error",))]
        assert [r.data["sample_id"] for r in errors].count("bad") == 2
        end = runner.finish_run()
        assert (end.data["samples"], end.data["errors"]) == (1, 2)
        assert verify_run(store, run_id).ok


def test_rate_limit_backs_off_and_the_retry_is_evidence(chat_server, tmp_path: Path) -> None:
    task = Task(dataset=MemoryDataset([Sample(id=1, input="busy [429]", target="busy")]), solver=generate(),
                scorer=includes())
    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        runner = _runner(store, chat_server, task, limits=Limits(max_retries=2, attempt_timeout=5, timeout=60))
        runner.start_run()
        (rec,) = runner.run_round()
    assert rec.ok and chat_server.calls["busy [429]"] == 2
    (call,) = rec.data["calls"]  # one model call, which needed one retry after the 429
    assert call["retries"] == 1 and call["error"] is None


def test_preregistration_comes_before_any_query(chat_server, tmp_path: Path) -> None:
    plan = {"policy_digest": "ab" * 32, "suite_digests": ["cd" * 32], "analysis": {"alpha": 0.05}}
    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        runner = _runner(store, chat_server, echo_task(2))
        run_id = runner.start_run(preregistration=plan)
        assert sum(chat_server.calls.values()) == 0
        runner.run_round()
        kinds = [r.kind for r in store.records(run_id)]
        assert kinds[:2] == ["preregistration", "run_start"]
        start = list(store.records(run_id))[1].data
        assert start["check"]["id"] == "test.echo" and start["target_digest"]
        assert set(start["software"]) >= {"modelcert", "inspect-ai", "transformers", "torch", "python"}
        assert start["limits"]["max_retries"] == 1
        assert start["generation"] == {"temperature": 0.0, "max_tokens": 64, "seed": 0}
        assert "task_config" in start and start["dataset"]["samples"] == 2
        with pytest.raises(EvidenceError, match="preregistration"):
            store.append(run_id, "preregistration", plan)


def test_unknown_sample_ids_and_glob_characters(chat_server, tmp_path: Path) -> None:
    samples = [Sample(id="a*", input="star", target="star"), Sample(id="ab", input="plain", target="plain")]
    task = Task(dataset=MemoryDataset(samples), solver=generate(), scorer=includes())
    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        runner = _runner(store, chat_server, task)
        runner.start_run()
        with pytest.raises(ConfigError, match="no sample"):
            runner.run_round(["nope"])
        got = runner.run_round(["a*"])
        assert [r.sample_id for r in got] == ["a*"]
        assert dict(chat_server.calls) == {"star": 1}  # 'a*' did not match 'ab'


def test_local_checkpoint_logprobs_follow_the_tier(random_checkpoint: Path, tmp_path: Path) -> None:
    task = Task(dataset=MemoryDataset([Sample(id=i, input=f"hello {i}", target="x") for i in range(3)]),
                solver=generate(), scorer=includes())
    gen = {"temperature": 0.0, "max_tokens": 4, "seed": 0, "logprobs": True, "top_logprobs": 2}
    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        for access, expect_lp in (("logprobs", True), ("api", False)):
            target = make_target(f"local/{random_checkpoint}", access, generation=gen)
            runner = Runner(store, target, task, check_id="test.local", limits=FAST)
            records = runner.run()
            assert len(records) == 3 and all(r.ok for r in records)
            lps = [r.data["output"]["logprobs"] for r in records]
            if expect_lp:
                assert all(lp and isinstance(lp[0]["logprob"], float) and len(lp[0]["top"]) == 2 for lp in lps)
            else:
                assert all(lp is None for lp in lps)
            start = next(store.records(runner.run_id, kinds=("run_start",))).data
            assert start["target"]["kind"] == "weights-manifest" and start["access"] == access
            assert verify_run(store, runner.run_id).ok


def test_nan_scores_are_kept_as_strings(chat_server, tmp_path: Path) -> None:
    from inspect_ai.scorer import Score, mean, scorer

    @scorer(metrics=[mean()])
    def undefined():
        async def score(state, target):
            return Score(value=float("nan"), explanation="no reference")

        return score

    task = Task(dataset=MemoryDataset([Sample(id=1, input="q", target="q")]), solver=generate(), scorer=undefined())
    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        runner = _runner(store, chat_server, task)
        runner.start_run()
        (rec,) = runner.run_round()
        assert rec.ok and rec.scores["undefined"]["value"] == "NaN"
        assert verify_run(store, runner.run_id).ok


def test_a_failing_evidence_write_fails_the_round_loudly(chat_server, tmp_path: Path) -> None:
    db = str(tmp_path / "e.sqlite")
    with EvidenceStore(db) as store, EvidenceStore(db) as other:
        runner = _runner(store, chat_server, echo_task(2))
        run_id = runner.start_run()
        other.finish(run_id)  # someone closes the run behind the engine's back
        with pytest.raises(EvidenceError, match=r"writing evidence failed.*closed"):
            runner.run_round()
        assert [r.kind for r in store.records(run_id)] == ["run_start", "run_end"]


def test_evidence_rebuilds_the_samples_inspect_logged(chat_server, tmp_path: Path) -> None:
    """Analyses can run on the evidence: rebuilt samples match Inspect's own log."""
    import glob

    from inspect_ai.log import read_eval_log

    samples = [Sample(id=i, input=f"question {i}", target=f"question {i}", metadata={"lang": "en", "i": i})
               for i in range(1, 4)] + [Sample(id=4, input="x [400]", target="x")]
    task = Task(dataset=MemoryDataset(samples), solver=generate(), scorer=includes(), metadata={"judge": "rule"})
    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        runner = _runner(store, chat_server, task, log_dir=tmp_path / "logs")
        runner.start_run()
        runner.run_round()
        rebuilt = {s.id: s for s in runner.eval_samples()}
        start = next(store.records(runner.run_id, kinds=("run_start",))).data
    assert start["task_metadata"] == {"judge": "rule"}
    (log_file,) = glob.glob(str(tmp_path / "logs" / "*"))
    logged = {s.id: s for s in read_eval_log(log_file).samples}
    assert rebuilt.keys() == logged.keys()
    for sid, s in logged.items():
        r = rebuilt[sid]
        assert r.output.completion == s.output.completion
        assert r.metadata == s.metadata and r.target == s.target and r.epoch == s.epoch
        assert [m.text for m in r.messages] == [m.text for m in s.messages]
        assert (r.error is None) == (s.error is None)
        assert {k: (v.value, v.answer, v.explanation) for k, v in (r.scores or {}).items()} == \
               {k: (v.value, v.answer, v.explanation) for k, v in (s.scores or {}).items()}


def test_resume_key_is_stable_across_processes(chat_server) -> None:
    """Inspect gives every chat message a random id; the run's key must not depend on it."""
    from inspect_ai.model import ChatMessageSystem, ChatMessageUser

    def task() -> Task:
        return Task(dataset=MemoryDataset([Sample(id=1, input=[ChatMessageSystem(content="s"),
                                                                 ChatMessageUser(content="u")], target="u")]),
                    solver=generate(), scorer=includes())

    target = make_target("openai-api/fake/echo", base_url=chat_server.base_url)
    a = Runner(None, target, task, check_id="c")  # type: ignore[arg-type]
    b = Runner(None, target, task, check_id="c")  # type: ignore[arg-type]
    assert task().dataset[0].input[0].id != task().dataset[0].input[0].id
    assert a.resume_key() == b.resume_key()


def test_a_server_that_keeps_failing_ends_in_an_error_record(chat_server, tmp_path: Path) -> None:
    """Inspect alone would retry a 500 forever; the engine's bounds end it, and the back-off is evidence."""
    task = Task(dataset=MemoryDataset([Sample(id=1, input="down [500]", target="x")]), solver=generate(),
                scorer=includes())
    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        runner = _runner(store, chat_server, task, limits=Limits(max_retries=1, attempt_timeout=5, timeout=10))
        runner.start_run()
        t0 = time.perf_counter()
        (rec,) = runner.run_round()
    assert time.perf_counter() - t0 < 60
    assert not rec.ok and "InternalServerError" in rec.error
    (retry,) = rec.data["retries"]  # one Inspect-level retry, after a recorded back-off
    assert retry["status"] == 500 and retry["wait_s"] > 0
    assert len(rec.data["calls"]) == 2 and all("500" in c["error"] for c in rec.data["calls"])


def test_one_log_inspect_keeps_no_samples_unless_asked(chat_server, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The evidence log is the record: Inspect logs samples only when a log dir is asked for."""
    import inspect_ai

    calls: list[dict] = []
    real_eval = inspect_ai.eval

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs)
        return real_eval(*args, **kwargs)

    monkeypatch.setattr(inspect_ai, "eval", spy)
    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        for log_dir in (None, tmp_path / "logs"):
            runner = _runner(store, chat_server, echo_task(2), log_dir=log_dir, seed=0 if log_dir else 1)
            runner.start_run()
            assert all(r.ok for r in runner.run_round())
    quiet, kept = calls
    assert quiet["log_samples"] is False and quiet["ctl_server"] is False
    assert "log_samples" not in kept and kept["log_dir"] == str(tmp_path / "logs")


def test_a_round_runs_shortest_inputs_first_without_acp_sessions(chat_server, tmp_path: Path) -> None:
    """Rounds go to Inspect ordered by input length (similar lengths batch together), and the
    engine turns off Inspect's per-sample live ACP session, which nothing can attach to."""
    from inspect_ai.agent._acp.transport import current_acp_transport
    from inspect_ai.agent._acp.transport_noop import NoOpAcpTransport
    from inspect_ai.solver import Generate, TaskState, solver

    seen_transports: list[str] = []

    @solver
    def note_transport():
        async def solve(state: TaskState, generate: Generate) -> TaskState:
            seen_transports.append(type(current_acp_transport()).__name__)
            return await generate(state)

        return solve

    inputs = {"a": "x" * 30, "b": "x" * 5, "c": "x" * 50, "d": "x" * 12}
    task = Task(dataset=MemoryDataset([Sample(id=k, input=v, target="x") for k, v in inputs.items()]),
                solver=note_transport(), scorer=includes())
    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        runner = _runner(store, chat_server, task, limits=Limits(max_retries=1, attempt_timeout=5, timeout=30,
                                                                  max_samples=1))
        runner.start_run()
        got = runner.run_round(["a", "b", "c", "d"])
    assert len(got) == 4 and all(r.ok for r in got)
    assert list(chat_server.calls) == sorted(inputs.values(), key=len)  # one at a time, shortest first
    assert seen_transports == [NoOpAcpTransport.__name__] * 4
