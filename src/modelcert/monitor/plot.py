"""The e-value trajectory of a monitored version as a small server-rendered SVG.

Why SVG on the server: the dashboard needs no script to show it, the page stays
readable with scripts off, and a test can read the plotted values from the markup.
The y axis is log10(e-process), so the alarm line 1/alpha and values far below 1 both
fit; each point carries its check number and value in a ``<title>``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD = 360, 160, 30


def trajectory_svg(values: Sequence[float], threshold: float, *, label: str = "e-process") -> str:
    """An SVG line plot of ``values`` (one per check) against the alarm ``threshold``."""
    logs = [math.log10(max(v, 1e-12)) for v in values]
    top = max([math.log10(threshold) + 0.5, *logs])
    bottom = min([-1.0, *logs])
    n = max(len(values), 1)

    def x(i: int) -> float:
        return PAD + (WIDTH - 2 * PAD) * (i / max(n - 1, 1))

    def y(v: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v - bottom) / (top - bottom)

    ty = y(math.log10(threshold))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="eplot" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(label)}: e-process per check">',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
        f'<line x1="{PAD}" y1="{PAD / 2}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
        f'<line class="threshold" x1="{PAD}" y1="{ty:.1f}" x2="{WIDTH - PAD}" y2="{ty:.1f}" stroke="#c00" '
        f'stroke-dasharray="4 3"><title>alarm at {threshold:g} (1/alpha)</title></line>',
        f'<text x="{WIDTH - PAD}" y="{ty - 4:.1f}" font-size="10" text-anchor="end" fill="#c00">alarm {threshold:g}</text>',
        f'<line x1="{PAD}" y1="{y(0):.1f}" x2="{WIDTH - PAD}" y2="{y(0):.1f}" stroke="#ccc"/>',
        f'<text x="{PAD - 4}" y="{y(0) + 3:.1f}" font-size="10" text-anchor="end">1</text>',
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 8}" font-size="10" text-anchor="middle">check</text>',
    ]
    if values:
        pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(logs))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="#036" stroke-width="1.5"/>')
        for i, (v, raw) in enumerate(zip(logs, values, strict=True)):
            colour = "#c00" if raw >= threshold else "#036"
            parts.append(f'<circle class="point" cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}" '
                         f'data-check="{i + 1}" data-value="{raw:.6g}"><title>check {i + 1}: {raw:.4g}</title></circle>')
    else:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" font-size="11" text-anchor="middle">no checks yet</text>')
    parts.append("</svg>")
    return "".join(parts)
