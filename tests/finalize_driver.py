"""Driving a finalize by hand in a test: a queue that keeps a name once, drained in order.

Shared by the embedded (``tests/unit/test_finalize_steps.py``) and the Google
(``tests/gcp/test_finalize_google.py``) tests of the fanned-out finalize.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from promptforge.core.deps import CONTROL_QUEUE, Deps
from promptforge.core.finalize import handle_finalize, handle_finalize_step
from promptforge.core.models import Job, OutcomeKind
from promptforge.core.tasknames import TaskTarget, finalize_task_name
from promptforge.tasks.base import Delivery, HandlerResult, Task


class NamedQueue:
    """A task queue that creates a named task once (Cloud Tasks' dedupe), drained by hand."""

    def __init__(self) -> None:
        self.pending: list[Task] = []
        self.created: Counter[str] = Counter()
        self.asked: Counter[str] = Counter()

    async def enqueue(self, tasks: Sequence[Task]) -> int:
        """Keep each task whose name is new; how many were."""
        made = 0
        for task in tasks:
            name = task.name or ""
            self.asked[name] += 1
            if self.created[name]:
                continue
            self.created[name] += 1
            self.pending.append(task)
            made += 1
        return made


def delivery(task: Task, attempt: int = 1) -> Delivery:
    """The delivery of ``task`` a queue would make."""
    return Delivery(task.queue, task.target, task.name or "", task.payload, attempt)


async def finalize(deps: Deps, job: Job) -> HandlerResult:
    """Deliver the job's finalize task."""
    payload = {"job_id": job.job_id}
    task = Task(CONTROL_QUEUE, TaskTarget.FINALIZE, payload, finalize_task_name(job.job_id))
    return await handle_finalize(deps, delivery(task))


async def drain(deps: Deps, queue: NamedQueue, *, twice: bool = False) -> list[str]:
    """Run queued step tasks first in, first out (each twice with ``twice``), retrying one
    that raises ``OSError`` as the queue would; the step names in the order they succeeded."""
    ran: list[str] = []
    while queue.pending:
        task = queue.pending.pop(0)
        for attempt in range(1, 5):
            try:
                answer = await handle_finalize_step(deps, delivery(task, attempt))
            except OSError:
                continue
            assert answer.ok
            ran.append(str(task.payload["step"]))
            if twice:
                assert (await handle_finalize_step(deps, delivery(task, attempt + 1))).ok
            break
        else:
            raise AssertionError(f"step {task.payload['step']} never succeeded")
    return ran


async def single_pass(deps: Deps, job: Job, kind: OutcomeKind) -> bytes:
    """What one sequential pass writes: every outcome of ``kind`` in line order, as JSONL."""
    lines = [
        json.dumps(o.record, ensure_ascii=False, separators=(", ", ": ")) + "\n"
        async for o in deps.store.iter_outcomes(job.job_id, kind)
    ]
    return "".join(lines).encode()
