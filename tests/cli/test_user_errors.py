"""Every user error is one line on stderr and exit code 2, and leaves no run behind.

Each bad input a new user plausibly types goes through the CLI's entry point
(``modelcert.cli.main``, in-process to keep the table fast; one case also runs as a real
process) and the test asserts the exact stderr line, the exit code, and that the
evidence store holds no run afterwards.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from modelcert.cli import main


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def _providers() -> str:
    from modelcert.targets import known_providers

    return ", ".join(sorted(known_providers()))


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, args: list[str],
         env: dict[str, str | None]) -> tuple[int, str, str]:
    for k, v in env.items():
        if v is None:
            monkeypatch.delenv(k, raising=False)
        else:
            monkeypatch.setenv(k, v)
    monkeypatch.setattr(sys, "argv", ["modelcert", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    out = capsys.readouterr()
    return int(exit_.value.code or 0), out.out, out.err


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    from modelcert.certify.keys import generate_keypair

    (tmp_path / "not-json.json").write_text("{not json\n")
    (tmp_path / "bad.yaml").write_text("requirements: [\n")
    generate_keypair(tmp_path / "enc.key", tmp_path / "enc.pub", passphrase=b"right passphrase")
    return {"dir": tmp_path}


PORT = _closed_port()

# (name, argv, environment, the exact stderr line); {d} is the temp folder, {db} the store
CASES = [
    ("unknown provider", ["run", "safety.harmful", "--model", "foo/bar", "--db", "{db}"], {},
     "error: unknown model provider 'foo' in 'foo/bar'; known: {providers}"),
    ("unknown provider, targets show", ["targets", "show", "--model", "foo/bar"], {},
     "error: unknown model provider 'foo' in 'foo/bar'; known: {providers}"),
    ("model without provider", ["run", "safety.harmful", "--model", "gpt-4o", "--db", "{db}"], {},
     "error: model 'gpt-4o' must be an Inspect model string like 'openai-api/<svc>/<model>' or 'local/<path>'"),
    ("missing credentials", ["run", "safety.harmful", "--model", "openai-api/lab/my-model", "--access", "api",
                             "--db", "{db}"], {"LAB_API_KEY": None, "LAB_BASE_URL": None},
     "error: cannot use model 'openai-api/lab/my-model': Unable to initialise lab client: "
     "No LAB_API_KEY defined in the environment."),
    ("missing credentials, audit", ["audit", "--model", "openai-api/lab/my-model", "--out", "{d}/out",
                                    "--db", "{db}"], {"LAB_API_KEY": None, "LAB_BASE_URL": None},
     "error: cannot use model 'openai-api/lab/my-model': Unable to initialise lab client: "
     "No LAB_API_KEY defined in the environment."),
    ("unreachable endpoint", ["run", "safety.harmful", "--model", "openai-api/lab/m", "--db", "{db}"],
     {"LAB_API_KEY": "k", "LAB_BASE_URL": f"http://127.0.0.1:{PORT}/v1"},
     f"error: cannot reach http://127.0.0.1:{PORT} (http://127.0.0.1:{PORT}/v1): Connection refused"),
    ("bad URL", ["run", "safety.harmful", "--model", "openai-api/lab/m", "--db", "{db}"],
     {"LAB_API_KEY": "k", "LAB_BASE_URL": "localhost:8000"},
     "error: base URL 'localhost:8000' is not an http(s) URL like http://host:8000/v1"),
    ("missing checkpoint", ["run", "safety.harmful", "--model", "local/{d}/nowhere", "--db", "{db}"], {},
     "error: checkpoint folder not found (nor a .gguf file): {d}/nowhere"),
    ("unknown check", ["run", "safety.harmfull", "--db", "{db}"], {}, None),
    ("unknown policy", ["audit", "--policy", "nope", "--out", "{d}/out", "--db", "{db}"], {},
     "error: no bundled policy 'nope' (bundled: eu-gpai-systemic-risk, eu-high-risk-credit); "
     "or give a YAML file path"),
    ("policy not YAML", ["audit", "--policy", "{d}/bad.yaml", "--out", "{d}/out", "--db", "{db}"], {},
     "error: {d}/bad.yaml:2:1: YAML syntax error: expected the node content, but found '<stream end>'"),
    ("certificate not JSON", ["verify", "{d}/not-json.json", "--key", "{d}/enc.pub"], {},
     "error: certificate is not valid JSON (line 1, column 2)"),
    ("certificate missing", ["verify", "{d}/cert.json", "--key", "{d}/enc.pub"], {},
     "error: certificate {d}/cert.json not found"),
    ("missing key", ["verify", "{d}/not-json.json", "--key", "{d}/lab.pub"], {},
     "error: public key file {d}/lab.pub not found"),
    ("wrong passphrase", ["keys", "export-public", "{d}/enc.key", "--out", "{d}/x.pub", "--passphrase-env", "PW"],
     {"PW": "wrong"}, None),
    ("task argument not a list item", ["run", "bias.decisions", "-T", "domains=[credit, mars]", "--db", "{db}"],
     {}, None),
    ("unknown task argument", ["run", "safety.harmful", "-T", "language=pl", "--db", "{db}"], {},
     "error: unknown task argument 'language'; this check takes: {harmful_args}"),
]


@pytest.mark.parametrize(("name", "argv", "env", "line"), CASES, ids=[c[0] for c in CASES])
def test_user_error_is_one_line_exit_2_and_leaves_no_run(
    name: str, argv: list[str], env: dict[str, str | None], line: str | None, files: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
) -> None:
    import inspect as pyinspect

    from modelcert.checks.registry import get_check

    d = files["dir"]
    db = d / "ev.sqlite"
    fill = {"d": str(d), "db": f"sqlite:///{db}", "providers": _providers(),
            "harmful_args": ", ".join(pyinspect.signature(pyinspect.unwrap(get_check("safety.harmful").factory))
                                      .parameters)}
    args = [a.format(**fill) for a in argv]
    code, out, err = _cli(monkeypatch, capsys, args, env)
    assert code == 2, (name, code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "[bold]" not in err
    if line is not None:
        assert lines[0] == line.format(**fill)
    assert out == "" or "error" not in out
    if db.exists():  # a store may exist, but it holds no run
        from modelcert.evidence.store import EvidenceStore

        with EvidenceStore(f"sqlite:///{db}", create=False) as store:
            assert store.runs() == []
    assert not (d / "out").exists()


def test_wrong_passphrase_and_unknown_check_messages(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    d = files["dir"]
    code, _, err = _cli(monkeypatch, capsys, ["keys", "export-public", str(d / "enc.key"), "--out", str(d / "x.pub"),
                                              "--passphrase-env", "PW"], {"PW": "wrong"})
    assert code == 2 and "wrong passphrase" in err
    code, _, err = _cli(monkeypatch, capsys, ["run", "safety.harmfull"], {})
    assert code == 2 and "safety.harmfull" in err and "safety.harmful" in err.replace("safety.harmfull", "")


def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    code, _, err = _cli(monkeypatch, capsys, ["targets", "show", "--model", "foo/bar"], {"MODELCERT_DEBUG": "1"})
    assert code == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("error: unknown model")


def test_a_real_process_prints_one_line(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "modelcert", "run", "safety.harmful", "--model", "foo/bar",
                           "--db", f"sqlite:///{tmp_path / 'ev.sqlite'}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"error: unknown model provider 'foo' in 'foo/bar'; known: {_providers()}"]
