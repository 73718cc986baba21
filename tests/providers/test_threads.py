"""Work handed to a thread must always wake its awaiting coroutine, whatever it raises.

A ``StopIteration`` escaping a worker thread cannot be put into an asyncio future: the
awaiting coroutine then waits forever. This stalled an Inspect eval of the backdoor check
(an empty generator in the confirmation stage) with no thread working.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from modelcert.providers.checkpoint import load_checkpoint
from modelcert.providers.local import _Batcher, _Request
from modelcert.providers.threads import to_thread


def _empty_next() -> int:
    return next(iter([]))


def test_stopiteration_in_a_thread_becomes_a_failure_not_a_hang() -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError, match="StopIteration"):
            await asyncio.wait_for(to_thread(_empty_next), timeout=30)
        assert await asyncio.wait_for(to_thread(sum, [1, 2, 3]), timeout=30) == 6

    asyncio.run(main())


def test_batcher_delivers_a_stopiteration_from_generate_to_every_waiter(
    random_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt = load_checkpoint(random_checkpoint, access="api")
    monkeypatch.setattr(ckpt, "generate", lambda *a, **k: _empty_next())

    async def main() -> list[BaseException | object]:
        loop = asyncio.get_running_loop()
        batcher = _Batcher(ckpt, 4, loop)
        reqs = [_Request([{"role": "user", "content": f"hi {i}"}], 4, False, 0, (), loop.create_future())
                for i in range(3)]
        return await asyncio.wait_for(
            asyncio.gather(*(batcher.submit(r) for r in reqs), return_exceptions=True), timeout=30)

    results = asyncio.run(main())
    assert len(results) == 3
    assert all(isinstance(r, RuntimeError) and "StopIteration" in str(r) for r in results), results
