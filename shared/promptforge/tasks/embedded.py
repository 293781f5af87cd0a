"""The embedded task queue: Cloud Tasks semantics in-process, durable in SQLite.

``EmbeddedTaskQueue`` is the default runtime's stand-in for Cloud Tasks. It stores
tasks in SQLite (see ``_sqlite_tasks``) and its dispatcher delivers them to the
handlers registered per target:

- per queue, a token bucket (``max_dispatches_per_second`` refill, ``max_burst_size``
  capacity) gates every start, and at most ``max_concurrent_dispatches`` handlers
  run at once; due tasks go out in ``schedule_at`` order;
- a 2xx answer deletes the task; anything else (or an exception, or running past the
  lease) is retried after ``RetryConfig.backoff``, and not before ``retry_after`` for
  a 429/503; after ``max_attempts`` the task moves to the dead letters;
- a task is committed as running before its handler is called, and ``open()`` puts
  tasks a killed process left running back to pending: delivery is at least once;
- named tasks are deduplicated while the name is taken: from creation until
  ``dedupe_seconds`` after the task finished.

The dispatcher does not poll: each queue's loop sleeps until a task is due (kept in
memory), a token is available, a slot frees up, or an enqueue wakes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path

from promptforge.lifecycle import AsyncResource
from promptforge.tasks._queue_runtime import MAX_CLAIM, QueueRuntime, tokens_per_claim
from promptforge.tasks._sqlite_tasks import SqliteTaskStore
from promptforge.tasks._task_rows import (
    ClaimedTask,
    DeadLetter,
    NewTask,
    TaskOutcome,
    epoch_seconds,
)
from promptforge.tasks.base import Delivery, Handler, HandlerResult, QueueConfig, Task

__all__ = ["DeadLetter", "EmbeddedTaskQueue"]

logger = logging.getLogger(__name__)

_STORE_RETRY_DELAY = 1.0  # pause after a failed store call before the loop tries again
_THROTTLED = frozenset({429, 503})
_LEASE_EXPIRED = 504
_JSON = json.JSONEncoder(separators=(",", ":"))  # one encoder: json.dumps(...) builds one a call


class EmbeddedTaskQueue(AsyncResource):
    """A durable in-process task queue and dispatcher with Cloud Tasks semantics.

    ``open()`` (or ``async with``) the store, ``register`` handlers, ``start()`` the
    dispatcher; ``stop()`` then ``close()``. ``lease_seconds`` is the dispatch
    deadline: a handler still running after it is cancelled and the attempt fails.
    """

    def __init__(
        self,
        path: Path,
        *,
        lease_seconds: float = 600.0,
        dedupe_seconds: float = 3600.0,
        purge_interval: float = 60.0,
    ) -> None:
        self._store = SqliteTaskStore(path)
        self._lease = lease_seconds
        self._dedupe = dedupe_seconds
        self._purge_interval = purge_interval
        self._queues: dict[str, QueueRuntime] = {}
        self._handlers: dict[str, Handler] = {}
        self._inflight: dict[asyncio.Task[None], str] = {}  # running handler -> its target
        self._finish_on_stop: set[str] = set()
        self._purger: asyncio.Task[None] | None = None
        self._opened = False
        self._started = False
        self._stopping = False

    # lifecycle

    async def open(self) -> None:
        """Open the database and recover tasks a previous process left running."""
        if self._opened:
            return
        queues, recovered = await self._store.open()
        self._opened = True
        self._queues = {name: QueueRuntime(name, config) for name, config in queues.items()}
        if recovered:
            logger.warning("re-queued %d task(s) left running by a previous process", recovered)
        await self._store.purge_names(time.time() - self._dedupe)

    async def close(self) -> None:
        """Stop the dispatcher if it runs, then close the database."""
        if self._started:
            await self.stop()
        self._opened = False
        await self._store.close()

    def _require_open(self) -> None:
        if not self._opened:
            raise RuntimeError("EmbeddedTaskQueue is not open: call open() first")

    # the TaskQueue port

    async def ensure_queue(self, queue: str, config: QueueConfig) -> None:
        """Create the queue if it does not exist (existing queues keep their settings)."""
        self._require_open()
        effective = await self._store.ensure_queue(queue, config)
        if queue not in self._queues:
            self._add_runtime(queue, effective)

    async def update_queue(self, queue: str, config: QueueConfig) -> None:
        """Apply new limits and retry policy at once (creating the queue if missing)."""
        self._require_open()
        await self._store.put_queue(queue, config)
        runtime = self._queues.get(queue)
        if runtime is None:
            self._add_runtime(queue, config)
        else:
            runtime.apply(config)

    async def enqueue(self, tasks: Sequence[Task]) -> int:
        """Create tasks in one transaction; taken names (and repeats in the batch) are skipped."""
        self._require_open()
        now = time.time()
        rows: list[NewTask] = []
        seen: set[str] = set()
        earliest: dict[str, float] = {}
        encode = _JSON.encode
        for task in tasks:
            if task.queue not in self._queues:
                raise ValueError(f"unknown queue {task.queue!r}: call ensure_queue() first")
            if task.name is not None:
                if task.name in seen:
                    continue
                seen.add(task.name)
            schedule_at = (
                now if task.schedule_time is None else epoch_seconds(task.schedule_time, now)
            )
            rows.append(
                NewTask(task.queue, task.target, task.name, encode(task.payload), schedule_at)
            )
            if schedule_at < earliest.get(task.queue, math.inf):
                earliest[task.queue] = schedule_at
        if not rows:
            return 0
        created = await self._store.enqueue(rows, now)
        for queue, schedule_at in earliest.items():
            self._queues[queue].note_enqueued(schedule_at)
        return created

    async def pending(self, queue: str) -> int:
        """Tasks in the queue that have not completed (scheduled, due or running)."""
        self._require_open()
        return await self._store.pending(queue)

    async def delete(self, queue: str, names: Sequence[str]) -> int:
        """Delete the named tasks of ``queue`` that are not running; how many were deleted."""
        self._require_open()
        return await self._store.delete(queue, names) if names else 0

    # observability and maintenance

    async def stats(self, queue: str) -> dict[str, int]:
        """``pending`` (all unfinished, as ``pending()``), ``running``, ``due`` and ``dead``."""
        self._require_open()
        return await self._store.stats(queue, time.time())

    async def dead_letters(self) -> list[DeadLetter]:
        """Tasks dropped after their last allowed attempt, oldest first."""
        self._require_open()
        return await self._store.dead_letters()

    async def purge_names(self) -> int:
        """Free names whose task finished more than ``dedupe_seconds`` ago; return how many."""
        self._require_open()
        return await self._store.purge_names(time.time() - self._dedupe)

    # the dispatcher

    def register(self, target: str, handler: Handler, *, finish_on_stop: bool = False) -> None:
        """Deliver tasks addressed to ``target`` to ``handler``.

        ``finish_on_stop``: ``stop()`` lets these handlers run to their end rather than
        cancelling them after its grace (a worker whose provider call may be answered).
        """
        self._handlers[target] = handler
        if finish_on_stop:
            self._finish_on_stop.add(target)
        else:
            self._finish_on_stop.discard(target)

    @property
    def running(self) -> bool:
        """Whether the dispatcher is started."""
        return self._started

    async def start(self) -> None:
        """Start delivering tasks in the background."""
        self._require_open()
        if self._started:
            return
        self._started = True
        self._stopping = False
        for runtime in self._queues.values():
            self._start_loop(runtime)
        self._purger = asyncio.create_task(self._purge_loop(), name="pf-tasks-purge")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking tasks at once; let running handlers end; then write their outcomes.

        ``finish_on_stop`` handlers run to their end (bounded by the lease; a second
        signal's ``cancel_running()`` cuts them off); the others get ``grace`` seconds,
        then are cancelled: their tasks stay running in the store, back on the next open.
        """
        if not self._started:
            return
        self._stopping = True
        loops = [rt.loop_task for rt in self._queues.values() if rt.loop_task is not None]
        for runtime in self._queues.values():
            runtime.wake.set()
        if self._purger is not None:
            self._purger.cancel()
            loops.append(self._purger)
        await asyncio.gather(*loops, return_exceptions=True)
        self._purger = None
        for runtime in self._queues.values():
            runtime.loop_task = None
        await self._wait_running(grace)
        for runtime in self._queues.values():
            if runtime.outcomes:
                await self._flush(runtime)
        self._started = False

    def cancel_running(self) -> int:
        """Cancel every running handler now (a second stop signal); how many were running."""
        for handle in self._inflight:
            handle.cancel()
        return len(self._inflight)

    async def _wait_running(self, grace: float) -> None:
        """Wait for the handlers to finish: the finishing ones to their end, others ``grace``."""
        finishing = {h for h, target in self._inflight.items() if target in self._finish_on_stop}
        others = set(self._inflight) - finishing
        if finishing:
            logger.warning(
                "stopping: waiting for %d call(s) in flight to be answered and recorded "
                "(each ends within its timeout); stop again to cancel them",
                len(finishing),
            )
        if others:
            _, late = await asyncio.wait(others, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                logger.warning(
                    "cancelled %d handler(s) still running after %.1fs", len(late), grace
                )
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    def _add_runtime(self, queue: str, config: QueueConfig) -> None:
        runtime = QueueRuntime(queue, config)
        self._queues[queue] = runtime
        if self._started and not self._stopping:
            self._start_loop(runtime)

    def _start_loop(self, runtime: QueueRuntime) -> None:
        runtime.loop_task = asyncio.create_task(
            self._queue_loop(runtime), name=f"pf-tasks-{runtime.name}"
        )

    async def _queue_loop(self, runtime: QueueRuntime) -> None:
        while not self._stopping:
            runtime.wake.clear()
            try:
                if runtime.outcomes:
                    await self._flush(runtime)
                if self._stopping:
                    break
                delay = await self._dispatch_due(runtime)
            except Exception:
                logger.exception("task queue %r: store call failed", runtime.name)
                delay = _STORE_RETRY_DELAY
            if delay == 0.0 or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(None if math.isinf(delay) else delay):
                    await runtime.wake.wait()

    async def _dispatch_due(self, runtime: QueueRuntime) -> float:
        """Start what the limits allow; return the sleep time (0: go on, inf: until woken)."""
        config = runtime.config
        free = config.max_concurrent_dispatches - runtime.running
        if free <= 0:
            return math.inf
        now = time.time()
        if runtime.next_due > now:
            return runtime.next_due - now
        tokens = runtime.bucket.available(time.monotonic())
        wanted = tokens_per_claim(config, free)
        if tokens < wanted:
            return runtime.bucket.wait_time(time.monotonic(), wanted)
        runtime.enqueued_due = math.inf
        claimed, next_due = await self._store.claim(
            runtime.name, now, min(free, tokens, MAX_CLAIM), now + self._lease
        )
        runtime.next_due = min(math.inf if next_due is None else next_due, runtime.enqueued_due)
        runtime.bucket.take(len(claimed), time.monotonic())
        for task in claimed:
            self._start_delivery(runtime, task)
        return 0.0

    async def _flush(self, runtime: QueueRuntime) -> None:
        outcomes, runtime.outcomes = runtime.outcomes, []
        try:
            await self._store.finish(outcomes, time.time())
        except BaseException:
            runtime.outcomes[:0] = outcomes
            raise
        for outcome in outcomes:
            if outcome.retry_at is not None:
                runtime.next_due = min(runtime.next_due, outcome.retry_at)

    def _start_delivery(self, runtime: QueueRuntime, task: ClaimedTask) -> None:
        runtime.running += 1
        handle = asyncio.create_task(self._deliver(runtime, task))
        self._inflight[handle] = task.target
        handle.add_done_callback(self._forget)

    def _forget(self, handle: asyncio.Task[None]) -> None:
        self._inflight.pop(handle, None)

    async def _deliver(self, runtime: QueueRuntime, task: ClaimedTask) -> None:
        delivery = Delivery(
            queue=runtime.name,
            target=task.target,
            name=task.delivery_name,
            payload=task.payload,
            attempt=task.attempts,
        )
        try:
            result = await self._call(delivery)
        finally:
            runtime.running -= 1
            runtime.wake.set()
        runtime.outcomes.append(self._outcome(runtime.config, task, result))

    async def _call(self, delivery: Delivery) -> HandlerResult:
        handler = self._handlers.get(delivery.target)
        if handler is None:
            logger.error("no handler registered for target %r", delivery.target)
            return HandlerResult(status=404)
        deadline = asyncio.timeout(self._lease)
        try:
            async with deadline:
                return await handler(delivery)
        except TimeoutError:
            if not deadline.expired():
                logger.exception("handler for %s raised", delivery.name)
                return HandlerResult(status=500)
            logger.warning("handler for %s ran past %.0fs lease", delivery.name, self._lease)
            return HandlerResult(status=_LEASE_EXPIRED)
        except Exception:
            logger.exception("handler for %s raised", delivery.name)
            return HandlerResult(status=500)

    @staticmethod
    def _outcome(config: QueueConfig, task: ClaimedTask, result: HandlerResult) -> TaskOutcome:
        if result.ok:
            return TaskOutcome(task.id, task.name, result.status)
        retry = config.retry
        if 0 < retry.max_attempts <= task.attempts:
            return TaskOutcome(task.id, task.name, result.status, dead=True)
        delay = retry.backoff(task.attempts)
        if result.status in _THROTTLED and result.retry_after is not None:
            delay = max(delay, result.retry_after)
        return TaskOutcome(task.id, task.name, result.status, retry_at=time.time() + delay)

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(self._purge_interval)
            try:
                await self.purge_names()
            except Exception:
                logger.exception("purging task names failed")
