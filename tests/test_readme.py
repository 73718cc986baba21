"""Every command in the README runs, exactly as written, in an empty temp folder.

The commands are read from the README's ```sh blocks, in order, and run one by one with
bash in one shared folder (later ones use what earlier ones wrote: the audit result, the
key). The environment is a fresh user's: the venv's ``bin`` first on ``PATH`` (the README
says to activate it), a private evidence store, and the ``export`` lines of the README
itself. What a command needs that is not a command (the OpenAI-compatible endpoint the
README audits) is started here, on the port the README names.

Commands measured at more than 60 s (``bench/readme_times.py``) are ``heavy``, and so is
every command after them that needs their output; ``make test`` is not run: it is this
test suite. A new README command runs by default until it is measured.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

#: Commands (by prefix) that take more than 60 s on the lab's 2-core machine; see bench/readme_times.py.
HEAVY_PREFIXES = (
    "make audit",
    "modelcert audit",
    "modelcert run bias.decisions",
    "modelcert run safety.harmful",
)
#: Commands that need an earlier command's output: (prefix, prefix of what it needs).
NEEDS = (
    ("python3 -m json.tool out/unsafe", "modelcert audit --model local/zoo:unsafe"),
    ("modelcert certify out/unsafe", "modelcert audit --model local/zoo:unsafe"),
    ("modelcert verify out/unsafe", "modelcert certify out/unsafe"),
    ("modelcert verify out/unsafe", "modelcert keys init"),
    ("modelcert certify out/unsafe", "modelcert keys init"),
    ("modelcert evidence", "modelcert audit --model local/zoo:unsafe"),  # the store holds its runs
)
NOT_RUN = {"make test": "it is this test suite"}
#: The exit code a command is documented to end with (README comment "exits N").
EXPECTED_RE = re.compile(r"#.*\bexits (\d)\b")


@dataclass
class Command:
    line: str
    expect: int = 0
    heavy: bool = False
    needs: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.line[:70]


def readme_commands(text: str | None = None) -> list[Command]:
    text = README.read_text() if text is None else text
    cmds: list[Command] = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        for raw in block.splitlines():
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            m = EXPECTED_RE.search(raw)
            line = re.split(r"\s{2,}#", raw)[0].strip()
            cmds.append(Command(line, int(m.group(1)) if m else 0))
    for c in cmds:
        c.needs = [p for want, p in NEEDS if c.line.startswith(want)]
        c.heavy = c.line.startswith(HEAVY_PREFIXES)
    for _ in range(3):  # needing a heavy command makes a command heavy (transitively)
        for c in cmds:
            for prefix in c.needs:
                if any(o.line.startswith(prefix) and o.heavy for o in cmds):
                    c.heavy = True
    return cmds


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _wait(port: int, proc: subprocess.Popen, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        if not _free(port):
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} did not listen on {port} within {seconds:.0f} s")


class Session:
    """The shared folder, environment and background processes of one README walk."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        venv_bin = str(Path(sys.executable).parent)
        self.env = {**os.environ, "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
                    "MODELCERT_DB": f"sqlite:///{folder / 'evidence.sqlite'}", "MODELCERT_PROGRESS_INTERVAL": "30"}
        self.env.pop("LAB_BASE_URL", None)
        self.env.pop("LAB_API_KEY", None)
        self.background: list[subprocess.Popen] = []
        self.done: dict[str, int] = {}

    def start_endpoint(self, url: str) -> None:
        """The OpenAI-compatible server the README audits: our refusing test model on that port."""
        port = int(re.search(r":(\d+)/", url).group(1))  # type: ignore[union-attr]
        if not _free(port):
            pytest.skip(f"port {port}, where the README's endpoint lives, is taken on this machine")
        server = ROOT / "tests" / "web" / "model_server.py"
        proc = subprocess.Popen([sys.executable, str(server), str(port)], cwd=self.folder)
        self.background.append(proc)
        _wait(port, proc, "the test endpoint")

    def run(self, cmd: Command) -> subprocess.CompletedProcess[str] | None:
        line = cmd.line
        if line.startswith("export "):
            for assignment in shlex.split(line)[1:]:
                key, _, value = assignment.partition("=")
                self.env[key] = value
                if key.endswith("_BASE_URL"):
                    self.start_endpoint(value)
            return None
        if line.endswith("&"):  # a server: start it, wait until it listens, stop it at the end
            argv = shlex.split(line[:-1])
            port = int(argv[argv.index("--port") + 1]) if "--port" in argv else 8000
            if not _free(port):
                pytest.skip(f"port {port}, which the README's `{line}` uses, is taken on this machine")
            proc = subprocess.Popen(["bash", "-c", f"exec {line[:-1]}"], cwd=self.folder, env=self.env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.background.append(proc)
            _wait(port, proc, line)
            import httpx

            for path in ("/healthz", "/docs", "/openapi.json"):
                assert httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10).status_code == 200, path
            return None
        if line.startswith("make "):
            self._make_folder()
        return subprocess.run(["bash", "-c", line], cwd=self.folder, env=self.env, capture_output=True, text=True,
                              timeout=1800)

    def _make_folder(self) -> None:
        """``make audit`` in the folder: the repository's Makefile, the already installed venv."""
        for name in ("Makefile", "pyproject.toml"):
            shutil.copy2(ROOT / name, self.folder / name)
        venv = Path(sys.prefix)
        stamp = venv / ".installed"
        if not stamp.exists() or stamp.stat().st_mtime < (ROOT / "pyproject.toml").stat().st_mtime:
            pytest.skip(f"{stamp} is missing or older than pyproject.toml: `make` would reinstall the venv")
        if not (self.folder / ".venv").exists():
            (self.folder / ".venv").symlink_to(venv)

    def close(self) -> None:
        for proc in self.background:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory):
    s = Session(tmp_path_factory.mktemp("readme"))
    yield s
    s.close()


COMMANDS = readme_commands()


def test_the_readme_parses_into_commands() -> None:
    lines = [c.line for c in COMMANDS]
    assert lines[:2] == ["make audit", "make test"], "the quick start is exactly two commands"
    assert len(lines) >= 15
    assert not [c for c in COMMANDS if "<" in c.line or "path/to" in c.line], "placeholders cannot run as written"


@pytest.mark.parametrize(
    "cmd", [pytest.param(c, id=c.id, marks=[pytest.mark.heavy] if c.heavy else []) for c in COMMANDS]
)
def test_readme_command_runs_as_written(cmd: Command, session: Session) -> None:
    if cmd.line in NOT_RUN:
        pytest.skip(f"`{cmd.line}` is not run here: {NOT_RUN[cmd.line]}")
    missing = [p for p in cmd.needs if not any(k.startswith(p) for k in session.done)]
    if missing:
        pytest.skip(f"needs the output of `{missing[0]}`, which did not run in this session")
    t0 = time.perf_counter()
    proc = session.run(cmd)
    seconds = time.perf_counter() - t0
    session.done[cmd.line] = 0
    if proc is None:
        return
    assert proc.returncode == cmd.expect, (
        f"`{cmd.line}` exited {proc.returncode}, not {cmd.expect}, after {seconds:.0f} s\n"
        f"stdout: {proc.stdout[-1500:]}\nstderr: {proc.stderr[-1500:]}"
    )
    assert "Traceback" not in proc.stderr
    if not cmd.heavy:
        print(f"{seconds:6.1f} s  {cmd.line}")
