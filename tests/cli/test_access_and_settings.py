"""Issue 23's fixes at the CLI: no task argument raises the tier; the recorded settings and
the ``--limit`` draw are the ones the check really used."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelcert.checks.registry import get_check
from modelcert.cli.app import app, register_subapps
from modelcert.errors import AccessError
from modelcert.targets import make_target, pin_access_arg


def test_task_argument_cannot_raise_the_access_tier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # The bypass of issue 23: an api target asked for top-20 log-probabilities through -T.
    # In-process through the console entry point (same error mapping as the installed script).
    from modelcert.cli import main

    db = tmp_path / "ev.db"
    monkeypatch.setenv("LAB_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setattr(sys, "argv", ["modelcert", "run", "bias.decisions", "--model", "openai-api/lab/m",
                                      "--access", "api", "-T", "access=logprobs", "--db", f"sqlite:///{db}"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "access='logprobs' would raise the target's access tier 'api'" in lines[0], lines
    assert not db.exists()  # refused before any record or query


def test_policy_task_argument_cannot_raise_the_access_tier(random_checkpoint: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    # The same bypass through a policy file's task_args: `modelcert audit` refuses it in one line.
    from modelcert.cli import main

    policy = tmp_path / "p.yaml"
    policy.write_text(
        "id: bypass\ntitle: t\nversion: '1'\nrequirements:\n"
        "  - {id: R-bias, title: t, catalogue: [AIA-10-bias-examination], kind: bias, check: bias.decisions,\n"
        "     tolerance: 0.1, task_args: {access: logprobs, domains: [credit]}}\n"
        "outcome:\n  - {when: {verdict: FAIL}, outcome: refused}\ndefault: certified\n")
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["modelcert", "audit", "--model", f"local/{random_checkpoint}", "--access", "api",
                                      "--policy", str(policy), "--out", str(out),
                                      "--db", f"sqlite:///{tmp_path / 'ev.db'}"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "access='logprobs' would raise the target's access tier 'api'" in lines[0], lines
    assert not out.exists()  # no report, no result


def test_access_argument_is_pinned_to_the_target() -> None:
    factory = get_check("bias.decisions").factory
    api = make_target("openai-api/lab/m", "api")
    logprobs = make_target("openai-api/lab/m", "logprobs")
    assert pin_access_arg(api, factory, {})["access"] == "api"  # filled in from the target
    assert pin_access_arg(logprobs, factory, {"access": "api"})["access"] == "api"  # a downgrade is kept
    for tier in ("logprobs", "weights"):
        with pytest.raises(AccessError, match="would raise"):
            pin_access_arg(api, factory, {"access": tier})
    # checks without an access argument are left alone
    assert pin_access_arg(api, get_check("safety.harmful").factory, {"langs": "pl"}) == {"langs": "pl"}


def test_recorded_generation_and_limit_draw_are_what_the_check_used(random_checkpoint: Path,
                                                                    tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ev.db'}"
    register_subapps()
    out = CliRunner().invoke(app, ["run", "safety.harmful", "--model", f"local/{random_checkpoint}",
                                   "--access", "api", "--limit", "6", "-T", "max_tokens=8", "--json", "--db", db])
    assert out.exit_code == 0, (out.output[-2000:], out.exception)
    result = json.loads(out.stdout)
    # the check's own limit (here set to 8 through -T), not the target's default 64
    assert result["generation"]["max_tokens"] == 8 and result["generation"]["temperature"] == 0.0
    assert result["n"] == 6

    from modelcert.evidence.store import EvidenceStore

    with EvidenceStore(db) as store:
        start = next(iter(store.records(result["run_id"], kinds=("run_start",))))
        samples = [r.data for r in store.records(result["run_id"], kinds=("sample",))]
    # six items, one per language: a stratified draw, not the first six (all English)
    assert sorted(s["metadata"]["lang"] for s in samples) == ["de", "en", "es", "fr", "it", "pl"]
    assert start.data["generation"]["max_tokens"] == 8
    assert start.data["plan"]["draw"]["method"] == "stratified"
