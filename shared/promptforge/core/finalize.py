"""Finalize: when every prompt has its outcome, write the shards and end the job — exactly once.

Finalize is idempotent: it streams outcomes in input-line order into
``results_part_NNN.jsonl`` files of ``lines_per_part`` lines and ``errors.jsonl``
(same content every run), then compare-and-sets the job from PROCESSING to its
final status. A finalize that dies half-way simply runs again.
"""

from __future__ import annotations

import json
import logging

from promptforge.blobstore.base import BlobWriter
from promptforge.core.deps import Deps
from promptforge.core.jobtasks import finalize_task
from promptforge.core.models import Job, JobError, JobStatus, OutcomeKind
from promptforge.core.service import result_object_name
from promptforge.core.webhooks import on_job_ended
from promptforge.tasks.base import NOT_YET, Delivery, HandlerResult

log = logging.getLogger(__name__)

ERRORS_FILE = "errors.jsonl"


def result_part_name(index: int) -> str:
    """``results_part_001.jsonl`` for index 1 (the number widens past 999)."""
    return f"results_part_{index:03d}.jsonl"


async def enqueue_finalize_if_ready(deps: Deps, job_id: str) -> bool:
    """Enqueue the job's (named, so single) finalize task once every prompt is accounted for."""
    return await finalize_if_ready(deps, await deps.store.get_job(job_id))


async def finalize_if_ready(deps: Deps, job: Job | None) -> bool:
    """``enqueue_finalize_if_ready`` for a job already read (the controller's tick has it).

    The worker does not check after each outcome: on Firestore that check read the job
    and every counter shard per prompt, most of a prompt's reads. The controller's tick
    reads each processing job of its key anyway, once a period, and calls this.
    """
    if job is None or job.status is not JobStatus.PROCESSING or not job.ready_to_finalize:
        return False
    await deps.tasks.enqueue([finalize_task(job.job_id)])
    return True


async def handle_finalize(deps: Deps, delivery: Delivery) -> HandlerResult:
    """Task handler for target ``finalize``."""
    job = await deps.store.get_job(str(delivery.payload["job_id"]))
    if job is not None and job.status.final:
        await on_job_ended(deps, job.job_id)  # a replay: the end event, if a crash lost it
    if job is None or job.status is not JobStatus.PROCESSING:
        return HandlerResult(200)
    if not job.ready_to_finalize:
        # Counters lag behind the event that enqueued us: retry this task with the queue's
        # backoff. 409, not 503: Cloud Tasks reads 429/503 as "slow the whole queue down",
        # and the control queue also carries every ingest and controller tick.
        return HandlerResult(NOT_YET)
    await finalize_job(deps, job)
    return HandlerResult(200)


async def finalize_job(deps: Deps, job: Job) -> bool:
    """Write every output file and end the job; False if another finalize ended it first."""
    files = await _write_results(deps, job)
    await _write_errors(deps, job)
    files.append(ERRORS_FILE)
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


async def _had_prompts(deps: Deps, job: Job) -> bool:
    """Whether any error outcome belongs to a prompt that was dispatched (not an input line)."""
    async for outcome in deps.store.iter_outcomes(job.job_id, OutcomeKind.ERROR):
        if outcome.key.startswith("p:"):
            return True
    return False


async def _write_results(deps: Deps, job: Job) -> list[str]:
    files: list[str] = []
    writer: BlobWriter | None = None
    in_part = 0
    async for outcome in deps.store.iter_outcomes(job.job_id, OutcomeKind.RESULT):
        if writer is None or in_part >= deps.config.lines_per_part:
            if writer is not None:
                await writer.close()
            files.append(result_part_name(len(files) + 1))
            writer = await deps.blobs.open_writer(
                deps.blobs.output_bucket, result_object_name(job, files[-1])
            )
            in_part = 0
        await writer.write(_line(outcome.record))
        in_part += 1
    if writer is not None:
        await writer.close()
    return files


async def _write_errors(deps: Deps, job: Job) -> None:
    writer = await deps.blobs.open_writer(
        deps.blobs.output_bucket, result_object_name(job, ERRORS_FILE)
    )
    try:
        async for outcome in deps.store.iter_outcomes(job.job_id, OutcomeKind.ERROR):
            await writer.write(_line(outcome.record))
    except BaseException:
        await writer.abort()
        raise
    await writer.close()


def _line(record: dict[str, object]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(", ", ": ")) + "\n").encode()
