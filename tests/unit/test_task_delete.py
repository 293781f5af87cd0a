"""Deleting named tasks from the embedded queue: pending ones go, running ones stay."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from promptforge.tasks.base import Delivery, HandlerResult, QueueConfig, Task
from promptforge.tasks.embedded import EmbeddedTaskQueue

pytestmark = pytest.mark.anyio


async def test_delete_drops_pending_named_tasks_and_keeps_their_names(tmp_path: Path) -> None:
    async with EmbeddedTaskQueue(tmp_path / "tasks.db") as queue:
        await queue.ensure_queue("q", QueueConfig(max_dispatches_per_second=100))
        await queue.enqueue(
            [Task(queue="q", target="t", payload={"n": n}, name=f"task-{n}") for n in range(5)]
        )
        assert await queue.delete("q", ["task-1", "task-3", "missing"]) == 2
        assert await queue.delete("other", ["task-0"]) == 0
        assert await queue.pending("q") == 3
        # A deleted name stays taken: re-creating it is a no-op, like Cloud Tasks.
        assert await queue.enqueue([Task(queue="q", target="t", payload={}, name="task-1")]) == 0

        delivered: list[int] = []
        done = asyncio.Event()

        async def handler(delivery: Delivery) -> HandlerResult:
            delivered.append(int(delivery.payload["n"]))
            if len(delivered) == 3:
                done.set()
            return HandlerResult(200)

        queue.register("t", handler)
        await queue.start()
        await asyncio.wait_for(done.wait(), timeout=30)
        await queue.stop()
    assert sorted(delivered) == [0, 2, 4]
