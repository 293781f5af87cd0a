"""Chunk tasks: one task carries up to ``chunk_prompts`` prompts of one queue.

A task per prompt costs, per prompt, a queue task created and delivered, a function
request, and the bookkeeping around them (on Google Cloud about $1.50 per million
prompts for tasks and requests alone, ``docs/scale.md``). A chunk task carries K prompts
and the worker runs the one-prompt unit, ``core.worker.process_prompt``, for each; so
every per-prompt rule stays where it was: the prompt's claim (exactly one call per
generation), the admission gate (per call), the settle (result, error, or the next
generation enqueued as a one-prompt task).

**Rate.** The key's queues dispatch chunks at ``queue rate / K``
(``core.queues.dispatch_config``) and a chunk spaces its calls ``1 / rate`` apart (the
key's decided rate, re-read every control period): ``queue rate / rate`` chunks overlap,
so the key's calls go out at the queue rate, evenly, as one-prompt tasks did, and the
admission gate thins them to the decided rate the same way; a call it defers waits in
the chunk (``Checkpoints.wait``) instead of becoming a task of its own. A chunk stops
starting calls after ``CHUNK_BUDGET_SECONDS`` (a slow key) and enqueues the prompts it
did not reach as the next chunk.

**Checkpoints.** Outcomes and observations are written every ``CHECKPOINT_ANSWERS``
answers and when the chunk ends (``Checkpoints``): one commit, one counter-shard write and
one observation document per checkpoint instead of per prompt. A chunk cancelled (a
shutdown) still writes its checkpoint, shielded like every settle (``core.answers``). A
worker killed without warning loses at most the answers since the last checkpoint plus
the calls in flight: their prompts stay claimed until their lease ends, the redelivered
chunk gets ``BUSY`` for them (409: Cloud Tasks tries again later) and calls them again
once the lease has passed (docs/reliability.md). Every other prompt of a redelivered or
duplicated chunk is ``DONE`` or ``STALE`` at its claim and is not called again.

**Chunk records.** Where the job store keeps them (``core.chunk_records.ChunkStore``:
Google Cloud), a chunk is claimed once and its prompts settled by checkpoints on its
record instead of each prompt's own claim and outcome: ``core.chunk_run``. The pacing and
checkpoints above are shared (``core.chunk_pacing``); the per-prompt way remains for the
embedded runtime and for a chunk task enqueued without a record.
"""

from __future__ import annotations

from promptforge.core.chunk_pacing import (
    CHECKPOINT_ANSWERS,
    CHUNK_BUDGET_SECONDS,
    Checkpoints,
    run_paced,
)
from promptforge.core.chunk_records import chunk_store
from promptforge.core.chunk_run import run_recorded
from promptforge.core.chunk_tasks import chunk_task
from promptforge.core.deps import Deps
from promptforge.core.models import ClaimResult, PromptTask
from promptforge.tasks.base import Delivery, HandlerResult

__all__ = [
    "CHECKPOINT_ANSWERS",
    "CHUNK_BUDGET_SECONDS",
    "Checkpoints",
    "handle_chunk",
]


async def handle_chunk(deps: Deps, delivery: Delivery) -> HandlerResult:
    """Task handler for target ``chunk``: run each prompt's unit, paced at the key's rate."""
    prompts = [PromptTask.from_dict(body) for body in delivery.payload["prompts"]]
    job = await deps.jobs.get(str(delivery.payload["job_id"]), deps.store.get_job)
    if job is None or job.status.final or job.cancelling or not prompts:
        return HandlerResult(200)  # a cancelled job's prompts are settled by its cancel sweep
    store = chunk_store(deps.store)
    chunk_id = delivery.payload.get("chunk_id")
    if store is not None and chunk_id is not None:
        return await run_recorded(deps, store, job, str(chunk_id), delivery.queue)
    settler = Checkpoints(deps, job.job_id)
    claims: list[ClaimResult] = []
    try:
        rest = await run_paced(deps, job, prompts, delivery.queue, settler, claims)
    finally:
        await deps.answers.keep(settler.flush())
    if rest:
        await deps.tasks.enqueue([chunk_task(delivery.queue, rest)])
    return HandlerResult(409 if ClaimResult.BUSY in claims else 200)
