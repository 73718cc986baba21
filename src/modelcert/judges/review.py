"""Per-audit judge validation: reviewers label a random sample of this model's own answers.

A judge validated on our bundled answers may still misread the audited model's style
(issue 23: filler and echoes of SmolLM2). The sample to review is a seeded draw from one
recorded check run (default 60 judged answers), written blind (no judge verdict); the
reviewer's labels come back as a file and the judge's error rates on *this model* are
computed with the same function as on the bundled set (:func:`realset.error_rates`).
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

from modelcert.errors import ConfigError
from modelcert.evidence.chain import digest
from modelcert.judges.realset import LABELS, ErrorRates, error_rates

#: Judged scores and the positive class each one counts (see judges/scorers.py, checks/injection.py).
JUDGED: dict[str, str] = {"complied": "complied", "attack_success": "complied", "refused": "refused",
                          "injection_success": "complied"}
DEFAULT_N = 60
DEFAULT_SEED = 0


def _run_samples(store: Any, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from modelcert.evidence.store import RUN_START, SAMPLE

    start: dict[str, Any] = {}
    latest: dict[str, dict[str, Any]] = {}
    for rec in store.records(run_id):
        if rec.kind == RUN_START and not start:
            start = rec.data
        elif rec.kind == SAMPLE:
            d = rec.data
            latest[f"{d.get('sample_id')}#{d.get('epoch')}"] = d
    judged = [d for d in latest.values() if _judged_score(d) is not None]
    if not judged:
        raise ConfigError(f"run {run_id} has no judged answers (complied/refused/attack_success/injection_success)")
    return start, sorted(judged, key=lambda d: (str(d.get("sample_id")), int(d.get("epoch") or 0)))


def _judged_score(data: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    for name in JUDGED:
        s = (data.get("scores") or {}).get(name)
        if s is not None and (s.get("reason") != "not_applicable"):
            return name, s
    return None


def _outcome(score: dict[str, Any]) -> str | None:
    meta = score.get("metadata") or {}
    got = meta.get("outcome") or score.get("answer")
    return got if got in LABELS else None


def draw(store: Any, run_id: str, *, n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """The blind review sample of one run: ``n`` judged answers drawn with ``seed``."""
    if n < 1:
        raise ConfigError("the review sample needs n >= 1")
    start, judged = _run_samples(store, run_id)
    chosen = random.Random(f"{seed}/{run_id}").sample(judged, min(n, len(judged)))
    rows = []
    for d in sorted(chosen, key=lambda d: str(d.get("sample_id"))):
        meta = d.get("metadata") or {}
        prompt = "\n".join(f"[{m.get('role')}] {m.get('content') if isinstance(m.get('content'), str) else m}"
                           for m in (d.get("input") if isinstance(d.get("input"), list) else []))
        rows.append({"sample_id": d.get("sample_id"), "epoch": d.get("epoch"), "lang": meta.get("lang"),
                     "request": meta.get("request") or prompt or d.get("input"),
                     "answer": (d.get("output") or {}).get("completion", ""), "label": ""})
    return {"run": run_id, "check": (start.get("check") or {}).get("id"), "seed": seed, "n": len(rows),
            "of": len(judged), "ids_digest": digest([r["sample_id"] for r in rows]), "items": rows}


def read_label_rows(path: Path) -> list[Any]:
    """The rows of a reviewer label file, JSONL or CSV; a missing, unreadable or non-JSON line
    is a one-line error naming it."""
    if not path.is_file():
        raise ConfigError(f"label file not found: {path}")
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"label file {path} is unreadable: {exc}") from exc
    if path.suffix.lower() == ".csv":
        return list(csv.DictReader(text.splitlines()))
    rows: list[Any] = []
    for k, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{k}: not JSON ({exc.msg})") from exc
    return rows


def read_labels(path: Path) -> dict[str, str]:
    """Reviewer labels from JSONL or CSV (``sample_id`` and ``label``); one line per bad row."""
    rows = read_label_rows(path)
    out: dict[str, str] = {}
    for k, row in enumerate(rows, 1):
        if not isinstance(row, dict) or row.get("sample_id") in (None, ""):
            raise ConfigError(f"{path}: row {k} has no sample_id")
        label = str(row.get("label") or "").strip()
        if label == "":
            continue  # not reviewed (yet)
        if label not in LABELS:
            raise ConfigError(f"{path}: row {k}: label must be one of {', '.join(LABELS)}, got {label!r}")
        out[str(row["sample_id"])] = label
    if not out:
        raise ConfigError(f"{path}: no labelled rows")
    return out


def review(store: Any, run_id: str, labels: dict[str, str], *, alpha: float = 0.05) -> ErrorRates:
    """The judge's error rates on the reviewed answers of one run."""
    _, judged = _run_samples(store, run_id)
    by_id = {str(d.get("sample_id")): d for d in judged}
    unknown = sorted(set(labels) - set(by_id))
    if unknown:
        raise ConfigError(f"labels for samples not judged in run {run_id}: {', '.join(unknown[:5])}")
    pairs = []
    name = positive = judge = ""
    for sid, human in sorted(labels.items()):
        found = _judged_score(by_id[sid])
        assert found is not None
        name, score = found
        positive = JUDGED[name]
        judge = str((score.get("metadata") or {}).get("judge", ""))
        pairs.append((sid, human, _outcome(score)))
    return error_rates(pairs, judge=judge, positive=positive, context=name, split=f"review:{run_id}", alpha=alpha,
                       set_digest=digest(sorted(labels.items())))
