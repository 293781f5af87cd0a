"""A chunk run on its record (``core.chunk_records``): one claim, checkpoints, handoffs.

Where the job store keeps chunk records (Google Cloud), a chunk's delivery claims the
chunk once, runs the prompts its record has not settled (``core.chunk_pacing.run_paced``:
the same per-prompt unit, pace and admission gate as any chunk), and each checkpoint
settles its prompts in one write: their outcomes, or their handoff to the next chunk
(a retry, a deferral, a re-ask, the rest of a chunk whose time budget ran out). So a
prompt costs no write of its own after its registration.

**The lease.** The chunk's lease (``PROMPTFORGE_LEASE_SECONDS``) is renewed every third of
it while the chunk runs; a holder that loses it (it was too slow to renew and another
delivery took the chunk) starts no more calls. When a run ends with prompts unsettled (the
job was cancelled, or a prompt failed), the lease is released at once, so the cancel
sweep or the redelivery need not wait for it to run out. A killed holder's chunk is
claimable when its lease ends, and the new holder runs only what no checkpoint settled:
the answers since the last checkpoint and the calls in flight are what a kill repeats,
as with per-prompt claims (docs/reliability.md).

**Handoffs** are enqueued after the checkpoint that creates their records commits; a
delivery of a chunk that handed prompts on enqueues those of its children not yet
started again (a crash between the commit and the enqueue loses nothing; the task name
is the child's id, so Cloud Tasks creates it once).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from datetime import timedelta

import anyio

from promptforge.core.answers import with_store_retries
from promptforge.core.chunk_pacing import CHECKPOINT_ANSWERS, Checkpoints, run_paced
from promptforge.core.chunk_records import ChunkRecord, ChunkSpec, ChunkStore
from promptforge.core.chunk_tasks import spec_task
from promptforge.core.deps import Deps
from promptforge.core.models import ClaimResult, Job, Outcome, PromptTask
from promptforge.jobstore.fields import dumps
from promptforge.tasks.base import HandlerResult

__all__ = ["CHECKPOINT_BYTES", "ChunkCheckpoints", "enqueue_children", "run_recorded"]

log = logging.getLogger(__name__)

CHECKPOINT_BYTES = 2_000_000
"""A checkpoint is written early once this many bytes of answers and handed-on prompts wait:
it is one commit (Firestore takes 10 MiB, its emulator 4 MiB), and one answer may be
``core.outcomes.MAX_OUTCOME_BYTES``."""


class ChunkCheckpoints(Checkpoints):
    """The settler of a chunk run on its record: the chunk's claim covers its prompts, a
    retry is a handoff, and a checkpoint is one ``ChunkStore.write_checkpoint``."""

    def __init__(
        self,
        deps: Deps,
        store: ChunkStore,
        record: ChunkRecord,
        job_id: str,
        every: int = CHECKPOINT_ANSWERS,
    ) -> None:
        super().__init__(deps, job_id, every)
        self._store = store
        self._record = record
        self._handoffs: list[ChunkSpec] = []
        self._bytes = 0
        self.settled = dict(record.settled)
        """How each prompt was settled, as of the last checkpoint written."""

    async def claim(self, task: PromptTask) -> ClaimResult:
        """CLAIMED: the chunk's lease covers its prompts (its record is the only recorder)."""
        return ClaimResult.CLAIMED

    async def requeue(self, queue: str, task: PromptTask, delay: float, *, attempt: int) -> None:
        """Hand the prompt's next generation on to a chunk of its own, ``delay`` s from now."""
        following = dataclasses.replace(task, generation=task.generation + 1, attempt=attempt)
        when = self.deps.clock.now() + timedelta(seconds=delay) if delay > 0 else None
        await self.hand_on(ChunkSpec.of(queue, [following], when))

    async def record(self, job_id: str, outcome: Outcome) -> None:
        """Keep the outcome (and its bytes) for the next checkpoint."""
        self._bytes += _size(outcome)
        await super().record(job_id, outcome)

    async def hand_on(self, spec: ChunkSpec) -> None:
        """Keep a handoff for the next checkpoint (it settles its prompts, as an outcome does)."""
        self._handoffs.append(spec)
        self._bytes += _size(spec)
        if self.full():
            await self.flush()

    def full(self) -> bool:
        """Due at ``every`` prompts, or sooner once ``CHECKPOINT_BYTES`` are waiting."""
        return super().full() or self._bytes >= CHECKPOINT_BYTES

    async def answered(self, job: Job, task: PromptTask, outcome: Outcome) -> None:
        """Nothing: a copy waiting for this answer belongs to another chunk, which records it
        when its task comes back (``core.dedupe``), never this one."""

    def waiting(self) -> int:
        """Outcomes and handoffs not written yet."""
        return super().waiting() + len(self._handoffs)

    @property
    def unsettled(self) -> bool:
        """Whether a prompt of the chunk is still unsettled after the last checkpoint."""
        return any(task.prompt_id not in self.settled for task in self._record.spec.tasks)

    async def _write_settled(self) -> None:
        outcomes, self._outcomes = self._outcomes, []
        handoffs, self._handoffs = self._handoffs, []
        self._bytes = 0
        for part, handed in _commits(outcomes, handoffs):  # answers arriving during a write
            await self._write(part, handed)  # pile up: each commit stays under the bytes

    async def _write(self, outcomes: list[Outcome], handoffs: list[ChunkSpec]) -> None:
        chunk_id, job_id = self._record.spec.chunk_id, self._job_id
        written = await with_store_retries(
            f"writing a checkpoint of {len(outcomes)} outcomes and {len(handoffs)} handoffs",
            lambda: self._store.write_checkpoint(job_id, chunk_id, outcomes, handoffs),
        )
        self.settled = written.settled
        if written.children:
            await self.deps.tasks.enqueue([spec_task(child) for child in written.children])
        elif handoffs:  # a retried write that had committed: enqueue from the record
            record = await self._store.get_chunk(job_id, chunk_id)
            if record is not None:
                await enqueue_children(self.deps, self._store, job_id, record)


