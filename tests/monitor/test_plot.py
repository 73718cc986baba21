"""The dashboard's e-process plot is plain SVG whose points carry their values."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from modelcert.monitor.plot import trajectory_svg


def test_points_threshold_and_alarm_colour() -> None:
    svg = trajectory_svg([1.2, 0.4, 55.0], 20.0)
    root = ET.fromstring(svg)  # well-formed
    ns = "{http://www.w3.org/2000/svg}"
    points = root.findall(f"{ns}circle")
    assert [p.get("data-value") for p in points] == ["1.2", "0.4", "55"]
    assert points[2].get("fill") == "#c00" and points[0].get("fill") != "#c00"
    assert root.find(f"{ns}line[@class='threshold']") is not None
    assert float(points[2].get("cy")) < float(points[0].get("cy")) < float(points[1].get("cy"))  # log scale, up is more


def test_empty_trajectory_and_label_escaping() -> None:
    svg = trajectory_svg([], 20.0, label='<b>"x"</b>')
    assert "no checks yet" in svg and "<b>" not in svg
    assert re.search(r'aria-label="&lt;b&gt;', svg)
