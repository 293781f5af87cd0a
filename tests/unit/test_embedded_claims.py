"""A rate-limited embedded queue claims tasks in batches, yet keeps its rate and burst."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from promptforge.tasks.base import Delivery, HandlerResult, QueueConfig, RetryConfig, Task
from promptforge.tasks.embedded import EmbeddedTaskQueue

pytestmark = pytest.mark.anyio


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[EmbeddedTaskQueue]:
    async with EmbeddedTaskQueue(tmp_path / "tasks.db") as q:
        yield q


async def _run(queue: EmbeddedTaskQueue, rate: float, burst: int, count: int) -> list[int]:
    """Dispatch ``count`` tasks at ``rate``/``burst``; the size of every claim, in order."""
    config = QueueConfig(
        max_dispatches_per_second=rate,
        max_burst_size=burst,
        max_concurrent_dispatches=1000,
        retry=RetryConfig(min_backoff=0.01, max_backoff=1.0),
    )
    await queue.ensure_queue("q", config)
    await queue.enqueue([Task("q", "w", {"i": i}, name=f"t{i}") for i in range(count)])
    store = queue._store
    claims: list[int] = []
    real_claim = store.claim

    async def counting_claim(*args: object) -> object:
        claimed, next_due = await real_claim(*args)  # type: ignore[arg-type]
        if claimed:
            claims.append(len(claimed))
        return claimed, next_due

    store.claim = counting_claim  # type: ignore[method-assign]
    delivered: list[float] = []

    async def handler(_: Delivery) -> HandlerResult:
        delivered.append(time.monotonic())
        return HandlerResult(200)

    queue.register("w", handler)
    started = time.monotonic()
    await queue.start()
    while len(delivered) < count:
        assert time.monotonic() - started < 10, "the queue stalled"
        await asyncio.sleep(0.01)
    await queue.stop()
    elapsed = delivered[-1] - started
    assert elapsed >= (count - burst) / rate * 0.9  # the rate is kept
    return claims


async def test_a_rate_limited_queue_claims_batches_not_single_tasks(
    queue: EmbeddedTaskQueue,
) -> None:
    claims = await _run(queue, rate=400.0, burst=40, count=240)
    assert claims[0] == 40  # the full bucket at once
    assert len(claims) <= 12  # then about 20 (50 ms worth) per claim, not one by one
    assert max(claims) <= 40 + 5  # never more than the burst (and a few earned meanwhile)


async def test_a_slow_queue_still_dispatches_one_at_a_time(queue: EmbeddedTaskQueue) -> None:
    claims = await _run(queue, rate=20.0, burst=1, count=6)
    assert claims == [1] * 6
