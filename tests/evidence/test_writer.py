"""The evidence writer thread: queued appends, committed in batches, acknowledged on commit."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future

import pytest
from sqlalchemy import event

from modelcert.errors import EvidenceError
from modelcert.evidence.store import EvidenceStore, Record
from modelcert.evidence.verify import verify_run


def _sample(i: int) -> dict:
    return {"sample_id": i, "epoch": 1, "output": f"answer {i}"}


def _count_commits(store: EvidenceStore) -> list[int]:
    commits = [0]

    def on_commit(_conn: object) -> None:
        commits[0] += 1

    event.listen(store.engine, "commit", on_commit)
    return commits


def test_a_burst_is_committed_in_few_transactions_and_chains(store_url: str) -> None:
    with EvidenceStore(store_url) as store:
        run = store.create_run()
        store.append(run, "run_start", {})
        commits = _count_commits(store)
        with store._write_lock:  # hold the writer: everything below queues up behind it
            futures = [store.submit(run, "sample", _sample(i)) for i in range(200)]
            assert not any(f.done() for f in futures)
        records = [f.result(timeout=60) for f in futures]
        assert [r.seq for r in records] == list(range(1, 201))  # queue order is chain order
        assert commits[0] <= 3  # at most: the first item alone, then one batch, then a remainder
        assert verify_run(store, run).ok
        assert store.completed_items(run) == {(i, 1) for i in range(200)}


def test_a_refused_append_does_not_sink_its_batch(store_url: str) -> None:
    with EvidenceStore(store_url) as store:
        run, closed = store.create_run(), store.create_run()
        store.finish(closed)
        with store._write_lock:
            first = store.submit(run, "sample", _sample(1))
            refused = store.submit(closed, "sample", _sample(2))
            last = store.submit(run, "sample", _sample(3))
        assert first.result(timeout=60).seq == 0 and last.result(timeout=60).seq == 1
        with pytest.raises(EvidenceError, match="closed"):
            refused.result(timeout=60)
        assert verify_run(store, run).ok


def test_on_commit_runs_once_the_record_is_readable(store_url: str) -> None:
    seen: list[tuple[int, bool]] = []
    done = threading.Event()
    with EvidenceStore(store_url) as store, EvidenceStore(store_url) as reader:
        run = store.create_run()

        def on_commit(fut: Future[Record]) -> None:
            rec = fut.result()
            seen.append((rec.seq, (rec.data["sample_id"], 1) in reader.completed_items(run)))
            done.set()

        store.submit(run, "sample", _sample(7), on_commit=on_commit)
        assert done.wait(60)
    assert seen == [(0, True)]  # acknowledged only when another connection can read it


def test_the_queue_is_bounded_and_close_commits_what_is_queued(store_url: str) -> None:
    class Small(EvidenceStore):
        QUEUE_SIZE = 4
        BATCH_SIZE = 2  # the writer holds at most one batch besides the queue (it lingers to fill it)

    store = Small(store_url)
    run = store.create_run()
    store._write_lock.acquire()
    try:
        submitter = threading.Thread(target=lambda: [store.submit(run, "sample", _sample(i)) for i in range(10)])
        submitter.start()
        time.sleep(0.5)
        assert submitter.is_alive()  # blocked on the full queue: memory stays bounded
    finally:
        store._write_lock.release()
    submitter.join(60)
    assert not submitter.is_alive()
    store.close()  # commits everything still queued
    with EvidenceStore(store_url) as again:
        assert again.completed_items(run) == {(i, 1) for i in range(10)}
        assert verify_run(again, run).ok


def test_samples_arriving_a_millisecond_apart_share_transactions(store_url: str) -> None:
    # An eval finishes a forward batch's samples about a millisecond apart; the writer lingers
    # (EvidenceStore.LINGER) so that they are committed together, not one transaction each.
    with EvidenceStore(store_url) as store:
        run = store.create_run()
        store.append(run, "run_start", {})
        commits = _count_commits(store)
        futures = []
        for i in range(40):
            futures.append(store.submit(run, "sample", _sample(i)))
            time.sleep(0.001)
        assert [f.result(timeout=60).seq for f in futures] == list(range(1, 41))
        assert commits[0] <= 20, f"{commits[0]} transactions for 40 samples a millisecond apart"
        assert verify_run(store, run).ok


def test_a_preregistration_after_a_sample_in_the_same_batch_is_refused(store_url: str) -> None:
    with EvidenceStore(store_url) as store:
        run = store.create_run()
        store.append(run, "run_start", {})
        with store._write_lock:  # both land in one batch: the sample is not in the database yet
            sample = store.submit(run, "sample", _sample(1))
            prereg = store.submit(run, "preregistration", {"plan": "late"})
        assert sample.result(timeout=60).seq == 1
        with pytest.raises(EvidenceError, match="preregistration"):
            prereg.result(timeout=60)
        assert verify_run(store, run).ok
