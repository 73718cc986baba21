"""Progress for long commands: Rich bars on a terminal, plain periodic lines in logs.

Every long command (``run``, ``audit``, bias suites) reports ``done/total`` per task
through one :class:`ProgressView`, so a terminal shows bars with rate and ETA and a CI
log or a pipe gets one plain line per task at most every ``interval`` seconds (and when
a task finishes), instead of nothing for twenty minutes.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

#: Seconds between plain progress lines (override with MODELCERT_PROGRESS_INTERVAL).
DEFAULT_INTERVAL = 10.0


def _clock(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass
class _Task:
    label: str
    total: int | None
    done: int = 0
    start_done: int | None = None  # resumed samples do not count towards the rate
    t0: float = field(default_factory=time.monotonic)
    last_line: float = 0.0
    info: str = ""
    rich_id: Any = None
    finished: bool = False

    def rate(self, now: float) -> float | None:
        if self.start_done is None or now - self.t0 < 1e-6:
            return None
        made = self.done - self.start_done
        return made / (now - self.t0) if made > 0 else None

    def eta(self, now: float) -> float | None:
        r = self.rate(now)
        if r is None or self.total is None:
            return None
        return max(0, self.total - self.done) / r

    def line(self, now: float) -> str:
        total = "?" if self.total is None else str(self.total)
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        r = self.rate(now)
        rate = f"{r:.2f}/s" if r is not None else "-/s"
        return (f"{self.label}: {self.done}/{total}{pct} {rate} elapsed {_clock(now - self.t0)} "
                f"ETA {_clock(self.eta(now))}{(' ' + self.info) if self.info else ''}")


class ProgressView:
    """Progress of named tasks; a context manager.

    Args:
        stream: Where progress goes (stderr, so ``--json`` output on stdout stays clean).
        enabled: False silences it entirely.
        rich: Bars (True), plain lines (False) or decide by whether ``stream`` is a terminal.
        interval: Seconds between plain lines per task.
    """

    def __init__(self, *, stream: TextIO | None = None, enabled: bool = True, rich: bool | None = None,
                 interval: float | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.rich = self.stream.isatty() if rich is None else rich
        env = os.environ.get("MODELCERT_PROGRESS_INTERVAL")
        self.interval = interval if interval is not None else float(env) if env else DEFAULT_INTERVAL
        self.tasks: dict[str, _Task] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._progress: Progress | None = None
        if enabled and self.rich:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA {task.fields[eta]}"),
                TextColumn("{task.fields[info]}"),
                console=Console(file=self.stream),
            )

    @property
    def console(self) -> Console:
        """The console to print other lines through, so they do not tear the bars."""
        return self._progress.console if self._progress is not None else Console(file=self.stream)

    def __enter__(self) -> ProgressView:
        if self._progress is not None:
            self._progress.start()
        elif self.enabled:
            # a heartbeat: a task that makes no progress for a while still says so in the log
            self._beat = threading.Thread(target=self._heartbeat, name="modelcert-progress", daemon=True)
            self._beat.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=1)
        if self._progress is not None:
            self._progress.stop()

    def _heartbeat(self) -> None:
        while not self._stop.wait(min(1.0, self.interval)):
            now = time.monotonic()
            with self._lock:
                for task in self.tasks.values():
                    if not task.finished and now - task.last_line >= self.interval:
                        task.last_line = now
                        print(task.line(now), file=self.stream, flush=True)

    def update(self, key: str, done: int, total: int | None = None, *, label: str | None = None,
               info: str = "", final: bool = False) -> None:
        """Set task ``key`` to ``done`` of ``total``; the first call starts its clock."""
        if not self.enabled:
            return
        with self._lock:
            self._update(key, done, total, label, info, final)

    def _update(self, key: str, done: int, total: int | None, label: str | None, info: str, final: bool) -> None:
        now = time.monotonic()
        task = self.tasks.get(key)
        if task is None:
            task = self.tasks[key] = _Task(label or key, total)
            task.last_line = now
        if total is not None:
            task.total = total
        if task.start_done is None:
            task.start_done = done
            task.t0 = now
        task.done, task.info = done, info
        task.finished = final
        if self._progress is not None:
            r = task.rate(now)
            fields = {"rate": f"{r:.2f}/s" if r is not None else "-/s", "eta": _clock(task.eta(now)), "info": info}
            if task.rich_id is None:
                task.rich_id = self._progress.add_task(task.label, total=task.total, completed=done, **fields)
            else:
                self._progress.update(task.rich_id, completed=done, total=task.total, **fields)
            return
        if final or now - task.last_line >= self.interval:
            task.last_line = now
            print(task.line(now), file=self.stream, flush=True)

    def finish(self, key: str, info: str = "") -> None:
        """Print the task's last line (plain mode); the bar stays at its final state."""
        task = self.tasks.get(key)
        if task is not None:
            self.update(key, task.done, task.total, info=info or task.info, final=True)
