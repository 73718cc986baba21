"""Run blocking work on a worker thread without letting ``StopIteration`` hang the loop.

``asyncio`` cannot put ``StopIteration`` into a future: when a function run by
``asyncio.to_thread`` raises it, the copy back to the awaiting future fails inside a
callback and the awaiting coroutine waits forever (an Inspect eval then sits idle with no
thread working). Re-raising it as a ``RuntimeError`` turns that hang into a failed call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _guarded(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return fn(*args, **kwargs)
    except StopIteration as exc:
        raise RuntimeError(f"{getattr(fn, '__qualname__', fn)} raised StopIteration") from exc


async def to_thread(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``asyncio.to_thread`` whose awaiting coroutine always wakes up."""
    return await asyncio.to_thread(_guarded, fn, *args, **kwargs)
