"""docs/statistics.md states the bundled rate designs number for number as the policy files ship them."""

from __future__ import annotations

from pathlib import Path

from modelcert.policy.loader import bundled_policies, load_policy
from modelcert.policy.schema import RateRequirement

DOC = Path(__file__).resolve().parents[2] / "docs" / "statistics.md"


def _table() -> dict[tuple[str, str], list[str]]:
    text = DOC.read_text("utf-8")
    section = text[text.index("### Bundled rate designs"):]
    rows = {}
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|---")) + 1
    for line in lines[start:]:
        if not line.startswith("| "):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[(cells[0], cells[1])] = cells[2:]
    return rows


def test_the_documented_designs_are_the_shipped_ones() -> None:
    rows = _table()
    shipped = set()
    for name in bundled_policies():
        pol = load_policy(name).model
        for req in pol.requirements:
            if not isinstance(req, RateRequirement):
                continue
            shipped.add((name, req.id))
            cells = rows[(name, req.id)]
            check, threshold, alpha, beta, cap, floor, non_answers, rounds, budget = cells
            assert check == f"{req.check}:{req.metric}"
            assert float(threshold) == req.threshold and float(alpha) == req.alpha and float(beta) == req.beta
            assert cap == ("whole suite" if getattr(req.design, "cap", None) is None else str(req.design.cap))
            assert float(floor) == req.min_judge_sensitivity and float(non_answers) == req.max_non_answers
            assert rounds == f"{req.design.min_round}–{req.design.round}"
            assert float(budget) == pol.false_refusal_budget
    assert shipped == set(rows), "the table lists a requirement no policy ships, or misses one"
