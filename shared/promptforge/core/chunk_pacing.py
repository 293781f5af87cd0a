"""A chunk's pace and checkpoints: its calls spaced at the key's rate, its answers written
a checkpoint at a time (``core.chunks`` says why; ``core.chunk_run`` is the chunk record's
variant of the checkpoint)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict

import anyio

from promptforge.core.answers import with_store_retries
from promptforge.core.deps import Deps
from promptforge.core.models import ClaimResult, Job, Outcome, PromptTask
from promptforge.core.ratestate import RateKeyState
from promptforge.core.worker import Settler, process_prompt
from promptforge.ratecontrol.base import Observation

__all__ = ["CHECKPOINT_ANSWERS", "CHUNK_BUDGET_SECONDS", "Checkpoints", "run_paced"]

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
        self.stopped = False
        """Set when the chunk must start no more calls (its record's lease was lost)."""

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
        if self.full():
            await self.flush()

    def waiting(self) -> int:
        """How many settled prompts the next checkpoint writes."""
        return len(self._outcomes)

    def full(self) -> bool:
        """Whether the next checkpoint is due (``every`` prompts settled)."""
        return self.waiting() >= self._every

    async def record_now(self, job_id: str, outcome: Outcome) -> None:
        """Keep the outcome and write the checkpoint at once (a dedupe job's copies follow)."""
        self._outcomes.append(outcome)
        await self.flush()

    async def flush(self) -> None:
        """Write what is waiting: the outcomes in one call (retried on store errors), then
        the observations (a lost observation costs the controller one reading, no more)."""
        async with self._lock:
            observations, self._observations = self._observations, defaultdict(list)
            await self._write_settled()
            for key, batch in observations.items():
                try:
                    await self.deps.store.append_observations(key, batch)
                except Exception:  # the answers are recorded; a reading is not vital
                    log.exception("could not store %d rate observations of %s", len(batch), key)

    async def _write_settled(self) -> None:
        """Write the waiting outcomes (under the lock), retried on store errors."""
        outcomes, self._outcomes = self._outcomes, []
        if outcomes:
            await with_store_retries(
                f"recording {len(outcomes)} outcomes of a chunk",
                lambda: self.deps.store.record_outcomes(self._job_id, outcomes),
            )


async def run_paced(  # noqa: PLR0917 (one chunk's delivery, spelled out)
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
            if current is None or current.status.final or current.cancelling or settler.stopped:
                break  # the cancel sweep (or the chunk's new holder) settles the rest
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
