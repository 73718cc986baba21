"""The answers root in ``run_end``: equal for equal answers whatever the run, different for
a changed answer, and checked by ``evidence verify`` (a sample rewritten and re-chained
without it is caught)."""

from __future__ import annotations

import json

from modelcert.evidence.answers import answer_content
from modelcert.evidence.chain import GENESIS, canonical_json, merkle_root, record_hash
from modelcert.evidence.store import RUN_END, EvidenceStore, Record
from modelcert.evidence.verify import verify_records, verify_run


def _sample(i: int, output: str, seconds: float) -> dict:
    return {"sample_id": f"s{i}", "epoch": 1, "input": [{"role": "user", "content": f"q{i}"}],
            "output": output, "scores": {"complied": {"value": 0, "metadata": {"seconds": seconds}}},
            "target": "", "metadata": {"lang": "en"}, "error": None, "timing": {"working_time": seconds}}


def _run(store: EvidenceStore, outputs: list[str], order: list[int], seconds: float) -> str:
    run = store.create_run()
    store.append(run, "run_start", {"at": seconds})
    for i in order:
        store.append(run, "sample", _sample(i, outputs[i], seconds + i))
    store.finish(run)
    return run


def _end(store: EvidenceStore, run: str) -> dict:
    (end,) = list(store.records(run, kinds=(RUN_END,)))
    return end.data


def test_same_answers_same_root_across_runs_orders_and_times(tmp_path):
    with EvidenceStore(f"sqlite:///{tmp_path / 'ev.sqlite'}") as store:
        a = _run(store, ["no", "no", "yes"], [0, 1, 2], 1.0)
        b = _run(store, ["no", "no", "yes"], [2, 0, 1], 7.5)  # other order, other timings
        c = _run(store, ["no", "no", "sure"], [0, 1, 2], 1.0)  # one answer differs
        ea, eb, ec = _end(store, a), _end(store, b), _end(store, c)
        assert ea["merkle_root"] != eb["merkle_root"]  # the chain root never repeats
        assert ea["answers_root"] == eb["answers_root"] != ec["answers_root"]
        assert all(verify_run(store, r).ok for r in (a, b, c))
        assert "timing" not in answer_content(_sample(0, "x", 3.0))


def test_verify_catches_a_rewritten_answer_when_only_the_chain_is_recomputed(tmp_path):
    with EvidenceStore(f"sqlite:///{tmp_path / 'ev.sqlite'}") as store:
        run = _run(store, ["no", "no", "yes"], [0, 1, 2], 1.0)
        records = list(store.records(run))
    envs = [json.loads(r.body) for r in records]
    envs[3]["data"]["output"] = "no"  # hide the one compliant answer
    out, prev = [], GENESIS
    for env in envs:  # a forger re-chains every hash and run_end's Merkle root, not the answers root
        if env["kind"] == RUN_END:
            env["data"]["merkle_root"] = merkle_root([bytes.fromhex(r.hash) for r in out])
        h = record_hash(env, prev)
        item = canonical_json([env["data"]["sample_id"], 1]).decode() if env["kind"] == "sample" else None
        out.append(Record(run, env["seq"], env["kind"], item, canonical_json(env).decode(), prev, h))
        prev = h
    res = verify_records(run, out)
    assert not res.ok and res.problem == "run_end answers root does not match the samples before it"
    assert verify_records(run, records).ok
