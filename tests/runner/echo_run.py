"""A complete engine run in its own process (the kill -9 test starts and kills it).

Usage: python echo_run.py DB_URL BASE_URL N_SAMPLES ROUND_SIZE
"""

from __future__ import annotations

import sys

from inspect_ai import Task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import includes
from inspect_ai.solver import generate

from modelcert.evidence.store import EvidenceStore
from modelcert.runner import Limits, Runner
from modelcert.targets import make_target


def echo_task(n: int) -> Task:
    samples = [Sample(id=i, input=f"question {i}", target=f"question {i}") for i in range(1, n + 1)]
    return Task(dataset=MemoryDataset(samples), solver=generate(), scorer=includes())


def main() -> None:
    db, base_url, n, round_size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with EvidenceStore(db) as store:
        target = make_target("openai-api/fake/echo", base_url=base_url)
        runner = Runner(
            store, target, echo_task(n), check_id="test.echo", check_version="1",
            limits=Limits(max_retries=1, attempt_timeout=10, timeout=30, max_samples=4),
        )
        runner.run(round_size=round_size)
        print(runner.run_id)


if __name__ == "__main__":
    main()
