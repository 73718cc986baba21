"""Hugging Face checkpoint configs: remote code, chat templates and shard paths.

``auto_map`` / ``trust_remote_code`` make transformers import Python files shipped with
the model; ``chat_template`` is Jinja code rendered on every request; a shard index
names the files a loader opens. Only top-level keys are read: that is where
transformers looks.
"""

from __future__ import annotations

import json
import re
from typing import Any

from modelcert.analyzers.artifact.report import Finding
from modelcert.analyzers.artifact.template_check import check_template

MAX_JSON = 64 * 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_json(data: bytes, display: str) -> list[Finding]:
    """Checks for one JSON file of a checkpoint (any name: content decides)."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return []
    if not isinstance(doc, dict):
        return []
    findings: list[Finding] = []
    if "auto_map" in doc:
        refs = _auto_map_refs(doc["auto_map"])
        remote = [r for r in refs if "--" in r]
        where = f" (from other repositories: {', '.join(remote)})" if remote else ""
        findings.append(Finding(
            "hf/remote-code", "high", display,
            f"auto_map asks transformers to import custom code: {', '.join(refs) or doc['auto_map']!r}{where}",
            {"auto_map": refs},
        ))
    if doc.get("trust_remote_code") is True:
        findings.append(Finding("hf/remote-code", "high", display, "sets trust_remote_code: true"))
    template = doc.get("chat_template")
    if isinstance(template, str):
        findings.extend(check_template(template, display, "chat_template"))
    elif isinstance(template, list):
        for item in template:
            if isinstance(item, dict) and isinstance(item.get("template"), str):
                findings.extend(check_template(item["template"], display, f"chat_template[{item.get('name')}]"))
    weight_map = doc.get("weight_map")
    if isinstance(weight_map, dict):
        findings.extend(_shard_paths(weight_map, display))
    return findings


def _auto_map_refs(auto_map: Any) -> list[str]:
    refs: list[str] = []
    values = auto_map.values() if isinstance(auto_map, dict) else [auto_map]
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                refs.append(item)
    return sorted(set(refs))


def _shard_paths(weight_map: dict[str, Any], display: str) -> list[Finding]:
    bad = sorted({
        str(f) for f in weight_map.values()
        if not isinstance(f, str) or f.startswith(("/", "\\")) or _DRIVE.match(f) or ".." in re.split(r"[\\/]", f)
    })
    if not bad:
        return []
    return [Finding("hf/shard-path", "critical", display,
                    f"weight_map names files outside the model folder: {', '.join(bad[:5])}", {"files": bad})]
