"""When the controller steps a rate key, and when a key's queues are retired.

Runtime-neutral rules, used by both runtimes:

- **never step twice**: a key is stepped only if its last step is at least half a period
  old (``step_due``), whoever asks: the embedded runtime's loop, or a tick delivered twice;
- **work**: a key has work while any job registered on it is processing (``key_has_work``).

Where there is no long-running process (Google Cloud), the controller runs as a chain of
``control`` tasks on the control queue, one per rate key (``handle_control``): each tick
steps the key if due and, while the key has work, enqueues the next tick at the next
multiple of ``period``. Ticks are named by (rate key, period index)
(``tasknames.control_task_name``): ingests that start a chain while one runs, or a tick
delivered twice, create no second chain.

When the key runs out of work the chain does not just stop: a key's queues count against
Cloud Tasks' 1,000 queues per region, so the chain waits until the key has been idle for
``retire_after`` seconds, then retires its queues. It records the retirement in the
key's rate state first (a tombstone with the names and the time; the next ingest then
creates queues of the next ``epoch``, ``tasknames.queue_for``, because Cloud Tasks refuses
a deleted queue's name for 7 days), then deletes them. New work in between (an ingest,
``queues.ensure_rate_queue``) clears the idle mark and keeps the queues.

Every write to the rate state is a compare-and-set (``ratestate.update_rate_state``), and
the idle mark and the tombstone are decided on the state they are written over: an
ingest that registers between the retiring tick's read and its write makes the tick read
again, find the idle mark cleared, and keep the queues; an ingest that reads the state
before the tombstone and writes after it reads again and registers with the next epoch's
queues. So no prompt is sent to a queue being deleted.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from promptforge.core.control import control_key
from promptforge.core.deps import CONTROL_QUEUE, Deps
from promptforge.core.models import JobStatus
from promptforge.core.queues import KeyQueues
from promptforge.core.ratestate import RateKeyState, Tombstone, update_rate_state
from promptforge.core.tasknames import TaskTarget, control_task_name
from promptforge.tasks.base import Delivery, HandlerResult, Task

log = logging.getLogger(__name__)

TOMBSTONE_SECONDS = 7 * 86400.0
"""How long Cloud Tasks refuses the name of a deleted queue (and a tombstone is kept)."""

QueueDeleter = Callable[[Sequence[str]], Awaitable[None]]
"""Deletes queues by name (the runtime's admin call); None where queues cost nothing."""


def control_task(rate_key: str, period: float, after: datetime) -> Task:
    """The tick of ``rate_key`` due at the first multiple of ``period`` after ``after``."""
    tick = math.floor(after.timestamp() / period) + 1
    return Task(
        queue=CONTROL_QUEUE,
        target=TaskTarget.CONTROL,
        payload={"rate_key": rate_key, "tick": tick},
        name=control_task_name(rate_key, tick),
        schedule_time=datetime.fromtimestamp(tick * period, UTC),
    )


def step_due(saved: RateKeyState, now: float, period: float) -> bool:
    """Whether the key's last step (its decision's ``at``) is at least half a period old."""
    last = saved.decision.at if saved.decision else 0.0
    return now - last >= period / 2


async def step_if_due(deps: Deps, key: str, period: float) -> float | None:
    """Step the key unless it was stepped less than half a period ago; the applied rate."""
    saved = await deps.store.load_rate_state(key) or RateKeyState()
    now = deps.clock.now().timestamp()
    if not step_due(saved, now, period):
        log.debug("rate key %s: stepped moments ago; not stepping twice", key)
        return None
    return await control_key(deps, key, saved=saved)


async def key_has_work(deps: Deps, key: str) -> bool:
    """Whether any job registered on the rate key is still processing."""
    saved = await deps.store.load_rate_state(key) or RateKeyState()
    return await _has_work(deps, saved)


async def _has_work(deps: Deps, saved: RateKeyState) -> bool:
    for job_id in saved.jobs:
        job = await deps.store.get_job(job_id)
        if job is not None and job.status is JobStatus.PROCESSING:
            return True
    return False


async def handle_control(
    deps: Deps,
    delivery: Delivery,
    *,
    period: float,
    retire_after: float | None = None,
    delete_queues: QueueDeleter | None = None,
) -> HandlerResult:
    """Task handler for target ``control``: step if due, then the next tick, or retire."""
    key = str(delivery.payload["rate_key"])
    await step_if_due(deps, key, period)
    now = deps.clock.now()
    saved = await deps.store.load_rate_state(key) or RateKeyState()
    if await _has_work(deps, saved):
        await deps.tasks.enqueue([control_task(key, period, now)])
    elif delete_queues is None or retire_after is None:
        log.info("rate key %s: no job is processing; the controller stops", key)
    else:
        await _idle(
            deps, key, saved, now, period, retire_after=retire_after, delete_queues=delete_queues
        )
    return HandlerResult(200)


async def _idle(
    deps: Deps,
    key: str,
    checked: RateKeyState,
    now: datetime,
    period: float,
    *,
    retire_after: float,
    delete_queues: QueueDeleter,
) -> None:
    """Mark the key idle, check again once it has been idle ``retire_after``, then retire.

    ``checked``: the state in which no registered job was processing."""
    at = now.timestamp()

    def mark(saved: RateKeyState) -> RateKeyState | None:
        if saved.queue is None or saved.idle_since is not None or saved.jobs != checked.jobs:
            return None  # retired, marked already, or a job registered since the check
        return dataclasses.replace(saved, idle_since=at)

    saved, _ = await update_rate_state(deps.store, key, mark, read=checked)
    if saved.queue is None:
        return  # retired already
    if saved.idle_since is None:  # a job registered since the check: not idle
        await deps.tasks.enqueue([control_task(key, period, now)])
        return
    due = saved.idle_since + retire_after
    if at < due:
        later = datetime.fromtimestamp(due, UTC) - timedelta(seconds=period)
        await deps.tasks.enqueue([control_task(key, period, max(later, now))])
        log.info("rate key %s: idle; its queues retire at %s unless work comes", key, later)
        return
    names = await retire(deps, key, at, idle_for=retire_after)
    if names:
        await delete_queues(names)
        log.info("rate key %s: idle for %.0f s; deleted its queues %s", key, retire_after, names)
    else:  # work came between the idle check and the tombstone: the key keeps its queues
        await deps.tasks.enqueue([control_task(key, period, now)])


async def retire(deps: Deps, key: str, now: float, *, idle_for: float) -> list[str]:
    """Record the key's queues as deleted (tombstone, next epoch) if it is still marked
    idle since ``idle_for`` seconds before ``now``; the names of the queues to delete
    (none: the key has work again, or was retired already)."""
    retired: list[str] = []

    def tombstone(saved: RateKeyState) -> RateKeyState | None:
        retired.clear()
        if saved.queue is None or saved.idle_since is None or now - saved.idle_since < idle_for:
            return None
        queues = KeyQueues(saved.queue, saved.queue_count)
        tombstones = [t for t in saved.retired if now - t.at < TOMBSTONE_SECONDS]
        tombstones.append(Tombstone(queues.base, queues.shards, now))
        retired.extend(queues.names)
        return dataclasses.replace(
            saved,
            retired=tuple(tombstones),
            epoch=saved.epoch + 1,
            queue=None,
            shards=None,
            idle_since=None,
        )

    _, written = await update_rate_state(deps.store, key, tombstone)
    return retired if written else []
