"""``modelcert run -T key=value``: task arguments reach the check, bad ones stop before any query."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelcert.checks.registry import get_check
from modelcert.cli.app import app, register_subapps
from modelcert.cli.run_cmd import parse_task_args
from modelcert.errors import ConfigError


def _run(*args: str):
    # In-process: a second interpreter's imports cost more than the run itself on a busy CPU.
    # The one-line/exit-2 mapping of ConfigError is tested once for the CLI in test_cli_basics.
    register_subapps()
    return CliRunner().invoke(app, ["run", *args])


def test_values_are_yaml_scalars_checked_against_the_signature() -> None:
    factory = get_check("security.backdoor.weights").factory
    args = parse_task_args(factory, ["dictionary=5", "invert_vocab=false", "theta0=1", "q=0.1", "base=null",
                                     "candidates=1984"])
    assert args == {"dictionary": 5, "invert_vocab": False, "theta0": 1.0, "q": 0.1, "base": None,
                    "candidates": ["1984"]}  # a list of text keeps the text as typed
    assert isinstance(args["theta0"], float)


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["dictonary=5"], "unknown task argument 'dictonary'; this check takes: base, dictionary"),
        (["dictionary"], "is not key=value"),
        (["=5"], "is not key=value"),
        (["dictionary=abc"], "dictionary='abc' is not a valid"),
        (["dictionary=1.5"], "is not a valid"),
        (["invert_vocab=maybe"], "is not a valid bool"),
        (["dictionary=[1, 2]"], "takes a single value"),
        (["q=0.1", "q=0.2"], "given twice"),
    ],
)
def test_bad_task_arguments_are_config_errors(pairs: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        parse_task_args(get_check("security.backdoor.weights").factory, pairs)


def test_unknown_task_argument_fails_before_loading_the_model(tmp_path: Path) -> None:
    # The model folder does not exist: the argument error must come first, and nothing is written.
    out = _run("safety.harmful", "--model", f"local/{tmp_path / 'missing'}", "-T", "language=pl",
               "--db", f"sqlite:///{tmp_path / 'ev.db'}")
    assert isinstance(out.exception, ConfigError), out.output
    assert "unknown task argument 'language'" in str(out.exception) and "langs" in str(out.exception)
    assert not (tmp_path / "ev.db").exists()


def test_task_arguments_reach_the_check_and_the_evidence(random_checkpoint: Path, tmp_path: Path) -> None:
    # Unfiltered, the harmful items start with English ones; -T langs=pl must select Polish only.
    assert get_check("safety.harmful").task().dataset[0].metadata["lang"] == "en"
    db = f"sqlite:///{tmp_path / 'ev.db'}"
    out = _run("safety.harmful", "--model", f"local/{random_checkpoint}", "--access", "api",
               "-T", "langs=pl", "--task-arg", "max_tokens=4", "--limit", "3", "--json", "--db", db)
    assert out.exit_code == 0, (out.output[-2000:], out.exception)
    result = json.loads(out.stdout)
    assert result["task_args"] == {"langs": ["pl"], "max_tokens": 4}  # a list, however it was spelled
    assert result["n"] == 3
    assert [e["metadata"]["lang"] for e in result["examples"]] == ["pl"] * 3

    from modelcert.evidence.store import EvidenceStore

    with EvidenceStore(db) as store:
        samples = [r.data for r in store.records(result["run_id"], kinds=("sample",))]
    assert len(samples) == 3
    assert all(s["metadata"]["lang"] == "pl" for s in samples)
    assert all(s["output"]["usage"]["output_tokens"] <= 4 for s in samples if s["output"].get("usage"))
