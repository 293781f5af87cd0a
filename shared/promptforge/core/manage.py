"""Jobs as users manage them: list a tenant's jobs, cancel one, stream its outcomes.

HTTP-free like ``core.service``: the API parses and renders, these answer. Cancelling
marks the job and hands the rest to its cancel sweep (``core.cancel``): workers drop the
job's tasks at once, calls in flight finish and are kept, and the sweep settles every
other prompt as ``cancelled`` before finalize ends the job ``CANCELLED``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from promptforge.core.cancel import enqueue_cancel_sweep
from promptforge.core.deps import Deps
from promptforge.core.models import Job, JobStatus, OutcomeKind
from promptforge.core.service import get_owned_job, job_status
from promptforge.core.webhooks import on_job_ended
from promptforge.errors import BadRequest, Conflict

DEFAULT_PAGE = 20
MAX_PAGE = 100


async def list_jobs(deps: Deps, tenant_id: str, limit: int, after: str | None) -> dict[str, Any]:
    """``{data, has_more}``: the tenant's jobs newest first, ``limit`` of them after the job
    ``after`` (the last ``job_id`` of the previous page)."""
    before = None
    if after is not None:
        cursor = await _cursor_job(deps, tenant_id, after)
        before = (cursor.created_at, cursor.job_id)
    jobs = await deps.store.list_jobs(tenant_id, limit + 1, before=before)
    data = [await job_status(deps, job) for job in jobs[:limit]]
    return {"data": data, "has_more": len(jobs) > limit}


async def _cursor_job(deps: Deps, tenant_id: str, after: str) -> Job:
    """The job a cursor names; a 400 for anything that is not one of the tenant's jobs."""
    try:
        job = await deps.store.get_job(str(uuid.UUID(after)))
    except ValueError:
        job = None
    if job is None or job.tenant_id != tenant_id:
        raise BadRequest(
            "invalid_cursor",
            f"after={after!r} is not a job of this API key; pass the job_id of the last job "
            "of the previous page",
            details={"parameter": "after"},
        )
    return job


async def cancel_job(deps: Deps, tenant_id: str, job_id: str) -> dict[str, Any]:
    """Ask a job to stop; the status body of the job (202). 409 if it has already ended."""
    job = await get_owned_job(deps, tenant_id, job_id)
    now = deps.clock.now()
    if job.status is JobStatus.WAITING_FOR_UPLOAD and await deps.store.transition(
        job.job_id,
        JobStatus.WAITING_FOR_UPLOAD,
        JobStatus.CANCELLED,
        cancel_requested_at=now,
        completed_at=now,
    ):
        await on_job_ended(deps, job.job_id)  # its webhook's job.cancelled event
        return await job_status(deps, await get_owned_job(deps, tenant_id, job.job_id))
    if not await deps.store.request_cancel(job.job_id, now):
        ended = await get_owned_job(deps, tenant_id, job.job_id)
        raise Conflict(
            "job_ended",
            f"job {job.job_id} has already ended ({ended.status.value}); only a job that is "
            "waiting for its upload or processing can be cancelled",
            details={"status": ended.status.value},
        )
    deps.jobs.forget(job.job_id)
    await enqueue_cancel_sweep(deps, job.job_id)
    return await job_status(deps, await get_owned_job(deps, tenant_id, job.job_id))


async def stream_outcomes(deps: Deps, job: Job) -> AsyncIterator[bytes]:
    """Every result line recorded so far, then every error line tagged ``"type": "error"``,
    as NDJSON, read from the job store page by page (never all in memory)."""
    async for outcome in deps.store.iter_outcomes(job.job_id, OutcomeKind.RESULT):
        yield _line(outcome.record)
    async for outcome in deps.store.iter_outcomes(job.job_id, OutcomeKind.ERROR):
        yield _line({"type": "error", **outcome.record})


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
