"""A short-lived cache of jobs for the worker: one job read per job and few seconds, not per task.

A worker needs the job only for what never changes (provider, model, params, credential,
max_retries) and to drop tasks of a job that has ended. Reading it for every task cost
one SQLite read on the embedded runtime and, on Firestore, the job plus its counter
shards: more reads than the rest of the task together. A cached job is used for at
most ``ttl`` seconds; an ended job is never cached, so a task of an ending job is at
worst handled as if the job still ran for ``ttl`` more seconds, which the prompt's own
claim makes harmless (a prompt with an outcome is ``DONE``; finalize counts outcomes,
not tasks).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from promptforge.core.models import Job

__all__ = ["JobCache"]


class JobCache:
    """Jobs by id, each kept ``ttl`` seconds, at most ``size`` of them (least recently used out)."""

    def __init__(
        self,
        ttl: float = 5.0,
        size: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._size = size
        self._clock = clock
        self._jobs: OrderedDict[str, tuple[float, Job]] = OrderedDict()

    async def get(self, job_id: str, load: Callable[[str], Awaitable[Job | None]]) -> Job | None:
        """The cached job if fresh, else ``load(job_id)`` (cached unless missing or ended)."""
        now = self._clock()
        cached = self._jobs.get(job_id)
        if cached is not None and now - cached[0] < self._ttl:
            self._jobs.move_to_end(job_id)
            return cached[1]
        job = await load(job_id)
        if job is None or job.status.final:
            self._jobs.pop(job_id, None)
            return job
        self._jobs[job_id] = (now, job)
        self._jobs.move_to_end(job_id)
        while len(self._jobs) > self._size:
            self._jobs.popitem(last=False)
        return job

    def forget(self, job_id: str) -> None:
        """Drop a job from the cache (it was just cancelled: the next task reads it afresh)."""
        self._jobs.pop(job_id, None)
