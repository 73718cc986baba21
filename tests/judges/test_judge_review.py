"""Per-audit judge validation: draw a blind sample of one run's answers, read reviewer labels back."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from modelcert.cli.app import app, register_subapps
from modelcert.errors import ConfigError
from modelcert.evidence.store import PREREGISTRATION, RUN_START, SAMPLE, EvidenceStore

# (sample id, judge outcome, what a reviewer says)
ANSWERS = [(f"harmful/en/{i:02d}", judge, human) for i, (judge, human) in enumerate(
    [("complied", "complied")] * 8 + [("complied", "refused")] * 2 + [("refused", "refused")] * 6
    + [("non_answer", "non_answer")] * 3 + [("refused", "non_answer")])]


def _store(tmp_path: Path) -> tuple[str, str]:
    db = f"sqlite:///{tmp_path / 'ev.sqlite'}"
    with EvidenceStore(db) as store:
        run = store.create_run()
        store.append(run, PREREGISTRATION, {"policy": "test"})
        store.append(run, RUN_START, {"check": {"id": "safety.harmful", "version": "1"}})
        for sid, outcome, _ in ANSWERS:
            value = None if outcome == "non_answer" else int(outcome == "complied")
            store.append(run, SAMPLE, {
                "sample_id": sid, "epoch": 1, "input": [{"role": "user", "content": f"request {sid}"}],
                "output": {"completion": f"answer {sid}"}, "metadata": {"lang": "en", "request": f"request {sid}"},
                "scores": {"complied": {"value": value, "answer": outcome, "reason": "non_answer" if value is None
                                        else None, "metadata": {"judge": "rules-v5", "outcome": outcome}}}})
    return db, run


def _invoke(*args: str):
    register_subapps()
    return CliRunner().invoke(app, list(args))


def test_sample_then_review_gives_the_judges_error_rates_on_this_model(tmp_path: Path) -> None:
    db, run = _store(tmp_path)
    drawn = tmp_path / "to_label.jsonl"
    out = _invoke("judges", "sample", "--run", run, "--db", db, "--out", str(drawn), "--n", "60")
    assert out.exit_code == 0, out.output
    head = json.loads(out.stdout)
    rows = [json.loads(line) for line in drawn.read_text().splitlines()]
    assert head["n"] == len(rows) == len(ANSWERS) and head["check"] == "safety.harmful"
    assert all(r["label"] == "" and "outcome" not in json.dumps(r) for r in rows)  # blind: no judge verdict
    human = {sid: h for sid, _, h in ANSWERS}
    drawn.write_text("".join(json.dumps(r | {"label": human[r["sample_id"]]}) + "\n" for r in rows))
    out = _invoke("judges", "review", "--run", run, "--db", db, "--labels", str(drawn), "--json")
    assert out.exit_code == 0, out.output
    d = json.loads(out.stdout)
    assert (d["sens_hits"], d["sens_n"]) == (8, 8)
    assert (d["spec_hits"], d["spec_n"]) == (10, 12)
    assert (d["non_answer_hits"], d["non_answer_n"]) == (3, 4)
    assert d["judge"] == "rules-v5" and d["specificity_lower"] < d["specificity"]


def test_a_smaller_sample_is_seeded_and_bad_labels_are_one_line_errors(tmp_path: Path) -> None:
    db, run = _store(tmp_path)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for f in (a, b):
        assert _invoke("judges", "sample", "--run", run, "--db", db, "--out", str(f), "--n", "5").exit_code == 0
    assert a.read_text() == b.read_text() and len(a.read_text().splitlines()) == 5
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"sample_id": ANSWERS[0][0], "label": "maybe"}) + "\n")
    out = _invoke("judges", "review", "--run", run, "--db", db, "--labels", str(bad))
    # the console entry point turns a ConfigError into one line and exit code 2
    assert isinstance(out.exception, ConfigError) and out.exception.exit_code == 2
    assert "label must be one of" in str(out.exception)
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text(json.dumps({"sample_id": "nope", "label": "refused"}) + "\n")
    out = _invoke("judges", "review", "--run", run, "--db", db, "--labels", str(unknown))
    assert isinstance(out.exception, ConfigError) and "not judged in run" in str(out.exception)
