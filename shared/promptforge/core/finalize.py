"""Finalize: when every prompt has its outcome, write the job's files and end it — exactly once.

Finalize is idempotent and fanned out (``core.finalize_steps``): the job's lines are cut
into parts of ``lines_per_part`` lines, each part streams its outcomes in input-line
order into ``results_part_NNN.jsonl`` and an errors object, the errors objects are
composed into ``errors.jsonl``, and the end step (``core.finalize_end``) compare-and-sets
the job from PROCESSING to its final status. A job of one part does all of it in its
``finalize`` task; a larger one runs one named task per step, each far inside a task's
time limit (``core.finalize_plan``), and a step that dies half-way runs again alone.
"""

from __future__ import annotations

import logging

from promptforge.core.deps import Deps
from promptforge.core.finalize_end import clean, run_end
from promptforge.core.finalize_steps import (
    ERRORS_FILE,
    FinalizeRun,
    hand_on,
    is_done,
    result_part_name,
    run_merge,
    run_part,
    step_task,
)
from promptforge.core.jobtasks import finalize_task
from promptforge.core.models import Job, JobStatus
from promptforge.core.webhooks import on_job_ended
from promptforge.tasks.base import NOT_YET, Delivery, HandlerResult

__all__ = [
    "ERRORS_FILE",
    "enqueue_finalize_if_ready",
    "finalize_if_ready",
    "finalize_job",
    "handle_finalize",
    "handle_finalize_step",
    "result_part_name",
]

log = logging.getLogger(__name__)


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
    """Task handler for target ``finalize``: a job of one part is finalized here, a larger
    one gets the tasks of its parts (named: a replay enqueues nothing new). Part 1 is
    enqueued last, so once it is done a later delivery (the controller's tick enqueues
    this task while the job waits) knows every part was enqueued and adds nothing."""
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
    run = FinalizeRun.of(job, deps.config.lines_per_part)
    if len(run.parts) == 1:
        await finalize_job(deps, job, run)
        return HandlerResult(200)
    first, *others = run.parts
    if await is_done(deps, job, run, first):
        return HandlerResult(200)  # fanned out already: part 1 is enqueued after all others
    await deps.tasks.enqueue([step_task(run, part.name) for part in others])
    await deps.tasks.enqueue([step_task(run, first.name)])
    log.info("job %s: finalize fanned out into %d parts", job.job_id, len(run.parts))
    return HandlerResult(200)


async def handle_finalize_step(deps: Deps, delivery: Delivery) -> HandlerResult:
    """Task handler for target ``finalize_step``: run one step, then hand on to the next."""
    run = FinalizeRun.from_payload(delivery.payload)
    step = run.step(str(delivery.payload["step"]))
    job = await deps.store.get_job(run.job_id)
    if step is None or job is None:
        log.warning("finalize step %s of job %s: no such step or job", delivery.name, run.job_id)
        return HandlerResult(200)
    if job.status is not JobStatus.PROCESSING:  # ended: a late copy of a step does nothing
        if job.status.final and step.kind == "end":
            await on_job_ended(deps, job.job_id)  # a replayed end: the event, if a crash lost it
            await clean(deps, job, run)
        return HandlerResult(200)
    if step.kind == "end":
        await run_end(deps, job, run, None)
        return HandlerResult(200)
    if await is_done(deps, job, run, step):
        pass  # a duplicate, or a retry after the hand-on failed: only hand on
    elif step.kind == "part":
        await run_part(deps, job, run, step)
    else:
        await run_merge(deps, job, run, step)
    await hand_on(deps, job, run, step)
    return HandlerResult(200)


async def finalize_job(deps: Deps, job: Job, run: FinalizeRun | None = None) -> bool:
    """Run every step of the job's finalize here, in order (a job of one part, and the
    large-upload bench); False if another finalize ended the job first."""
    run = run or FinalizeRun.of(job, deps.config.lines_per_part)
    results = [name for part in run.parts if (name := await run_part(deps, job, run, part))]
    for level in run.levels[1:-1]:
        for merge in level:
            await run_merge(deps, job, run, merge)
    return await run_end(deps, job, run, results)
