"""A clean stop never gives up an answer (issue 19, defect 2): the dispatcher and ``core.answers``.

``EmbeddedTaskQueue.stop`` stops claiming at once, lets ``finish_on_stop`` handlers (the
worker) run to their end and cancels the others after its grace; ``cancel_running`` cuts
everything off. ``AnswerKeeper.keep`` finishes a settle whose handler was cancelled, and
``drain`` waits for it; ``with_store_retries`` settles through a passing store error.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from promptforge.core.answers import AnswerKeeper, with_store_retries
from promptforge.tasks.base import Delivery, HandlerResult, QueueConfig, Task
from promptforge.tasks.embedded import EmbeddedTaskQueue

pytestmark = pytest.mark.anyio

QUEUE = "q"
CONFIG = QueueConfig(max_dispatches_per_second=1000.0, max_burst_size=100)


class _Slow:
    """A handler that starts, then waits ``seconds`` before answering 200."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = asyncio.Event()
        self.finished = 0
        self.cancelled = 0

    async def __call__(self, delivery: Delivery) -> HandlerResult:
        self.started.set()
        try:
            await asyncio.sleep(self.seconds)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        return HandlerResult(200)


async def _queue_running(path: Path, handler: _Slow, *, finish: bool) -> EmbeddedTaskQueue:
    queue = EmbeddedTaskQueue(path)
    await queue.open()
    await queue.ensure_queue(QUEUE, CONFIG)
    queue.register("slow", handler, finish_on_stop=finish)
    await queue.enqueue([Task(queue=QUEUE, target="slow", payload={}, name="t1")])
    await queue.start()
    await asyncio.wait_for(handler.started.wait(), 30)
    return queue


async def test_stop_lets_a_finishing_handler_run_past_the_grace(tmp_path: Path) -> None:
    handler = _Slow(0.5)
    queue = await _queue_running(tmp_path / "tasks.db", handler, finish=True)
    await queue.stop(grace=0.05)
    assert (handler.finished, handler.cancelled) == (1, 0)
    assert await queue.pending(QUEUE) == 0  # its answer was written: nothing comes back
    await queue.close()


async def test_stop_cancels_other_handlers_after_the_grace_and_they_come_back(
    tmp_path: Path,
) -> None:
    handler = _Slow(30.0)
    queue = await _queue_running(tmp_path / "tasks.db", handler, finish=False)
    await queue.stop(grace=0.05)
    assert (handler.finished, handler.cancelled) == (0, 1)
    await queue.close()
    reopened = EmbeddedTaskQueue(tmp_path / "tasks.db")
    await reopened.open()
    assert await reopened.pending(QUEUE) == 1  # delivered again after the restart
    await reopened.close()


async def test_cancel_running_cuts_a_finishing_handler_off(tmp_path: Path) -> None:
    handler = _Slow(30.0)
    queue = await _queue_running(tmp_path / "tasks.db", handler, finish=True)
    stopping = asyncio.create_task(queue.stop(grace=0.05))
    await asyncio.sleep(0.2)
    assert not stopping.done()  # waiting for the call in flight
    assert queue.cancel_running() == 1
    await asyncio.wait_for(stopping, 30)
    assert handler.cancelled == 1
    await queue.close()


async def test_a_kept_settle_finishes_although_its_handler_is_cancelled() -> None:
    keeper = AnswerKeeper()
    recorded: list[str] = []

    async def settle() -> None:
        await asyncio.sleep(0.2)
        recorded.append("answer")

    async def handler() -> None:
        await keeper.keep(settle())

    running = asyncio.create_task(handler())
    await asyncio.sleep(0.05)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert keeper.pending == 1 and recorded == []
    await keeper.drain()
    assert recorded == ["answer"] and keeper.pending == 0


async def test_a_settle_is_retried_through_a_passing_store_error() -> None:
    tries: list[int] = []

    async def record() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise OSError("database is locked")
        return "recorded"

    assert await with_store_retries("recording", record, delays=(0.01, 0.01, 0.01)) == "recorded"
    assert len(tries) == 3


async def test_a_store_error_that_lasts_escapes_after_the_last_try() -> None:
    async def record() -> None:
        raise OSError("disk I/O error")

    with pytest.raises(OSError, match="disk I/O error"):
        await with_store_retries("recording", record, delays=(0.01, 0.01))
