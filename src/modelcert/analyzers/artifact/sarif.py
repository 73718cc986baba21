"""SARIF 2.1.0 output, so findings land in code-scanning dashboards and CI annotations.

Archive members are reported against the outer file's URI with the member path as a
logical location (``a.zip!b/data.pkl``); ``security-severity`` follows the GitHub
convention (critical 9.0+, high 7.0+, medium 4.0+).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from modelcert import __version__
from modelcert.analyzers.artifact.report import RULES

if TYPE_CHECKING:
    from modelcert.analyzers.artifact.report import ScanReport

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
_SECURITY = {"critical": "9.5", "high": "8.0", "medium": "5.0", "low": "2.0", "info": "0.0"}


def to_sarif(report: ScanReport) -> dict[str, Any]:
    """Build the SARIF log for one scan."""
    used = sorted({f.rule for f in report.findings})
    index = {rule: i for i, rule in enumerate(used)}
    root = Path(report.root)
    base = root if root.is_dir() else root.parent
    results = []
    for f in report.sorted_findings():
        outer, _, member = f.file.partition("!")
        location: dict[str, Any] = {
            "physicalLocation": {"artifactLocation": {"uri": quote(outer), "uriBaseId": "MODELROOT"}}
        }
        if member:
            location["logicalLocations"] = [{"fullyQualifiedName": f.file, "kind": "member"}]
        results.append({
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": _LEVEL[f.severity],
            "message": {"text": f.message},
            "locations": [location],
            "properties": {"severity": f.severity, "security-severity": _SECURITY[f.severity], **f.detail},
        })
    rules = [
        {
            "id": rule,
            "name": RULES[rule].title.title().replace(" ", "").replace("-", ""),
            "shortDescription": {"text": RULES[rule].title},
            "fullDescription": {"text": RULES[rule].help},
        }
        for rule in used
    ]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "modelcert-artifact-gate",
                "version": __version__,
                "rules": rules,
            }},
            "originalUriBaseIds": {"MODELROOT": {"uri": base.resolve().as_uri() + "/"}},
            "results": results,
            "properties": {"blocking": report.blocking, "filesScanned": len(report.files)},
        }],
    }