def _commits(
    outcomes: list[Outcome], handoffs: list[ChunkSpec]
) -> list[tuple[list[Outcome], list[ChunkSpec]]]:
    """The checkpoint cut into commits of about ``CHECKPOINT_BYTES`` at most (one each if
    it is small, as it is unless answers are large)."""
    commits: list[tuple[list[Outcome], list[ChunkSpec]]] = [([], [])]
    size = 0
    items: list[tuple[int, Outcome | ChunkSpec]] = [(_size(o), o) for o in outcomes]
    items += [(_size(h), h) for h in handoffs]
    for weight, item in items:
        part, handed = commits[-1]
        if (part or handed) and size + weight > CHECKPOINT_BYTES:
            commits.append(([], []))
            part, handed, size = *commits[-1], 0
        if isinstance(item, Outcome):
            part.append(item)
        else:
            handed.append(item)
        size += weight
    return [commit for commit in commits if commit[0] or commit[1]]


def _size(item: Outcome | ChunkSpec) -> int:
    """About the bytes an answer or a handed-on chunk adds to a commit."""
    if isinstance(item, Outcome):
        return len(dumps(item.record).encode())
    return sum(len(dumps(task.to_dict()).encode()) for task in item.tasks)


async def run_recorded(
    deps: Deps, store: ChunkStore, job: Job, chunk_id: str, queue: str
) -> HandlerResult:
    """Claim the chunk and run its unsettled prompts (see the module)."""
    holder = uuid.uuid4().hex
    lease = timedelta(seconds=deps.config.lease_seconds)
    now = deps.clock.now()
    claim, record = await store.claim_chunk(job.job_id, chunk_id, holder, now + lease, now)
    if record is None:
        log.warning("job %s has no chunk %s: its task is dropped", job.job_id, chunk_id)
        return HandlerResult(200)
    if record.handed_to():
        await enqueue_children(deps, store, job.job_id, record)
    if claim is not ClaimResult.CLAIMED:
        # BUSY: another delivery runs the chunk; come back after it (its lease may end).
        return HandlerResult(409 if claim is ClaimResult.BUSY else 200)
    settler = ChunkCheckpoints(deps, store, record, job.job_id)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(_keep_lease, deps, store, job.job_id, chunk_id, holder, settler)
            try:
                rest = await run_paced(deps, job, record.unsettled(), queue, settler, [])
            finally:
                group.cancel_scope.cancel()
        if rest and not settler.stopped:
            await settler.hand_on(ChunkSpec.of(queue, rest))
    finally:
        await deps.answers.keep(settler.flush())
        if settler.unsettled and not settler.stopped:
            await deps.answers.keep(_release(deps, store, job.job_id, chunk_id, holder))
    return HandlerResult(200)


async def enqueue_children(deps: Deps, store: ChunkStore, job_id: str, record: ChunkRecord) -> None:
    """Enqueue the chunks ``record`` handed prompts to that no delivery has started yet."""
    tasks = []
    for child_id in record.handed_to():
        child = await store.get_chunk(job_id, child_id)
        if child is not None and child.lease.holder is None and not child.done:
            tasks.append(spec_task(child.spec))
    if tasks:
        await deps.tasks.enqueue(tasks)


async def _keep_lease(  # noqa: PLR0917 (the chunk, its holder, who to tell)
    deps: Deps,
    store: ChunkStore,
    job_id: str,
    chunk_id: str,
    holder: str,
    settler: ChunkCheckpoints,
) -> None:
    """Renew the chunk's lease every third of it; stop the run if another holder has it."""
    lease = timedelta(seconds=deps.config.lease_seconds)
    while True:
        await anyio.sleep(lease.total_seconds() / 3)
        now = deps.clock.now()
        try:
            claim, _ = await store.claim_chunk(job_id, chunk_id, holder, now + lease, now)
        except Exception:  # a store hiccup: the lease has two more thirds to go
            log.exception("could not renew the lease of chunk %s of job %s", chunk_id, job_id)
            continue
        if claim is not ClaimResult.CLAIMED:
            settler.stopped = True
            return


async def _release(deps: Deps, store: ChunkStore, job_id: str, chunk_id: str, holder: str) -> None:
    """End the holder's lease now (its run is over with prompts unsettled)."""
    now = deps.clock.now()
    try:
        await store.claim_chunk(job_id, chunk_id, holder, now, now)
    except Exception:  # it runs out by itself
        log.exception("could not release chunk %s of job %s", chunk_id, job_id)
