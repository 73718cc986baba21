"""Run ``echo_task`` through the engine and print each *acknowledged* sample id at once.

Used by ``test_kill_resume``: a line on stdout means the engine handed the sample to
``on_record``, which happens only after its record is committed. The test SIGKILLs this
process and checks that every printed id is in the database.

Usage: ``python acker.py <db url> <model> <n> <round size>``
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from echo import echo_task

from modelcert.evidence.store import EvidenceStore
from modelcert.runner import Limits, Runner
from modelcert.targets import make_target


def main() -> None:
    url, model, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

    def ack(rec) -> None:
        if rec.ok:
            os.write(1, f"{rec.sample_id}\n".encode())  # fd 1: the engine redirects sys.stdout

    with EvidenceStore(url) as store:
        runner = Runner(store, make_target(model), lambda: echo_task(n), check_id="test.echo",
                        limits=Limits(max_retries=1, attempt_timeout=30, timeout=60), on_record=ack)
        runner.run(round_size=size)


if __name__ == "__main__":
    main()
