"""Progress in a log: plain lines with done/total, rate and ETA, and a heartbeat when stuck."""

from __future__ import annotations

import io
import re
import time

from modelcert.cli.progress import ProgressView


def test_plain_lines_carry_done_total_rate_and_eta() -> None:
    out = io.StringIO()
    with ProgressView(stream=out, rich=False, interval=0.05) as view:
        view.update("safety.harmful", 10, 100)  # 10 resumed: the rate counts from here
        time.sleep(0.06)
        view.update("safety.harmful", 30, 100, info="errors 0")
        view.finish("safety.harmful")
    lines = out.getvalue().splitlines()
    assert lines, "no progress line"
    last = lines[-1]
    m = re.fullmatch(r"safety\.harmful: 30/100 \(30%\) ([\d.]+)/s elapsed 0:00:0\d ETA (\d:\d\d:\d\d) errors 0", last)
    assert m, last
    assert float(m.group(1)) > 0


def test_a_task_without_progress_still_reports_in_the_log() -> None:
    out = io.StringIO()
    with ProgressView(stream=out, rich=False, interval=0.1) as view:
        view.update("AIA-15.5-backdoor", 0, 1, info="round 0 RUNNING")
        time.sleep(1.5)  # the heartbeat wakes once a second
    lines = out.getvalue().splitlines()
    assert lines and all(line.startswith("AIA-15.5-backdoor: 0/1 (0%) -/s elapsed") for line in lines)
    assert lines[-1].endswith("ETA ? round 0 RUNNING")


def test_disabled_view_prints_nothing() -> None:
    out = io.StringIO()
    with ProgressView(stream=out, enabled=False, interval=0) as view:
        view.update("x", 1, 2)
        view.finish("x")
    assert out.getvalue() == ""
