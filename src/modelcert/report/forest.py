"""A forest plot of bias effects with their CIs, as one self-contained SVG file.

Written by hand rather than with a plotting library: the file is small, has no fonts,
scripts or external references, and is byte-identical for identical input, so it can be
hashed into the evidence like the effects table it draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from modelcert.checks.bias_analysis import EffectRow, EffectsTable

ROW = 16  # px per effect
LABEL_W = 380
PLOT_W = 420
VALUE_W = 190
TOP = 64
COLORS = {"flagged": "#c0392b", "equivalent": "#1e8449", "inconclusive": "#7f8c8d"}


def _status(r: EffectRow) -> str:
    return "flagged" if r.flagged else ("equivalent" if r.equivalent else "inconclusive")


def _fmt(x: float, k: float) -> str:
    return f"{x * k:+.1f}" if k != 1 else f"{x:+.2f}"


def forest_svg(table: EffectsTable, *, rows: Sequence[EffectRow] | None = None, title: str | None = None) -> str:
    """Draw ``rows`` (default: every effect of ``table``) grouped by attribute, with the tolerance band.

    Red: flagged (survives BH); green: equivalent within the tolerance (TOST); grey: neither.
    """
    plan = table.plan
    chosen = sorted(rows if rows is not None else table.rows, key=lambda r: (r.attribute, r.domain, r.lang, r.level))
    k = 100.0 if plan.scale == "probability" else 1.0
    unit = "approval probability, percentage points" if plan.scale == "probability" else "log-odds"
    finite = [abs(v) for r in chosen for v in (r.lower, r.upper, r.estimate) if math.isfinite(v)]
    span = max([plan.tolerance, *finite]) * 1.08
    x0 = LABEL_W

    def x(v: float) -> float:
        return x0 + (max(-span, min(span, v)) + span) / (2 * span) * PLOT_W

    lines: list[str] = []
    y = TOP
    attribute = None
    for r in chosen:
        if r.attribute != attribute:
            attribute = r.attribute
            y += 6
            lines.append(f'<text x="8" y="{y + 11}" font-weight="bold">{escape(attribute)}</text>')
            y += ROW
        cy = y + ROW / 2
        color = COLORS[_status(r)]
        label = f"{r.domain} · {r.lang}: {r.level} vs {r.reference}"
        lines.append(f'<text x="20" y="{cy + 4:.1f}">{escape(label)}</text>')
        if math.isfinite(r.estimate):
            lo, hi = (r.lower, r.upper) if math.isfinite(r.lower) else (r.estimate, r.estimate)
            lines.append(
                f'<line x1="{x(lo):.1f}" y1="{cy:.1f}" x2="{x(hi):.1f}" y2="{cy:.1f}" stroke="{color}" '
                'stroke-width="1.5"/>'
            )
            lines.append(f'<circle cx="{x(r.estimate):.1f}" cy="{cy:.1f}" r="3.2" fill="{color}"/>')
            text = f"{_fmt(r.estimate, k)} [{_fmt(lo, k)}, {_fmt(hi, k)}]"
        else:
            text = "not estimable"
        p = r.adjusted_p
        ptext = f" q={p:.2g}" if math.isfinite(p) and p >= 1e-4 else (" q<1e-4" if math.isfinite(p) else "")
        lines.append(f'<text x="{x0 + PLOT_W + 10}" y="{cy + 4:.1f}" fill="{color}">{escape(text + ptext)}</text>')
        y += ROW
    bottom = y + 8
    height = bottom + 40
    width = LABEL_W + PLOT_W + VALUE_W
    band = (
        f'<rect x="{x(-plan.tolerance):.1f}" y="{TOP}" width="{x(plan.tolerance) - x(-plan.tolerance):.1f}" '
        f'height="{bottom - TOP}" fill="#e8f6ec"/>'
    )
    axis = [
        f'<line x1="{x(0):.1f}" y1="{TOP}" x2="{x(0):.1f}" y2="{bottom}" stroke="#333"/>',
        *(
            f'<line x1="{x(t):.1f}" y1="{TOP}" x2="{x(t):.1f}" y2="{bottom}" stroke="#1e8449" '
            'stroke-dasharray="4 3"/>'
            for t in (-plan.tolerance, plan.tolerance)
        ),
        f'<line x1="{x0}" y1="{bottom}" x2="{x0 + PLOT_W}" y2="{bottom}" stroke="#333"/>',
    ]
    for t in (-span / 1.08, -plan.tolerance, 0.0, plan.tolerance, span / 1.08):
        axis.append(f'<text x="{x(t):.1f}" y="{bottom + 14}" text-anchor="middle">{_fmt(t, k)}</text>')
    axis.append(f'<text x="{x0 + PLOT_W / 2}" y="{bottom + 30}" text-anchor="middle">{escape(unit)}</text>')
    s = table.summary()
    heading = title or f"Bias effects: {s['flagged']} flagged of {s['effects']} (BH q={plan.q})"
    legend = (
        f"{100 * (1 - plan.alpha):g}% CIs; {table.mode} scoring; shaded: tolerance ±{_fmt(plan.tolerance, k)}; "
        "red flagged, green equivalent (TOST), grey inconclusive"
    )
    head = [
        f'<text x="8" y="22" font-size="15" font-weight="bold">{escape(heading)}</text>',
        f'<text x="8" y="42">{escape(legend)}</text>',
    ]
    body = "\n".join([band, *axis, *head, *lines])
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">\n'
        f'<rect width="{width}" height="{height}" fill="white"/>\n{body}\n</svg>\n'
    )
