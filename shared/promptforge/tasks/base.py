"""The task-queue port, with Cloud Tasks semantics.

A task is a JSON body addressed to a *target* (``worker``, ``ingest``,
``finalize``, ``expire``, ``webhook``, …) on a named queue. Queues have a dispatch rate, a burst
and a concurrency cap; a handler's answer is an HTTP-like status: any 2xx
completes the task, anything else schedules a retry with the queue's backoff, and a
429/503 with ``retry_after`` is not retried before that delay. Tasks with a name
are deduplicated: creating a task whose name was already used is a no-op.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class RetryConfig:
    """Cloud Tasks RetryConfig: backoff doubles ``max_doublings`` times, then grows linearly."""

    min_backoff: float = 0.1
    max_backoff: float = 300.0
    max_doublings: int = 16
    max_attempts: int = -1  # -1: unlimited

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based), as Cloud Tasks computes it."""
        if attempt <= 0:
            return self.min_backoff
        doublings = min(attempt - 1, self.max_doublings)
        delay = self.min_backoff * float(2**doublings)
        if attempt - 1 > self.max_doublings:
            delay += self.min_backoff * (2**self.max_doublings) * (attempt - 1 - self.max_doublings)
        return min(delay, self.max_backoff)


@dataclass(frozen=True)
class QueueConfig:
    """A queue's rate limits and retry policy."""

    max_dispatches_per_second: float = 1.0
    max_burst_size: int = 10
    max_concurrent_dispatches: int = 1000
    retry: RetryConfig = field(default_factory=RetryConfig)


@dataclass(frozen=True)
class Task:
    """One task to create. ``name`` (if set) makes creation idempotent."""

    queue: str
    target: str
    payload: dict[str, Any]
    name: str | None = None
    schedule_time: datetime | None = None


@dataclass(frozen=True)
class Delivery:
    """What a handler receives: the task plus delivery metadata."""

    queue: str
    target: str
    name: str
    payload: dict[str, Any]
    attempt: int  # 1 on the first delivery


@dataclass(frozen=True)
class HandlerResult:
    """A handler's answer, read the way Cloud Tasks reads an HTTP response."""

    status: int = 200
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        """Any 2xx completes the task."""
        return 200 <= self.status < 300


NOT_YET = 409
"""A handler's answer for "retry this task later, with the queue's backoff". Never 429 or
503 for that: Cloud Tasks reads those as "slow the whole queue down" (docs/google-cloud.md)."""

Handler = Callable[[Delivery], Awaitable[HandlerResult]]


class TaskQueue(Protocol):
    """Creates tasks and tunes queues; delivery happens elsewhere (dispatcher or Cloud Tasks)."""

    async def ensure_queue(self, queue: str, config: QueueConfig) -> None:
        """Create the queue if it does not exist (existing queues keep their settings)."""
        ...

    async def update_queue(self, queue: str, config: QueueConfig) -> None:
        """Apply new rate limits to an existing queue."""
        ...

    async def enqueue(self, tasks: Sequence[Task]) -> int:
        """Create tasks; named tasks already seen are skipped. Returns how many were created."""
        ...

    async def pending(self, queue: str) -> int:
        """Tasks in the queue that have not completed (scheduled, due or running)."""
        ...

    async def delete(self, queue: str, names: Sequence[str]) -> int:
        """Delete the named tasks of ``queue`` not yet running (their names stay taken); how
        many were deleted. Names not found are skipped."""
        ...
