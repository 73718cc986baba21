"""Turn Inspect's ``EvalSample`` into the data of one evidence record.

Kept apart from the store so that an Inspect upgrade touches this file only. A sample
that ended in an error becomes a ``sample_error`` record: errors are evidence too.
Non-finite floats (NaN scores) are written as the strings ``"NaN"``, ``"Infinity"``
and ``"-Infinity"`` because canonical JSON has no numbers for them.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic_core import to_jsonable_python

from modelcert.evidence.chain import canonical_json
from modelcert.evidence.store import SAMPLE, SAMPLE_ERROR
from modelcert.evidence.suites import REDACTED


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def _message(msg: Any) -> dict[str, Any]:
    content = msg.content
    out: dict[str, Any] = {
        "role": msg.role,
        "content": content if isinstance(content, str) else [c.model_dump(mode="json") for c in content],
    }
    tool_calls = getattr(msg, "tool_calls", None)
    if tool_calls:
        out["tool_calls"] = [t.model_dump(mode="json") for t in tool_calls]
    return out


def _input(sample: Any) -> list[dict[str, Any]]:
    if isinstance(sample.input, str):
        return [{"role": "user", "content": sample.input}]
    return [_message(m) for m in sample.input]


def _logprobs(choice: Any) -> list[dict[str, Any]] | None:
    lp = getattr(choice, "logprobs", None)
    if lp is None:
        return None
    tokens = []
    for t in lp.content:
        entry: dict[str, Any] = {"token": t.token, "logprob": t.logprob}
        if t.top_logprobs:
            entry["top"] = [{"token": a.token, "logprob": a.logprob} for a in t.top_logprobs]
        tokens.append(entry)
    return tokens


def _output(sample: Any) -> dict[str, Any]:
    out = sample.output
    choice = out.choices[0] if out and out.choices else None
    return {
        "model": out.model if out else None,
        "completion": out.completion if out else "",
        "stop_reason": choice.stop_reason if choice else None,
        "logprobs": _logprobs(choice) if choice else None,
        "error": out.error if out else None,
    }


def _scores(sample: Any) -> dict[str, Any]:
    return {
        name: {
            "value": s.value,
            "answer": s.answer,
            "explanation": s.explanation,
            "reason": s.reason,
            "metadata": s.metadata,
        }
        for name, s in (sample.scores or {}).items()
    }


def _calls(sample: Any) -> list[dict[str, Any]]:
    """One entry per model call: how often it was retried, how long it took, its error."""
    return [
        {"model": e.model, "retries": e.retries or 0, "working_time": e.working_time, "error": e.error}
        for e in sample.events
        if getattr(e, "event", None) == "model"
    ]


def sample_record(sample: Any, *, retries: list[dict[str, Any]] | None = None) -> tuple[str, dict[str, Any]]:
    """The ``(kind, data)`` of the evidence record for one finished Inspect sample.

    Args:
        sample: An ``inspect_ai.log.EvalSample`` as handed to the ``on_sample_end`` hook.
        retries: Model-call retries reported by Inspect's retry hook (status, wait), so
            rate-limit back-off is visible in the evidence; the per-call retry counts
            in ``calls`` come from the sample's model events.
    """
    error = None
    if sample.error is not None:
        error = {"message": sample.error.message, "traceback": sample.error.traceback}
    data: dict[str, Any] = {
        "sample_id": sample.id,
        "epoch": sample.epoch,
        "input": _input(sample),
        "target": sample.target,
        "messages": [_message(m) for m in sample.messages],
        "output": _output(sample),
        "scores": _scores(sample),
        "metadata": sample.metadata,
        "timing": {
            "started_at": sample.started_at,
            "completed_at": sample.completed_at,
            "total_time": sample.total_time,
            "working_time": sample.working_time,
        },
        "usage": {m: u.model_dump(mode="json", exclude_none=True) for m, u in sample.model_usage.items()},
        "calls": _calls(sample),
        "retries": retries or [],
        "error": error,
        "error_retries": [e.message for e in (sample.error_retries or [])],
        "limit": sample.limit.model_dump(mode="json") if sample.limit else None,
    }
    data = to_jsonable_python(data, fallback=repr)
    try:
        canonical_json(data)
    except ValueError:  # rare: a NaN/inf somewhere; only then walk the whole structure
        data = _finite(data)
    return (SAMPLE_ERROR if error else SAMPLE), data


def _unredacted_view(obj: Any) -> Any:
    """Redaction markers (secret-suite values) as short placeholder strings, so the
    record still rebuilds into Inspect's types (a message content must be text)."""
    if isinstance(obj, dict):
        if obj.get("redacted") == REDACTED and "commitment" in obj:
            return f"[secret-suite item {str(obj['commitment'])[:16]}]"
        return {k: _unredacted_view(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unredacted_view(v) for v in obj]
    return obj


def _value(v: Any) -> Any:
    if v in ("NaN", "Infinity", "-Infinity"):
        return float(v)
    if isinstance(v, dict):
        return {k: _value(x) for k, x in v.items()}
    return v


def eval_sample(data: dict[str, Any]) -> Any:
    """Rebuild an Inspect ``EvalSample`` from a sample record's data (the inverse of
    :func:`sample_record` for everything analyses read: id, epoch, input, target,
    messages, output text, scores, metadata, timings, error).

    This lets analyses written against Inspect samples run on the evidence itself, so
    a verdict is computed from exactly what the log holds. Token log-probabilities stay
    in the record's ``output.logprobs``; they are not rebuilt. Secret-suite values
    appear as ``[secret-suite item <commitment prefix>]``.
    """
    from inspect_ai.log import EvalError, EvalSample
    from inspect_ai.model import ChatMessage, ModelOutput
    from inspect_ai.scorer import Score
    from pydantic import TypeAdapter

    messages = TypeAdapter(list[ChatMessage])
    data = _unredacted_view(data)
    out = data.get("output") or {}
    err = data.get("error")
    timing = data.get("timing") or {}
    return EvalSample(
        id=data["sample_id"],
        epoch=data["epoch"],
        input=messages.validate_python(data.get("input") or []),
        target=data.get("target") or "",
        messages=messages.validate_python(data.get("messages") or []),
        output=ModelOutput.from_content(
            model=out.get("model") or "",
            content=out.get("completion") or "",
            stop_reason=out.get("stop_reason") or "unknown",
            error=out.get("error"),
        ),
        scores={
            name: Score(
                value=_value(s["value"]),
                answer=s.get("answer"),
                explanation=s.get("explanation"),
                reason=s.get("reason"),
                metadata=s.get("metadata"),
            )
            for name, s in (data.get("scores") or {}).items()
        },
        metadata=data.get("metadata") or {},
        error=EvalError(message=err["message"], traceback=err.get("traceback") or "", traceback_ansi="")
        if err
        else None,
        started_at=timing.get("started_at"),
        completed_at=timing.get("completed_at"),
        total_time=timing.get("total_time"),
        working_time=timing.get("working_time"),
    )
