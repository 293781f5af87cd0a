"""The task targets each function serves on Google Cloud.

The worker function serves ``worker``; the controller function serves everything on
the control queue: ``ingest`` (which fans out through ``slice`` tasks and starts the rate
key's chain of controller ticks), ``slice``, ``finalize`` and ``finalize_step`` (one task per
step of a job of several parts, ``core.finalize_steps``), ``expire``, ``control``
(``core.control_chain``: one step per tick, the next tick while the key has work, and
the key's queues deleted once it has been idle ``queue_retire_after`` seconds) and
``webhook`` (one delivery attempt).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from promptforge.core.cancel import handle_cancel
from promptforge.core.chunks import handle_chunk
from promptforge.core.control_chain import control_task
from promptforge.core.control_chain import handle_control as _handle_control
from promptforge.core.deps import Deps
from promptforge.core.fanout import handle_ingest_sliced, handle_slice
from promptforge.core.finalize import handle_finalize, handle_finalize_step
from promptforge.core.ingest import job_id_from_object
from promptforge.core.models import JobStatus
from promptforge.core.tasknames import TaskTarget
from promptforge.core.uploads import handle_expire
from promptforge.core.webhooks import handle_webhook
from promptforge.core.worker import handle_prompt
from promptforge.gcp.cloud_tasks import CloudTasksQueue
from promptforge.tasks.base import Delivery, HandlerResult

__all__ = ["TaskHandler", "controller_routes", "handle_ingest", "worker_routes"]

TaskHandler = Callable[[Deps, Delivery], Awaitable[HandlerResult]]


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
    return {TaskTarget.WORKER: handle_prompt, TaskTarget.CHUNK: handle_chunk}


def controller_routes(
    *, slice_lines: int, period: float, retire_after: float | None = None
) -> dict[str, TaskHandler]:
    """What the controller function serves (``retire_after``: None keeps idle keys' queues)."""

    async def ingest(deps: Deps, delivery: Delivery) -> HandlerResult:
        return await handle_ingest(deps, delivery, slice_lines=slice_lines, period=period)

    async def control(deps: Deps, delivery: Delivery) -> HandlerResult:
        tasks = deps.tasks
        deleter = tasks.delete_queues if isinstance(tasks, CloudTasksQueue) else None
        return await _handle_control(
            deps, delivery, period=period, retire_after=retire_after, delete_queues=deleter
        )

    return {
        TaskTarget.INGEST: ingest,
        TaskTarget.SLICE: handle_slice,
        TaskTarget.FINALIZE: handle_finalize,
        TaskTarget.FINALIZE_STEP: handle_finalize_step,
        TaskTarget.EXPIRE: handle_expire,
        TaskTarget.CANCEL: handle_cancel,
        TaskTarget.CONTROL: control,
        TaskTarget.WEBHOOK: handle_webhook,
    }
