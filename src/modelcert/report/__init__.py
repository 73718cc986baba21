"""The audit report: one self-contained HTML file (inline CSS and SVG, no scripts, no CDN)."""

from modelcert.report.html import render_report

__all__ = ["render_report"]
