"""Uploads that must not be forgotten: the expiry check, and starting a stored upload's ingest.

A job waits for its upload until the URL expires; the ``expire`` task then ends it
``FAILED`` (``upload_expired``) if nothing was uploaded, or starts the stored upload's
ingest if its event was never handled.
"""

from __future__ import annotations

import logging

from promptforge.core.deps import Deps
from promptforge.core.ingest import finalize_event_task
from promptforge.core.jobtasks import expire_task
from promptforge.core.models import Job, JobError, JobStatus
from promptforge.core.webhooks import on_job_ended
from promptforge.tasks.base import Delivery, HandlerResult

log = logging.getLogger(__name__)


async def start_stored_upload(deps: Deps, job: Job) -> bool:
    """Enqueue the ingest of a waiting job's upload if it is stored; whether it was.

    The upload's event may never have been handled (the server killed between storing
    the file and enqueuing its ingest, or the enqueue failed on a full disk): the expiry
    check and the embedded runtime's start-up call this so a stored upload always runs.
    The ingest task is named by the object's generation, so a second call creates
    nothing new.
    """
    stored = await deps.blobs.stat(deps.blobs.input_bucket, job.upload_object)
    if stored is None:
        return False
    task = finalize_event_task(stored.bucket, stored.name, stored.generation)
    if await deps.tasks.enqueue([task]):
        log.warning("job %s: its stored upload had no ingest; ingest enqueued", job.job_id)
    return True


async def handle_expire(deps: Deps, delivery: Delivery) -> HandlerResult:
    """Task handler for target ``expire``: a job whose upload never came ends FAILED."""
    job = await deps.store.get_job(str(delivery.payload["job_id"]))
    if job is not None and job.error is not None and job.error.code == "upload_expired":
        await on_job_ended(deps, job.job_id)  # a replay: the end event, if a crash lost it
    if job is None or job.status is not JobStatus.WAITING_FOR_UPLOAD:
        return HandlerResult(200)
    now = deps.clock.now()
    if now < job.upload_expires_at:
        # Delivered early (clock skew): look again when the URL has expired.
        await deps.tasks.enqueue([expire_task(job.job_id, job.upload_expires_at, again=True)])
        return HandlerResult(200)
    if await start_stored_upload(deps, job):
        return HandlerResult(200)  # the upload arrived: its ingest runs (now, if it had not)
    if await deps.store.transition(
        job.job_id,
        JobStatus.WAITING_FOR_UPLOAD,
        JobStatus.FAILED,
        completed_at=now,
        error=JobError(
            "upload_expired",
            "no file was uploaded before the upload URL expired at "
            f"{job.upload_expires_at:%Y-%m-%dT%H:%M:%SZ}; call /v1/jobs/init again",
        ),
    ):
        await on_job_ended(deps, job.job_id)
    return HandlerResult(200)
