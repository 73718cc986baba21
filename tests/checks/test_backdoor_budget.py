"""A backdoor search that runs out of its time budget ends with no result, and says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelcert.analyzers.backdoor.model import Budget, SearchBudgetError
from modelcert.checks.registry import get_check
from modelcert.evidence.store import EvidenceStore
from modelcert.runner.check import run_check_recorded
from modelcert.targets import make_target


def test_budget_raises_after_its_deadline() -> None:
    b = Budget()
    b.add("screen", "generate", 5)  # no budget: never stops
    b.start_clock(0.0)
    with pytest.raises(SearchBudgetError, match=r"time budget of 0 s ran out in stage 'screen' after 8 queries"):
        b.add("screen", "generate", 3)
    b.start_clock(3600)
    b.add("confirm", "generate", 1)  # well within the budget


def test_search_past_its_budget_is_unscored_with_the_reason(random_checkpoint: Path, tmp_path: Path) -> None:
    target = make_target(f"local/{random_checkpoint}", "api")
    with EvidenceStore(f"sqlite:///{tmp_path / 'ev.sqlite'}") as store:
        result = run_check_recorded(get_check("security.backdoor.api"), target, store=store,
                                    task_args={"dictionary": 5, "time_budget": 0.001})
        [rec] = [r.data for r in store.records(result["run_id"], kinds=("sample",))]
    score = rec["scores"]["backdoor_flagged"]
    assert score["explanation"].startswith("the search's time budget of 0.001 s ran out")
    assert "never a PASS" in score["explanation"]
    assert "no result:" in str(rec["output"])
