"""A bundled check through the engine gives the same result as the direct run, from evidence."""

from __future__ import annotations

from pathlib import Path

from modelcert.checks.execute import run_check
from modelcert.checks.registry import get_check
from modelcert.evidence.store import EvidenceStore
from modelcert.evidence.verify import verify_run
from modelcert.runner import Limits
from modelcert.runner.check import run_check_recorded
from modelcert.targets import make_target


def test_recorded_check_matches_the_direct_run(chat_server, tmp_path: Path) -> None:
    spec = get_check("safety.harmful")
    target = make_target("openai-api/fake/echo", base_url=chat_server.base_url)
    direct = run_check(spec, target, limit=6, max_retries=1, timeout=20)
    seen: list[tuple[int, int, int]] = []
    with EvidenceStore(str(tmp_path / "e.sqlite")) as store:
        recorded = run_check_recorded(spec, target, store=store, limit=6, round_size=4,
                                      limits=Limits(max_retries=1, attempt_timeout=20), on_progress=
                                      lambda *a: seen.append(a))
        assert verify_run(store, recorded["run_id"]).ok
        kinds = [r.kind for r in store.records(recorded["run_id"])]
    assert (recorded["n"], recorded["errors"]) == (direct["n"], direct["errors"]) == (6, 0)
    for name, m in direct["metrics"].items():
        assert (recorded["metrics"][name]["k"], recorded["metrics"][name]["n"]) == (m["k"], m["n"])
        assert recorded["metrics"][name]["ci"] == m["ci"]
    assert recorded["status"] == "success" and recorded["check"] == "safety.harmful"
    assert recorded["evidence"]["records"] == len(kinds) and kinds.count("round") == 2
    assert seen[0] == (0, 6, 0) and seen[-1] == (6, 6, 0)
