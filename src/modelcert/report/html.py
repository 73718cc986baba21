"""Render ``report.html`` from an audit's result document.

The report is built only from ``result.json`` (plus the bias forest plots), so what a
reader sees is exactly what was certified. Jinja2 autoescaping is on: model outputs
and policy text are untrusted and must not become markup.
"""

from __future__ import annotations

import math
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

_VERDICT_CLASS = {"PASS": "pass", "FAIL": "fail", "INCONCLUSIVE": "inc", "NOT_ASSESSED": "na"}
_OUTCOME_LABEL = {"certified": "Certified", "conditionally_certified": "Conditionally certified",
                  "refused": "Refused", "error": "Error: no verdict"}


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}g}"


def _pct(value: Any) -> str:
    if value is None:
        return "—"
    return f"{100 * value:.1f}%"


def _env() -> Environment:
    env = Environment(loader=PackageLoader("modelcert.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=_num, pct=_pct, vclass=lambda v: _VERDICT_CLASS.get(v, "na"))
    return env


def render_report(result: dict[str, Any], *, forests: dict[str, str] | None = None) -> str:
    """The HTML report for ``result`` (the audit's ``result.json`` content).

    Args:
        result: the result document.
        forests: requirement id -> forest-plot SVG (our own generated markup, inlined).
    """
    reqs = result["requirements"]
    rate = [r for r in reqs if r["kind"] == "rate" and r["queries"]]
    savings = [
        {"id": r["id"], "queries": r["queries"], "fixed": r["fixed_n"], "cap": r["cap"],
         "ratio": (r["fixed_n"] / r["queries"]) if r["fixed_n"] and r["queries"] else None}
        for r in rate
    ]
    counts = {v: sum(1 for r in reqs if r["verdict"] == v) for v in _VERDICT_CLASS}
    template = _env().get_template("report.html.j2")
    return template.render(
        r=result,
        reqs=reqs,
        counts=counts,
        savings=savings,
        outcome_label=_OUTCOME_LABEL.get(result["outcome"], result["outcome"]),
        forests={k: Markup(v) for k, v in (forests or {}).items()},  # our own SVG (report/forest.py)
    )
