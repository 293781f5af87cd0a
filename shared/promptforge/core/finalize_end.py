"""The end of a finalize: the job's files listed, its final status set exactly once.

The end step runs when every part and merge of the plan is done (``core.finalize_steps``).
It lists the result parts that exist (a part whose lines have no result writes none),
then compare-and-sets the job from PROCESSING to its final status: ``CANCELLED`` when a
cancel was asked (even one asked while the parts ran), ``FAILED`` (``no_valid_prompts``)
when no line was a valid prompt, else ``COMPLETED``. A second end changes nothing; the
job's end event (``webhooks.on_job_ended``) is stored once either way. Then the work
objects are deleted (best effort: a copy left behind goes with the bucket's lifecycle).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from promptforge.core.deps import Deps
from promptforge.core.finalize_steps import (
    ERRORS_FILE,
    FinalizeRun,
    result_part_name,
    work_objects_of,
)
from promptforge.core.models import Job, JobError, JobStatus, OutcomeKind
from promptforge.core.service import result_object_name
from promptforge.core.webhooks import on_job_ended

__all__ = ["BLOB_CONCURRENCY", "clean", "end_job", "run_end"]

log = logging.getLogger(__name__)

T = TypeVar("T")

BLOB_CONCURRENCY = 32
"""Object stats and deletes the end runs at once (a 10M-prompt job has 1,000 parts)."""


async def run_end(deps: Deps, job: Job, run: FinalizeRun, results: Sequence[str] | None) -> bool:
    """End the job with its result parts (``results``, or those found) and ``errors.jsonl``,
    then delete the work objects; False if another end had ended it first."""
    if results is None:
        results = await _existing_parts(deps, job, run)
    changed = await end_job(deps, job, [*results, ERRORS_FILE])
    await clean(deps, job, run)
    return changed


async def end_job(deps: Deps, job: Job, files: Sequence[str]) -> bool:
    """Compare-and-set the job to its final status with ``files``; False if it had ended."""
    done = await deps.store.get_job(job.job_id)
    if done is None:
        return False
    if done.cancel_requested_at is not None:
        target, error = JobStatus.CANCELLED, None
    elif done.completed_count == 0 and done.failed_count > 0 and not await _had_prompts(deps, job):
        target, error = (
            JobStatus.FAILED,
            JobError("no_valid_prompts", "no line of the file is a valid prompt; see errors.jsonl"),
        )
    else:
        target, error = JobStatus.COMPLETED, None
    changed = await deps.store.transition(
        job.job_id,
        JobStatus.PROCESSING,
        target,
        completed_at=deps.clock.now(),
        result_files=tuple(files),
        error=error,
    )
    if changed:
        await on_job_ended(deps, job.job_id)
        log.info(
            "job %s: %s with %d results and %d errors",
            job.job_id,
            target.value,
            done.completed_count,
            done.failed_count,
        )
    return changed


async def clean(deps: Deps, job: Job, run: FinalizeRun) -> None:
    """Delete the run's work objects; a failed delete is logged, not raised."""
    bucket = deps.blobs.output_bucket

    async def delete(name: str) -> None:
        try:
            await deps.blobs.delete(bucket, name)
        except Exception:
            log.warning("job %s: work object %s not deleted", job.job_id, name, exc_info=True)

    await _bounded(delete, work_objects_of(job, run))


async def _existing_parts(deps: Deps, job: Job, run: FinalizeRun) -> list[str]:
    """The result parts the run's parts wrote, in order (one stat each, ``BLOB_CONCURRENCY``
    at a time)."""
    names = [result_part_name(index) for index in range(1, len(run.parts) + 1)]
    bucket = deps.blobs.output_bucket

    async def exists(name: str) -> bool:
        return await deps.blobs.stat(bucket, result_object_name(job, name)) is not None

    found = await _bounded(exists, names)
    return [name for name, there in zip(names, found, strict=True) if there]


async def _bounded(call: Callable[[str], Awaitable[T]], names: Sequence[str]) -> list[T]:
    """``call`` on each name, at most ``BLOB_CONCURRENCY`` at once; the answers in order."""
    gate = asyncio.Semaphore(BLOB_CONCURRENCY)

    async def one(name: str) -> T:
        async with gate:
            return await call(name)

    return list(await asyncio.gather(*(one(name) for name in names)))


async def _had_prompts(deps: Deps, job: Job) -> bool:
    """Whether any error outcome belongs to a prompt that was dispatched (not an input line)."""
    async for outcome in deps.store.iter_outcomes(job.job_id, OutcomeKind.ERROR):
        if outcome.key.startswith("p:"):
            return True
    return False
