"""Cloud Tasks as the dispatcher sees it, in virtual time.

One rate key owns ``shards`` queues; a task goes to the shard its name hashes to.
Each queue dispatches due tasks in schedule order through a token bucket
(``max_dispatches_per_second``, capped at 500, refilling a bucket of
``max_burst_size`` that the service picks from the rate) and at most
``max_concurrent_dispatches`` at once. ``UpdateQueue`` takes ``apply_delay`` seconds
to reach the dispatcher. A handler answering 429/503 is retried with the queue's
backoff (and not before its ``Retry-After``), and makes the queue throttle itself:
its rate is cut to ``throttle_factor`` for ``throttle_seconds`` (Cloud Tasks' own
"system throttling", stacked on the configured rate).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from promptforge.core.queues import PROMPT_RETRY
from promptforge.sim.rates.engine import EventLoop
from promptforge.tasks.base import RetryConfig

__all__ = ["CloudTasksSpec", "QueueGroup", "SimTask", "picked_burst"]

MAX_RATE_PER_QUEUE = 500.0
MAX_BURST = 500
_WHOLE = 1.0 - 1e-6  # a token, give or take float rounding


def picked_burst(rate: float) -> int:
    """The burst Cloud Tasks picks for a rate (assumed: about one second's worth)."""
    return max(1, min(MAX_BURST, math.ceil(rate)))


@dataclass(frozen=True)
class CloudTasksSpec:
    """The dispatcher's behaviour that rate control has to live with."""

    apply_delay: float = 5.0
    throttle_factor: float = 0.5
    throttle_seconds: float = 10.0
    retry: RetryConfig = PROMPT_RETRY


@dataclass(slots=True)
class SimTask:
    """A task: a payload for the handler, its delivery count, its shard."""

    payload: Any
    shard: int
    attempt: int = 0


# handler(task, done): the handler calls done(status, retry_after) when it answers.
Done = Callable[[int, "float | None"], None]
Handler = Callable[[SimTask, Done], None]


class _Queue:
    """One Cloud Tasks queue: token bucket, concurrency cap, tasks by schedule time."""

    def __init__(self, group: QueueGroup, rate: float, concurrency: int) -> None:
        self._group = group
        self._loop = group.loop
        self.rate = min(rate, MAX_RATE_PER_QUEUE)
        self.burst = picked_burst(self.rate)
        self.concurrency = concurrency
        self.tokens = float(self.burst)
        self._refilled = self._loop.now
        self.running = 0
        self.throttled_until = -math.inf
        self._tasks: list[tuple[float, int, SimTask]] = []
        self._wake: float | None = None
        self._pumping = False  # a handler that answers at once must not pump inside pump

    def _effective_rate(self) -> float:
        if self._loop.now < self.throttled_until:
            return self.rate * self._group.spec.throttle_factor
        return self.rate

    def _refill(self) -> None:
        now = self._loop.now
        if now > self._refilled:
            rate = self._effective_rate()
            self.tokens = min(self.burst, self.tokens + (now - self._refilled) * rate)
            self._refilled = now

    def configure(self, rate: float, concurrency: int) -> None:
        """Apply new limits now (the caller applies the delay)."""
        self._refill()
        self.rate = min(rate, MAX_RATE_PER_QUEUE)
        self.burst = picked_burst(self.rate)
        self.tokens = min(self.tokens, float(self.burst))
        self.concurrency = concurrency
        self.pump()

    def throttle(self) -> None:
        """Cloud Tasks' own slowdown after a 429/503 from the handler."""
        self._refill()
        self.throttled_until = self._loop.now + self._group.spec.throttle_seconds

    def push(self, eta: float, task: SimTask) -> None:
        """Add a task due at ``eta``."""
        heapq.heappush(self._tasks, (eta, next(self._group.order), task))
        if self._wake is None or eta < self._wake:
            self._schedule(max(eta, self._loop.now))

    def __len__(self) -> int:
        return len(self._tasks) + self.running

    def _schedule(self, moment: float) -> None:
        self._wake = moment
        self._loop.at(moment, lambda: self._fire(moment))

    def _fire(self, moment: float) -> None:
        if self._wake != moment:
            return  # superseded by an earlier wake-up
        self._wake = None
        self.pump()

    def pump(self) -> None:
        """Dispatch what the limits allow now, then sleep until the next chance.

        Not reentrant: a handler that answers at once (the gate deferring a task) calls
        back into ``pump``, and the loop already under way dispatches what that freed.
        """
        if self._pumping:
            return
        self._pumping = True
        try:
            self._pump()
        finally:
            self._pumping = False

    def _pump(self) -> None:
        now = self._loop.now
        self._refill()
        tasks = self._tasks
        while tasks and self.running < self.concurrency and self.tokens >= _WHOLE:
            if tasks[0][0] > now:
                break
            _, _, task = heapq.heappop(tasks)
            self.tokens -= 1.0
            self.running += 1
            self._group.deliver(self, task)
        if not tasks or self.running >= self.concurrency:
            return  # an enqueue or a finished handler wakes the queue
        rate = self._effective_rate()
        wait = math.inf if rate <= 0 else (1.0 - self.tokens) / rate
        moment = max(tasks[0][0], now + max(wait, 1e-9))
        if now < self.throttled_until < moment:
            moment = self.throttled_until  # the rate changes then
        if math.isfinite(moment) and (self._wake is None or moment < self._wake):
            self._schedule(moment)


class QueueGroup:
    """The queues of one rate key, their handler, and delayed configuration changes."""

    def __init__(
        self,
        loop: EventLoop,
        handler: Handler,
        *,
        shards: int = 1,
        rate: float = 1.0,
        concurrency: int = 1000,
        spec: CloudTasksSpec | None = None,
    ) -> None:
        self.loop = loop
        self.spec = spec or CloudTasksSpec()
        self.order = itertools.count()
        self._handler = handler
        per_shard = rate / shards
        self.queues = [_Queue(self, per_shard, concurrency) for _ in range(max(1, shards))]
        self.dispatched = 0

    def enqueue(self, payload: Any, key: int, delay: float = 0.0, attempt: int = 0) -> None:
        """Create a task for ``payload`` in the shard ``key`` selects, due after ``delay``."""
        shard = key % len(self.queues)
        self.queues[shard].push(self.loop.now + delay, SimTask(payload, shard, attempt))

    def update(self, rates: list[float], concurrency: int) -> None:
        """``UpdateQueue`` on every shard; it reaches the dispatcher ``apply_delay`` later."""

        def apply() -> None:
            for queue, rate in zip(self.queues, rates, strict=True):
                queue.configure(rate, concurrency)

        if self.spec.apply_delay <= 0:
            apply()
        else:
            self.loop.after(self.spec.apply_delay, apply)

    @property
    def backlog(self) -> int:
        """Tasks not yet finished, across shards."""
        return sum(len(q) for q in self.queues)

    def deliver(self, queue: _Queue, task: SimTask) -> None:
        """Hand ``task`` to the handler; its answer completes or retries it."""
        self.dispatched += 1

        def done(status: int, retry_after: float | None) -> None:
            queue.running -= 1
            if not 200 <= status < 300:
                task.attempt += 1
                delay = self.spec.retry.backoff(task.attempt)
                if status in (429, 503):
                    queue.throttle()
                    if retry_after is not None:
                        delay = max(delay, retry_after)
                queue.push(self.loop.now + delay, task)
            queue.pump()

        self._handler(task, done)
