"""The control-queue tasks of one job: its upload-expiry check and its finalize.

Built here once for every place that enqueues them (init, finalize's readiness check,
an expiry check delivered early); the names come from ``core/tasknames.py``.
"""

from __future__ import annotations

from datetime import datetime

from promptforge.core.deps import CONTROL_QUEUE
from promptforge.core.tasknames import TaskTarget, expire_task_name, finalize_task_name
from promptforge.tasks.base import Task


def finalize_task(job_id: str) -> Task:
    """The job's one finalize task."""
    return Task(
        queue=CONTROL_QUEUE,
        target=TaskTarget.FINALIZE,
        payload={"job_id": job_id},
        name=finalize_task_name(job_id),
    )


def expire_task(job_id: str, at: datetime, *, again: bool = False) -> Task:
    """The job's upload-expiry check at ``at``; ``again`` for the second look after an early one."""
    return Task(
        queue=CONTROL_QUEUE,
        target=TaskTarget.EXPIRE,
        payload={"job_id": job_id},
        name=expire_task_name(job_id, again=again),
        schedule_time=at,
    )
