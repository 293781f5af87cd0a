"""The task targets each function serves, and the controller's self-rescheduling tick.

The worker function serves ``worker``; the controller function serves everything on
the control queue: ``ingest`` (which fans out through ``slice`` tasks), ``slice``,
``finalize``, ``expire``, ``control`` and ``webhook`` (one delivery attempt).

There is no long-running process on Google Cloud, so the controller runs as a chain
of ``control`` tasks, one per rate key: each tick steps the key's controller, applies
the new rate to its queue, and, while any job on the key is still processing,
enqueues the next tick at the next multiple of ``period``. Ticks are named by
(rate key, period index): ingests that start a chain while one runs, or a tick
delivered twice, create no second chain. When no job is processing, the chain stops;
the next ingest on the key starts it again.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from promptforge.core.control import control_key
from promptforge.core.deps import CONTROL_QUEUE, Deps
from promptforge.core.fanout import SLICE_TARGET, handle_ingest_sliced, handle_slice
from promptforge.core.finalize import handle_finalize
from promptforge.core.ingest import job_id_from_object
from promptforge.core.models import JobStatus
from promptforge.core.uploads import handle_expire
from promptforge.core.webhooks import WEBHOOK_TARGET, handle_webhook
from promptforge.core.worker import handle_prompt
from promptforge.tasks.base import Delivery, HandlerResult, Task

log = logging.getLogger(__name__)

CONTROL_TARGET = "control"

TaskHandler = Callable[[Deps, Delivery], Awaitable[HandlerResult]]


def control_task(rate_key: str, period: float, now: datetime) -> Task:
    """The tick of ``rate_key`` due at the next multiple of ``period`` after ``now``."""
    tick = math.floor(now.timestamp() / period) + 1
    digest = hashlib.sha256(f"control\x00{rate_key}\x00{tick}".encode()).hexdigest()[:40]
    return Task(
        queue=CONTROL_QUEUE,
        target=CONTROL_TARGET,
        payload={"rate_key": rate_key, "tick": tick},
        name=f"c-{digest}",
        schedule_time=datetime.fromtimestamp(tick * period, UTC),
    )


async def handle_control(deps: Deps, delivery: Delivery, *, period: float) -> HandlerResult:
    """Task handler for target ``control``: one controller step, then the next tick if needed."""
    key = str(delivery.payload["rate_key"])
    now = deps.clock.now()
    saved: dict[str, Any] = await deps.store.load_rate_state(key) or {}
    last = float((saved.get("decision") or {}).get("at") or 0.0)
    if now.timestamp() - last >= period / 2:
        await control_key(deps, key)
    else:
        log.debug("rate key %s: stepped %.2fs ago; not stepping twice", key, now.timestamp() - last)
    if await key_has_work(deps, key):
        await deps.tasks.enqueue([control_task(key, period, now)])
    else:
        log.info("rate key %s: no job is processing; the controller stops", key)
    return HandlerResult(200)


async def key_has_work(deps: Deps, key: str) -> bool:
    """Whether any job registered on the rate key is still processing."""
    saved: dict[str, Any] = await deps.store.load_rate_state(key) or {}
    for job_id in saved.get("jobs") or {}:
        job = await deps.store.get_job(str(job_id))
        if job is not None and job.status is JobStatus.PROCESSING:
            return True
    return False


async def handle_ingest(
    deps: Deps, delivery: Delivery, *, slice_lines: int, period: float
) -> HandlerResult:
    """Task handler for target ``ingest``: fan the upload out, then start the key's controller."""
    result = await handle_ingest_sliced(deps, delivery, slice_lines=slice_lines)
    job_id = job_id_from_object(str(delivery.payload["name"]))
    job = await deps.store.get_job(job_id) if job_id else None
    if job is not None and job.status is JobStatus.PROCESSING:
        await deps.tasks.enqueue([control_task(job.rate_key.id, period, deps.clock.now())])
    return result


def worker_routes() -> dict[str, TaskHandler]:
    """What the worker function serves."""
    return {"worker": handle_prompt}


def controller_routes(*, slice_lines: int, period: float) -> dict[str, TaskHandler]:
    """What the controller function serves."""

    async def ingest(deps: Deps, delivery: Delivery) -> HandlerResult:
        return await handle_ingest(deps, delivery, slice_lines=slice_lines, period=period)

    async def control(deps: Deps, delivery: Delivery) -> HandlerResult:
        return await handle_control(deps, delivery, period=period)

    return {
        "ingest": ingest,
        SLICE_TARGET: handle_slice,
        "finalize": handle_finalize,
        "expire": handle_expire,
        CONTROL_TARGET: control,
        WEBHOOK_TARGET: handle_webhook,
    }
