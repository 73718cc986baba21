"""Monitoring end to end on zoo organisms: enroll, check, alarm, suspension, status replay."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from modelcert.evidence.store import EvidenceStore
from modelcert.evidence.verify import verify_run
from modelcert.monitor import eprocess
from modelcert.monitor.sample import CheckpointEndpoint, InspectEndpoint
from modelcert.monitor.service import Monitor, MonitorError
from modelcert.registry import Registry
from modelcert.targets import make_target, resolve_local_path

sys.path.insert(0, str(Path(__file__).parent))
from chat_server import CheckpointChatServer

SMALL = {"prompts": 8, "per_prompt": 5, "blocks": 3, "max_tokens": 16}


@pytest.fixture
def lab(tmp_path):
    db = str(tmp_path / "lab.sqlite")
    with EvidenceStore(db) as store, Registry(db) as reg:
        reg.add_provider("acme")
        v = reg.register_version("acme", "chat", "1", "local/zoo:clean", actor="t")
        reg.grant_access(v.id, "logprobs", by="t")
        reg.set_status(v.id, "under_audit", reason="audit", actor="t")
        reg.set_status(v.id, "certified", reason="audit passed", actor="t")
        yield Monitor(store, reg, tmp_path / "monitor"), reg, store, v.id


def test_same_model_passes_and_a_swapped_model_is_suspended_with_evidence(lab) -> None:
    mon, reg, store, vid = lab
    state = mon.enroll(vid, actor="lab", tier="api", seed=1, prompt_rng=random.Random(3), **SMALL)
    assert state.plan["test"] == "mmd-hamming" and state.blocks_left == 3
    assert len(state.reference_digest) == 64 and state.prompt_set["size"] == 8
    # the secret prompts are never in the evidence log, only their commitments
    rec = next(iter(store.records(state.enrollment, kinds=("sample",))))
    assert set(rec.data["prompt"]) == {"id", "commitment"}
    assert verify_run(store, state.enrollment).ok

    same = mon.check(vid, actor="lab", seed=11)
    assert not same.alarm and same.queries == 40 and same.block == 1
    assert reg.version(vid).status == "certified"

    swapped = CheckpointEndpoint(make_target("local/zoo:unsafe", "api"))
    alarm = mon.check(vid, actor="lab", endpoint=swapped, seed=12)
    assert alarm.p_value < 0.002 and alarm.alarm and alarm.e_process >= 20
    assert alarm.status_change == "suspended"
    v = reg.version(vid)
    assert v.status == "suspended"
    event = reg.history(vid)[-1]
    assert event.actor == "monitor" and alarm.run_id in event.reason and "p=" in event.reason
    assert verify_run(store, alarm.run_id).ok

    # the state replays from the evidence log alone
    replay = Monitor(store, reg, mon.folder).status(vid)
    assert replay.e_values == [same.e_process, alarm.e_process] and replay.alarm
    with pytest.raises(MonitorError, match="already raised an alarm"):
        mon.check(vid, actor="lab")
    # lifting is a recorded, reviewed decision; monitoring restarts with a new enrollment
    reg.set_status(vid, "certified", reason="reviewed: the provider restored the certified model", actor="rev")
    again = mon.enroll(vid, actor="lab", tier="api", seed=2, **SMALL)
    assert again.enrollment != state.enrollment and again.checks == []


def test_logprobs_tier_catches_a_swap_with_few_queries(lab, monkeypatch) -> None:
    mon, reg, _store, vid = lab
    state = mon.enroll(vid, actor="lab", seed=1, prompt_rng=random.Random(4),
                       prompts=8, per_prompt=2, reference_per_prompt=3, max_tokens=12)
    assert state.plan["test"] == "logprob-tolerance" and state.tolerance >= 0.02
    same = mon.check(vid, actor="lab", seed=5, endpoint=CheckpointEndpoint(
        make_target("local/zoo:clean", "logprobs"), batch_size=3))  # another batch composition
    assert same.test["mismatches"] == 0 and same.p_value == 1.0 and not same.alarm
    # the same model through another server (OpenAI-compatible, over HTTP, via Inspect)
    srv = CheckpointChatServer(str(resolve_local_path("zoo:clean")), batch=4).start()
    try:
        monkeypatch.setenv("MONSRV_BASE_URL", srv.base_url)
        monkeypatch.setenv("MONSRV_API_KEY", "k")
        other = mon.check(vid, actor="lab", seed=7, endpoint=InspectEndpoint(make_target("openai-api/monsrv/c", "logprobs")))
    finally:
        srv.stop()
    assert other.test["mismatches"] == 0 and not other.alarm and srv.requests == 16
    swapped = CheckpointEndpoint(make_target("local/zoo:overrefusing", "logprobs"))
    alarm = mon.check(vid, actor="lab", seed=6, endpoint=swapped)
    assert alarm.queries == 16 and alarm.test["mismatches"] >= 3 and alarm.alarm
    assert reg.version(vid).status == "suspended"


def test_refusals(lab) -> None:
    mon, _reg, _store, vid = lab
    with pytest.raises(MonitorError, match="not enrolled"):
        mon.check(vid, actor="lab")
    with pytest.raises(MonitorError, match="granted 'logprobs' access, not 'weights'"):
        mon.enroll(vid, actor="lab", tier="weights")
    mon.enroll(vid, actor="lab", tier="api", seed=1, prompts=2, per_prompt=2, blocks=1, max_tokens=8)
    mon.check(vid, actor="lab", seed=3)
    with pytest.raises(MonitorError, match="blocks are used up"):
        mon.check(vid, actor="lab")


def test_later_checks_bet_with_the_witness_learned_from_earlier_checks(lab) -> None:
    mon, reg, store, vid = lab
    state = mon.enroll(vid, actor="lab", tier="api", seed=1, prompt_rng=random.Random(3), **SMALL)
    assert state.plan["witness"] is True and state.plan["shortcut"] is False and state.greedy_digest is None
    first = mon.check(vid, actor="lab", seed=11)
    assert first.test["witness_e"] == pytest.approx(1.0)  # nothing learned before the first check
    second = mon.check(vid, actor="lab", seed=12)
    assert second.test["witness_e"] != pytest.approx(1.0) and second.block == 2
    assert second.e_value == pytest.approx(0.2 * second.p_value ** -0.8)
    mmd, learned = eprocess.EProcess(0.05), eprocess.EProcess(0.05)
    mmd.update(first.e_value)
    learned.update(first.test["witness_e"])
    assert second.e_process == pytest.approx(0.75 * mmd.update(second.e_value)
                                             + 0.25 * learned.update(second.test["witness_e"]))
    assert Monitor(store, reg, mon.folder).status(vid).e_values == [first.e_process, second.e_process]


def test_equal_greedy_digests_skip_the_test_and_unequal_ones_run_it(lab) -> None:
    mon, reg, _store, vid = lab
    state = mon.enroll(vid, actor="lab", tier="api", seed=1, prompt_rng=random.Random(3), shortcut=True, **SMALL)
    assert state.plan["shortcut"] is True and len(state.greedy_digest) == 64
    same = mon.check(vid, actor="lab", seed=11)
    assert "no test needed" in same.test["shortcut"] and same.queries == 8 and same.block == 0
    assert same.e_value == 1.0 and not same.alarm and mon.status(vid).blocks_left == 3
    swapped = CheckpointEndpoint(make_target("local/zoo:unsafe", "api"))
    alarm = mon.check(vid, actor="lab", endpoint=swapped, seed=12)
    assert alarm.test["greedy_digest_equal"] is False and alarm.block == 1 and alarm.alarm
    assert reg.version(vid).status == "suspended"


def test_certification_draws_the_reference_and_the_result_names_it(tmp_path, lab) -> None:
    import json

    from modelcert.web.config import LabConfig
    from modelcert.web.worker import draw_reference

    _mon, reg, store, vid = lab
    result = tmp_path / "result.json"
    result.write_text(json.dumps({"outcome": "certified"}))
    cfg = LabConfig(db=store.url, data_dir=tmp_path,
                    monitor_on_certify={"prompts": 3, "per_prompt": 2, "blocks": 2, "max_tokens": 8})
    digest = draw_reference(cfg, reg, vid, "api", result)
    state = Monitor(store, reg, tmp_path / "monitor").status(vid)
    assert digest == state.reference_digest and state.plan["tier"] == "api" and state.plan["blocks"] == 2
    assert json.loads(result.read_text()) == {"outcome": "certified", "monitoring_reference": digest}
    assert verify_run(store, state.enrollment).ok
    # no access grant: no reference, the result untouched, the audit's outcome stands
    other = reg.register_version("acme", "chat", "2", "local/zoo:clean", actor="t")
    result.write_text("{}")
    assert draw_reference(cfg, reg, other.id, "api", result) is None and result.read_text() == "{}"


class _Died(Exception):
    """Stands for the process dying (or the worker being stopped) at that point."""


def _die(*_args: object, **_kw: object) -> None:
    raise _Died()


def test_a_check_that_dies_half_way_counts_for_nothing_and_its_block_is_never_reused(lab) -> None:
    mon, reg, store, vid = lab
    mon.enroll(vid, actor="lab", tier="api", seed=1, prompt_rng=random.Random(3), **SMALL)
    with pytest.raises(_Died):  # the replies were drawn, then the job died before the test
        mon.check(vid, actor="lab", seed=11, progress=_die)
    state = mon.status(vid)
    assert state.checks == [] and len(state.unfinished) == 1 and state.blocks_left == 2
    retry = mon.check(vid, actor="lab", seed=11)
    assert retry.check == 1 and retry.block == 2  # the dead attempt's block may have been seen
    assert verify_run(store, retry.run_id).ok
    assert Monitor(store, reg, mon.folder).status(vid).e_values == [retry.e_process]


def test_an_enrollment_that_dies_leaves_the_last_one_in_force_and_no_prompt_set(lab) -> None:
    mon, _reg, _store, vid = lab
    before = mon.enroll(vid, actor="lab", tier="api", seed=1, prompt_rng=random.Random(3), **SMALL)
    with pytest.raises(_Died):
        mon.enroll(vid, actor="lab", tier="api", seed=2, progress=_die, **SMALL)
    after = mon.status(vid)
    assert after.enrollment == before.enrollment and after.reference_digest == before.reference_digest
    assert [p.name for p in mon.folder.iterdir()] == [before.prompt_set["folder"]]
    assert not mon.check(vid, actor="lab", seed=3).alarm  # monitoring goes on under the old enrollment


def test_an_alarm_logged_before_a_crash_is_applied_by_the_next_attempt(lab, monkeypatch) -> None:
    mon, reg, _store, vid = lab
    mon.enroll(vid, actor="lab", tier="api", seed=1, prompt_rng=random.Random(3), **SMALL)
    swapped = CheckpointEndpoint(make_target("local/zoo:unsafe", "api"))
    monkeypatch.setattr(reg, "set_status", _die)  # the process dies between the log and the registry
    with pytest.raises(_Died):
        mon.check(vid, actor="lab", endpoint=swapped, seed=12)
    monkeypatch.undo()
    state = mon.status(vid)
    assert state.alarm and reg.version(vid).status == "certified"
    with pytest.raises(MonitorError, match="already raised an alarm"):
        mon.check(vid, actor="lab")  # the retry completes the suspension, and runs no new check
    assert reg.version(vid).status == "suspended"
    assert state.checks[-1].run_id in reg.history(vid)[-1].reason
    assert mon.complete_suspension(vid) is None  # applied once only


def test_the_novelty_process_learns_from_its_own_sample_and_joins_the_average(lab) -> None:
    mon, reg, store, vid = lab
    state = mon.enroll(vid, actor="lab", tier="api", seed=1, prompt_rng=random.Random(3), novelty=True,
                       learn_per_prompt=6, **SMALL)
    assert state.plan["novelty"] and state.plan["learn_per_prompt"] == 6
    epochs = [rec.data["epoch"] for rec in store.records(state.enrollment, kinds=("sample",))]
    assert epochs.count(0) == 8 * 6 and all(epochs.count(b) == 40 for b in (1, 2, 3))
    same = mon.check(vid, actor="lab", seed=11)
    assert same.test["novelty_e"] > 0 and not same.alarm
    mmd, learned, novel = (eprocess.EProcess(0.05) for _ in range(3))
    assert same.e_process == pytest.approx(0.5 * mmd.update(same.e_value) + 0.25 * learned.update(1.0)
                                           + 0.25 * novel.update(same.test["novelty_e"]))
    swapped = CheckpointEndpoint(make_target("local/zoo:unsafe", "api"))
    alarm = mon.check(vid, actor="lab", endpoint=swapped, seed=12)
    assert alarm.alarm and alarm.test["novelty_e"] > 20 and reg.version(vid).status == "suspended"
    assert Monitor(store, reg, mon.folder).status(vid).e_values == [same.e_process, alarm.e_process]
