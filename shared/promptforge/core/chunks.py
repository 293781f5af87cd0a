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
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict

import anyio

from promptforge.core.answers import with_store_retries
from promptforge.core.chunk_tasks import chunk_task
from promptforge.core.deps import Deps
from promptforge.core.models import ClaimResult, Job, Outcome, PromptTask
from promptforge.core.ratestate import RateKeyState
from promptforge.core.worker import Settler, process_prompt
from promptforge.ratecontrol.base import Observation
from promptforge.tasks.base import Delivery, HandlerResult

__all__ = [
    "CHECKPOINT_ANSWERS",
    "CHUNK_BUDGET_SECONDS",
    "Checkpoints",
    "handle_chunk",
]

log = logging.getLogger(__name__)

CHECKPOINT_ANSWERS = 10
"""Answers a chunk keeps in memory before writing them: the most a sudden kill can lose."""
CHUNK_BUDGET_SECONDS = 240.0
"""After this long a chunk starts no new call; the rest go on as the next chunk (a worker
task must end well inside its dispatch deadline and each prompt's lease)."""


class Checkpoints(Settler):
    """A chunk's settler: outcomes and observations written ``every`` answers and at the end."""

    def __init__(self, deps: Deps, job_id: str, every: int = CHECKPOINT_ANSWERS) -> None:
        super().__init__(deps)
        self._job_id = job_id
        self._every = every
        self._outcomes: list[Outcome] = []
        self._observations: dict[str, list[Observation]] = defaultdict(list)
        self._lock = asyncio.Lock()
        self.started = time.monotonic()

    async def wait(self, seconds: float) -> bool:
        """Wait out a deferral in the chunk while its budget allows: a requeued prompt would
        cost a task, a request and a claim of its own."""
        if time.monotonic() + seconds - self.started > CHUNK_BUDGET_SECONDS:
            return False
        await anyio.sleep(seconds)
        return True

    async def observe(self, key: str, observation: Observation) -> None:
        """Keep the observation for the next checkpoint."""
        self._observations[key].append(observation)

    async def record(self, job_id: str, outcome: Outcome) -> None:
        """Keep the outcome; write the checkpoint once ``every`` are waiting."""
        self._outcomes.append(outcome)
        if len(self._outcomes) >= self._every:
            await self.flush()

    async def record_now(self, job_id: str, outcome: Outcome) -> None:
        """Keep the outcome and write the checkpoint at once (a dedupe job's copies follow)."""
        self._outcomes.append(outcome)
        await self.flush()

    async def flush(self) -> None:
        """Write what is waiting: the outcomes in one call (retried on store errors), then
        the observations (a lost observation costs the controller one reading, no more)."""
        async with self._lock:
            outcomes, self._outcomes = self._outcomes, []
            observations, self._observations = self._observations, defaultdict(list)
            if outcomes:
                await with_store_retries(
                    f"recording {len(outcomes)} outcomes of a chunk",
                    lambda: self.deps.store.record_outcomes(self._job_id, outcomes),
                )
            for key, batch in observations.items():
                try:
                    await self.deps.store.append_observations(key, batch)
                except Exception:  # the answers are recorded; a reading is not vital
                    log.exception("could not store %d rate observations of %s", len(batch), key)


async def handle_chunk(deps: Deps, delivery: Delivery) -> HandlerResult:
    """Task handler for target ``chunk``: run each prompt's unit, paced at the key's rate."""
    prompts = [PromptTask.from_dict(body) for body in delivery.payload["prompts"]]
    job = await deps.jobs.get(str(delivery.payload["job_id"]), deps.store.get_job)
    if job is None or job.status.final or job.cancelling or not prompts:
        return HandlerResult(200)  # a cancelled job's prompts are settled by its cancel sweep
    settler = Checkpoints(deps, job.job_id)
    claims: list[ClaimResult] = []
    try:
        rest = await _run(deps, job, prompts, delivery.queue, settler, claims)
    finally:
        await deps.answers.keep(settler.flush())
    if rest:
        await deps.tasks.enqueue([chunk_task(delivery.queue, rest)])
    return HandlerResult(409 if ClaimResult.BUSY in claims else 200)


async def _run(  # noqa: PLR0917 (one chunk's delivery, spelled out)
    deps: Deps,
    job: Job,
    prompts: list[PromptTask],
    queue: str,
    settler: Checkpoints,
    claims: list[ClaimResult],
) -> list[PromptTask]:
    """Start each prompt's unit at its slot; the prompts left when the budget ran out."""
    key = job.route_of(prompts[0].route)[0].id
    started = settler.started
    due = time.monotonic()

    failures: list[Exception] = []

    async def one(task: PromptTask) -> None:
        # One prompt's failure (a store error in its claim, say) must not cancel its
        # siblings' provider calls, which may already be billed: it is raised once they
        # have all settled, and the redelivered chunk finds their outcomes recorded.
        try:
            claims.append(await process_prompt(deps, job, task, queue, settler))
        except Exception as exc:
            log.exception("prompt %s of job %s failed in its chunk", task.prompt_id, job.job_id)
            failures.append(exc)

    rest: list[PromptTask] = []
    async with anyio.create_task_group() as group:
        for index, task in enumerate(prompts):
            if time.monotonic() - started > CHUNK_BUDGET_SECONDS:
                rest = prompts[index:]
                break
            current = await deps.jobs.get(job.job_id, deps.store.get_job)  # cached a few s
            if current is None or current.status.final or current.cancelling:
                break  # the cancel sweep settles the prompts not started
            await anyio.sleep(max(0.0, due - time.monotonic()))
            group.start_soon(one, task)
            due += 1.0 / _rate(deps, await settler.rate_state(key))
    if failures:
        raise failures[0]
    return rest


def _rate(deps: Deps, saved: RateKeyState | None) -> float:
    """The key's decided calls per second (the initial rate before its first step)."""
    if saved is None or saved.state is None:
        return deps.config.initial_rate
    return max(saved.state.rate, 1e-3)
