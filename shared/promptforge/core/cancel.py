"""The cancel sweep: settle every prompt of a cancelled job that has not run as ``cancelled``.

A cancelled job's tasks are dropped by workers without a call (``core.worker``). The
sweep, a task on the control queue, claims each prompt that has no outcome at its stored
generation, exactly as a worker would, and records a ``cancelled`` error for it. A
prompt whose call is in flight holds a worker's lease, so the claim is ``BUSY`` and the
sweep leaves it: that call finishes and its outcome is kept. Holding the claim while it
records, the sweep cannot race a worker into recording twice. The settled prompts' queued
tasks are deleted, so a cancelled job stops taking its rate key's dispatches at once.
While calls are in flight or ingest is still registering lines, the sweep runs again a
little later (a new round, so a new task name); when nothing is left, it enqueues the
job's finalize, which ends the job ``CANCELLED``. Where prompts run in chunks with
records (``core.chunk_run``), the sweep claims each unfinished chunk instead, the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import timedelta

from promptforge.core.chunk_records import ChunkRecord, ChunkStore, chunk_store
from promptforge.core.deps import CONTROL_QUEUE, Deps
from promptforge.core.error_codes import CANCELLED
from promptforge.core.finalize import enqueue_finalize_if_ready
from promptforge.core.models import ClaimResult, JobStatus, Outcome
from promptforge.core.outcomes import prompt_error
from promptforge.core.queues import KeyQueues, key_queues
from promptforge.core.tasknames import TaskTarget, cancel_task_name, prompt_task_name
from promptforge.jobstore.base import PendingPrompt
from promptforge.tasks.base import Delivery, HandlerResult, Task

log = logging.getLogger(__name__)

SWEEP_PAGE = 1000
SWEEP_CONCURRENCY = 32
SWEEP_AGAIN_SECONDS = 2.0
SWEEP_LEASE_SECONDS = 60.0
CANCELLED_MESSAGE = "the job was cancelled before this prompt ran"


async def enqueue_cancel_sweep(
    deps: Deps, job_id: str, round_: int = 0, delay: float = 0.0
) -> None:
    """Enqueue the job's cancel sweep (named per round: a replay enqueues nothing)."""
    await deps.tasks.enqueue(
        [
            Task(
                queue=CONTROL_QUEUE,
                target=TaskTarget.CANCEL,
                payload={"job_id": job_id, "round": round_},
                name=cancel_task_name(job_id, round_),
                schedule_time=deps.clock.now() + timedelta(seconds=delay) if delay else None,
            )
        ]
    )


async def handle_cancel(deps: Deps, delivery: Delivery) -> HandlerResult:
    """Task handler for target ``cancel``."""
    job_id = str(delivery.payload["job_id"])
    job = await deps.store.get_job(job_id)
    if job is None or job.status is not JobStatus.PROCESSING or job.cancel_requested_at is None:
        return HandlerResult(200)
    queues = await key_queues(deps, job.rate_key)
    left = await _settle_pending(deps, job_id, queues)
    job = await deps.store.get_job(job_id)
    if job is None or job.status is not JobStatus.PROCESSING:
        return HandlerResult(200)
    if left or not job.ingest_done:
        round_ = int(delivery.payload.get("round", 0)) + 1
        await enqueue_cancel_sweep(deps, job_id, round_, SWEEP_AGAIN_SECONDS)
        return HandlerResult(200)
    await enqueue_finalize_if_ready(deps, job_id)
    return HandlerResult(200)


async def _settle_pending(deps: Deps, job_id: str, queues: KeyQueues) -> int:
    """Record ``cancelled`` for every pending prompt not in flight and delete its queued task;
    how many were in flight."""
    in_flight = 0
    after: str | None = None
    gate = asyncio.Semaphore(SWEEP_CONCURRENCY)

    async def claimed(prompt: PendingPrompt) -> bool | None:
        """True: claimed for the sweep; False: in flight; None: already has its outcome."""
        now = deps.clock.now()
        async with gate:
            claim = await deps.store.claim(
                job_id,
                prompt.prompt_id,
                prompt.generation,
                f"cancel:{job_id}",
                now + timedelta(seconds=SWEEP_LEASE_SECONDS),
                now,
            )
        if claim is ClaimResult.CLAIMED:
            return True
        return False if claim in (ClaimResult.BUSY, ClaimResult.STALE) else None

    chunks = chunk_store(deps.store)
    if chunks is not None:
        in_flight += await _settle_chunks(deps, chunks, job_id)
    while True:
        page, after = await deps.store.pending_prompts(job_id, after, SWEEP_PAGE)
        answers = await asyncio.gather(*(claimed(prompt) for prompt in page))
        settled = [prompt for prompt, answer in zip(page, answers, strict=True) if answer]
        in_flight += sum(1 for answer in answers if answer is False)
        await deps.store.record_outcomes(job_id, [_cancelled(prompt) for prompt in settled])
        await _drop_tasks(deps, job_id, queues, settled)
        if after is None:
            break
    if in_flight:
        log.info("job %s: cancel waits for %d calls in flight", job_id, in_flight)
    return in_flight


async def _settle_chunks(deps: Deps, store: ChunkStore, job_id: str) -> int:
    """Record ``cancelled`` for the unsettled prompts of every chunk no delivery is running
    (claimed as a worker would, ``core.chunk_run``) and delete its queued task; how many
    chunks were running."""
    running = 0
    after: str | None = None
    gate = asyncio.Semaphore(SWEEP_CONCURRENCY)

    async def settle(record: ChunkRecord) -> bool:
        """False if a delivery runs the chunk (its calls end, then the next round)."""
        chunk_id = record.spec.chunk_id
        now = deps.clock.now()
        async with gate:
            until = now + timedelta(seconds=SWEEP_LEASE_SECONDS)
            claim, current = await store.claim_chunk(
                job_id, chunk_id, f"cancel:{job_id}", until, now
            )
            if claim is ClaimResult.BUSY:
                return False
            if claim is not ClaimResult.CLAIMED or current is None:
                return True
            outcomes = [
                _cancelled(PendingPrompt(t.prompt_id, t.line, t.generation))
                for t in current.unsettled()
            ]
            await store.write_checkpoint(job_id, chunk_id, outcomes, [])
        try:  # only spares the queue a dispatch: a task left behind finds its chunk DONE
            await deps.tasks.delete(current.spec.queue, [chunk_id])
        except Exception:
            log.warning("could not delete the task of chunk %s of job %s", chunk_id, job_id)
        return True

    while True:
        page, after = await store.chunks_not_done(job_id, after, SWEEP_PAGE)
        running += sum(1 for ended in await asyncio.gather(*map(settle, page)) if not ended)
        if after is None:
            return running


async def _drop_tasks(
    deps: Deps, job_id: str, queues: KeyQueues, prompts: list[PendingPrompt]
) -> None:
    """Delete the settled prompts' queued tasks, so they stop taking the key's dispatch rate
    from its other jobs (a task left behind is dropped by the worker all the same)."""
    by_queue: dict[str, list[str]] = defaultdict(list)
    for prompt in prompts:
        name = prompt_task_name(job_id, prompt.prompt_id, prompt.generation)
        by_queue[queues.for_prompt(prompt.prompt_id)].append(name)
    for queue, names in by_queue.items():
        await deps.tasks.delete(queue, names)


def _cancelled(prompt: PendingPrompt) -> Outcome:
    error: dict[str, object] = {"code": CANCELLED, "message": CANCELLED_MESSAGE}
    return prompt_error(prompt.prompt_id, prompt.line, error, attempts=0)
