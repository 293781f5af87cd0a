"""Ingest: on an upload's finalize event, stream the JSONL, validate it, fan prompts out as tasks.

Replay-safe at every step: a finalize event delivered twice is one named task; an
ingest that dies half-way runs again from the start, and every write it makes is
idempotent (prompt registration, error outcomes, named prompt tasks, a progress
count that only rises). Memory is bounded by one batch of lines.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from promptforge.core.chunk_records import ChunkSpec, chunk_store
from promptforge.core.chunk_tasks import chunk_groups, chunk_tasks, spec_task
from promptforge.core.control_chain import control_task
from promptforge.core.deps import CONTROL_QUEUE, Deps
from promptforge.core.finalize import enqueue_finalize_if_ready
from promptforge.core.jsonl import (
    EMPTY_FILE,
    LineError,
    ValidPrompt,
    Verdict,
    duplicate_error,
    read_prompts,
)
from promptforge.core.models import (
    GenerationParams,
    Job,
    JobError,
    JobStatus,
    Outcome,
    OutcomeKind,
    PromptTask,
    RateKey,
)
from promptforge.core.queues import KeyQueues, ensure_rate_queue
from promptforge.core.tasknames import TaskTarget, ingest_task_name, prompt_task_name
from promptforge.core.webhooks import on_job_ended
from promptforge.prompts.jobs import line_validator
from promptforge.providers.registry import SUPPORTED_PROVIDERS, get_adapter
from promptforge.tasks.base import Delivery, HandlerResult, Task

log = logging.getLogger(__name__)

_BATCHES_AHEAD = 3
"""Validated batches that may wait for the stores (memory stays bounded by a few batches)."""


def finalize_event_task(bucket: str, name: str, generation: int) -> Task:
    """The ingest task for one object-finalize event (named: a replay creates nothing)."""
    return Task(
        queue=CONTROL_QUEUE,
        target=TaskTarget.INGEST,
        payload={"bucket": bucket, "name": name, "generation": generation},
        name=ingest_task_name(bucket, name, generation),
    )


def job_id_from_object(name: str) -> str | None:
    """``<tenant>/<job_id>/prompts.jsonl`` → job_id, or None for an unrelated object."""
    parts = name.split("/")
    if len(parts) != 3 or parts[2] != "prompts.jsonl":
        return None
    return parts[1]


async def admit_upload(deps: Deps, name: str, generation: int) -> Job | None:
    """The job this upload starts (or resumes), or None when there is nothing to do.

    The first event of a job's upload moves it to ``PROCESSING`` pinned to that
    generation; a replayed event resumes it; an unrelated object, an ended or fully
    ingested job, or another generation of the object is ignored.
    """
    job_id = job_id_from_object(name)
    job = await deps.store.get_job(job_id) if job_id else None
    if job is None or job.upload_object != name:
        log.warning("ignoring upload of %s: no job expects it", name)
        return None
    if job.status is JobStatus.WAITING_FOR_UPLOAD:
        await deps.store.transition(
            job.job_id,
            JobStatus.WAITING_FOR_UPLOAD,
            JobStatus.PROCESSING,
            started_processing_at=deps.clock.now(),
            input_generation=generation,
        )
        job = await deps.store.get_job(job.job_id)
        if job is None:
            return None
    if job.status is not JobStatus.PROCESSING or job.ingest_done:
        return None
    if job.input_generation != generation:
        log.warning("job %s: ignoring a second upload (generation %s)", job.job_id, generation)
        return None
    return job


async def handle_ingest(deps: Deps, delivery: Delivery) -> HandlerResult:
    """Task handler for target ``ingest``."""
    payload = delivery.payload
    job = await admit_upload(deps, str(payload["name"]), int(payload["generation"]))
    if job is not None:
        await ingest_file(deps, job, str(payload["bucket"]))
    return HandlerResult(200)


async def ingest_file(deps: Deps, job: Job, bucket: str) -> int:
    """Stream the job's input into prompt tasks and error outcomes; returns the line count.

    Reading and validating the next batches overlaps with storing the previous ones
    (the stores work on their own threads); batches are still stored one after another,
    in file order, and at most ``_BATCHES_AHEAD + 2`` are held in memory.
    """
    queues = await ensure_rate_queue(deps, job)
    validate = await line_validator(deps, job.tenant_id, job.params)
    send, receive = anyio.create_memory_object_stream[list[Verdict]](_BATCHES_AHEAD)
    stored = [0]
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(_store_batches, deps, job, queues, receive, stored)
            async with send:
                batch: list[Verdict] = []
                chunks = deps.blobs.read(bucket, job.upload_object)
                max_bytes = deps.config.max_line_bytes
                async for verdict in read_prompts(chunks, max_bytes, validate):
                    batch.append(verdict)
                    if len(batch) >= deps.config.ingest_batch:
                        await send.send(batch)
                        batch = []
                if batch:
                    await send.send(batch)
    except BaseExceptionGroup as errors:
        if len(errors.exceptions) == 1:  # the reader's or the writer's own error, unwrapped
            raise errors.exceptions[0] from None
        raise
    await finish_ingest(deps, job, stored[0])
    if stored[0]:
        log.info("job %s: ingested %d lines", job.job_id, stored[0])
    return stored[0]


async def finish_ingest(deps: Deps, job: Job, lines: int) -> None:
    """Record that all ``lines`` are in; fail an empty file, else finalize if all are done."""
    await deps.store.update_ingest_progress(job.job_id, lines, done=True)
    if lines == 0:
        if await deps.store.transition(
            job.job_id,
            JobStatus.PROCESSING,
            JobStatus.FAILED,
            completed_at=deps.clock.now(),
            error=JobError(*EMPTY_FILE),
        ):
            await on_job_ended(deps, job.job_id)
        return
    await enqueue_finalize_if_ready(deps, job.job_id)


async def _store_batches(
    deps: Deps,
    job: Job,
    queues: KeyQueues,
    batches: MemoryObjectReceiveStream[list[Verdict]],
    stored: list[int],
) -> None:
    """Store batches in order, recording progress after each; ``stored[0]`` counts lines.

    Batches that queued up while the stores were busy are stored as one: when the
    stores are the bottleneck, fewer and larger transactions cost less per line.
    """
    async with batches:
        async for batch in batches:
            merged = list(batch)
            while True:
                try:
                    merged += batches.receive_nowait()
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break
            stored[0] += await store_verdicts(deps, job, queues, merged)
            await deps.store.update_ingest_progress(job.job_id, stored[0], done=False)


async def store_verdicts(deps: Deps, job: Job, queues: KeyQueues, batch: Sequence[Verdict]) -> int:
    """Register a batch's prompts, record its bad lines and duplicates, enqueue its prompts.

    Returns the number of lines in the batch. Safe to repeat: a prompt registered
    before (a replayed batch) is neither a duplicate nor enqueued twice by name.
    """
    if not batch:
        return 0
    valid = [v for v in batch if isinstance(v, ValidPrompt)]
    errors = [v for v in batch if isinstance(v, LineError)]
    routable: list[ValidPrompt] = []
    for prompt in valid:
        problem = _route_problem(deps, prompt)
        if problem is None:
            routable.append(prompt)
        else:
            errors.append(LineError(prompt.line, "unsupported_route", problem, prompt.prompt_id))
    chunks = chunk_store(deps.store) if deps.config.chunk_prompts > 1 else None
    pairs = [(v.prompt_id, v.line) for v in routable]
    if chunks is not None:  # their claims and outcomes live on chunk records
        earlier = await chunks.register_chunk_prompts(job.job_id, pairs)
    else:
        earlier = await deps.store.register_prompts(job.job_id, pairs)
    prompts: list[tuple[str, PromptTask]] = []
    routed: dict[RateKey, KeyQueues] = {job.rate_key: queues}
    for prompt, first_line in zip(routable, earlier, strict=True):
        if first_line is not None:
            errors.append(duplicate_error(prompt, first_line))
            continue
        key, _ = job.route_of(prompt.route)
        if key not in routed:  # a line with its own model: that model's rate key and queues
            routed[key] = await ensure_rate_queue(deps, job, key)
            period = deps.config.rate_control.control_period
            await deps.tasks.enqueue([control_task(key.id, period, deps.clock.now())])
        task = PromptTask(
            job.job_id, prompt.prompt_id, prompt.line, prompt.prompt, route=prompt.route
        )
        prompts.append((routed[key].for_prompt(prompt.prompt_id), task))
    if errors:
        await deps.store.record_outcomes(job.job_id, [_error_outcome(e) for e in errors])
    if prompts and chunks is not None:
        specs = [
            ChunkSpec.of(q, group) for q, group in chunk_groups(prompts, deps.config.chunk_prompts)
        ]
        await chunks.create_chunks(job.job_id, specs)  # before their tasks can be delivered
        await deps.tasks.enqueue([spec_task(spec) for spec in specs])
    elif prompts:
        await deps.tasks.enqueue(_prompt_tasks(prompts, deps.config.chunk_prompts))
    return len(batch)


def _route_problem(deps: Deps, prompt: ValidPrompt) -> str | None:
    """Why a line's own provider and model cannot run, or None if they can."""
    route = prompt.route
    if route is None:
        return None
    if route.provider not in SUPPORTED_PROVIDERS:
        return f"provider {route.provider!r} is not supported"
    if deps.catalogue.find(route.provider, route.model) is None:
        return f"model {route.model!r} is not in the catalogue for {route.provider}"
    unsupported = get_adapter(route.provider).unsupported(GenerationParams.from_dict(route.params))
    return f"{route.provider} cannot honour: {', '.join(unsupported)}" if unsupported else None


def _prompt_tasks(prompts: Sequence[tuple[str, PromptTask]], chunk_prompts: int) -> list[Task]:
    """One task per prompt, or chunks of ``chunk_prompts`` (``core.chunks``) per queue."""
    if chunk_prompts <= 1:
        return [prompt_task(queue, task) for queue, task in prompts]
    return chunk_tasks(prompts, chunk_prompts)


def prompt_task(queue: str, task: PromptTask, **schedule: Any) -> Task:
    """The queue task for one generation of one prompt."""
    return Task(
        queue=queue,
        target=TaskTarget.WORKER,
        payload=task.to_dict(),
        name=prompt_task_name(task.job_id, task.prompt_id, task.generation),
        **schedule,
    )


def _error_outcome(error: LineError) -> Outcome:
    return Outcome(
        key=Outcome.line_key(error.line),
        kind=OutcomeKind.ERROR,
        line=error.line,
        record=error.record(),
    )
