"""One record per chunk: its claim, how each of its prompts was settled, and its handoffs.

On Google Cloud a task carries a chunk of prompts (``core.chunks``). Writing each prompt's
own document to claim it and again to record its outcome costs two writes per prompt,
most of the bill (``docs/scale.md``); a chunk record moves both to the chunk:

- **The claim** is the chunk's: one lease on the record, decided by the same rule as a
  prompt's (``core.claims.decide_claim``). A chunk never changes generation (a prompt that
  needs another try moves to another chunk, below), so ``STALE`` never happens here;
  ``DONE`` is every prompt settled, ``BUSY`` another holder's live lease.
- **Settled prompts.** The record maps each settled ``prompt_id`` to how: ``r`` a result,
  ``e`` an error, ``h:<chunk>`` handed on to another chunk. A checkpoint settles the
  prompts it carries that are not settled yet, all in one write: the first settlement of
  a prompt wins, whoever holds the lease (a late holder's answers were billed too; a
  second one is dropped, never recorded). A redelivered chunk runs only its unsettled
  prompts.
- **Handoffs.** A prompt that must be tried again (rate-limited, a transient error, a
  schema re-ask, a deferral, the chunk's time budget spent) is handed on: the checkpoint
  creates the next chunk's record, holding its tasks, in the same write that settles the
  prompt as ``h:<that chunk>``, and the task is enqueued after the commit under the
  chunk's name. A prompt belongs to exactly one chunk at a time, so at most one records
  its outcome; a crash between commit and enqueue is repaired by the redelivered parent,
  which enqueues its handoffs again (a named task is created once).

The stores keep only the mechanics (one transaction on the record); the rules are here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from promptforge.core.claims import PromptLease, decide_claim
from promptforge.core.models import ClaimResult, Outcome, OutcomeKind, PromptTask
from promptforge.core.outcome_sets import OutcomeSet, outcome_sets
from promptforge.core.tasknames import chunk_task_name

__all__ = [
    "CHUNK_GENERATION",
    "HANDED",
    "Checkpoint",
    "ChunkRecord",
    "ChunkSpec",
    "ChunkStore",
    "chunk_store",
    "claim_chunk",
    "plan_checkpoint",
]

CHUNK_GENERATION = 0
"""A chunk's claim generation: always this one (prompts move between chunks, not chunks
between generations)."""
HANDED = "h:"
"""How a prompt handed on to another chunk is settled: ``h:<chunk_id>``."""
_SETTLED_AS = {OutcomeKind.RESULT: "r", OutcomeKind.ERROR: "e"}


@dataclass(frozen=True)
class ChunkSpec:
    """A chunk as created: its id (its task's name), queue, tasks and earliest start."""

    chunk_id: str
    queue: str
    tasks: tuple[PromptTask, ...]
    not_before: datetime | None = None

    @classmethod
    def of(
        cls,
        queue: str,
        tasks: Sequence[PromptTask],
        not_before: datetime | None = None,
        parent: str = "",
    ) -> ChunkSpec:
        """The chunk of ``tasks`` (one job's), named as its task is; ``parent`` is the chunk
        handing them on (so a handoff never takes the name of a chunk made before)."""
        pairs = [(task.prompt_id, task.generation) for task in tasks]
        name = chunk_task_name(tasks[0].job_id, pairs, parent)
        return cls(name, queue, tuple(tasks), not_before)


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk's record as its store read it."""

    spec: ChunkSpec
    lease: PromptLease[datetime]
    settled: Mapping[str, str] = field(default_factory=dict)
    sets_written: int = 0
    """Outcome sets this chunk has published: the next one's number (its record's name)."""

    @property
    def done(self) -> bool:
        """Whether every prompt of the chunk is settled."""
        return all(task.prompt_id in self.settled for task in self.spec.tasks)

    def unsettled(self) -> list[PromptTask]:
        """The chunk's tasks whose prompts are not settled, in chunk order."""
        return [task for task in self.spec.tasks if task.prompt_id not in self.settled]

    def handed_to(self) -> list[str]:
        """The chunks this one handed prompts on to, in the order first handed."""
        return list(
            dict.fromkeys(
                how.removeprefix(HANDED) for how in self.settled.values() if how.startswith(HANDED)
            )
        )


def claim_chunk(record: ChunkRecord | None, *, holder: str, now: datetime) -> ClaimResult:
    """Whether ``holder`` may run the chunk at ``now`` (``decide_claim`` on its lease)."""
    lease = None if record is None else dataclasses.replace(record.lease, done=record.done)
    return decide_claim(lease, generation=CHUNK_GENERATION, holder=holder, now=now)


@dataclass(frozen=True)
class Checkpoint:
    """What one write of a chunk's record commits (``plan_checkpoint``)."""

    fresh: tuple[Outcome, ...]
    """The outcomes recorded now (their prompts were unsettled): counted once, here."""
    sets: tuple[OutcomeSet, ...]
    """``fresh`` as outcome sets, numbered from the record's ``sets_written``."""
    children: tuple[ChunkSpec, ...]
    """The chunks created now for the prompts handed on."""
    settled: dict[str, str]
    """The record's settled map after the write."""

    @property
    def empty(self) -> bool:
        """Whether the write would change nothing (a replay of a checkpoint)."""
        return not self.fresh and not self.children


def plan_checkpoint(
    record: ChunkRecord, outcomes: Sequence[Outcome], handoffs: Sequence[ChunkSpec]
) -> Checkpoint:
    """What to write for a checkpoint of ``record``: the first settlement of a prompt wins.

    ``outcomes`` are the chunk's prompts' (``p:<prompt_id>`` keys); ``handoffs`` the next
    chunks their tasks would go to (only their queue, tasks and start are used). A prompt
    settled before (or twice in this call) is dropped; a handoff keeps its unsettled
    tasks and is named for them and this chunk.
    ValueError for an outcome or task of a prompt the chunk does not hold.
    """
    own = {task.prompt_id for task in record.spec.tasks}
    settled = dict(record.settled)
    fresh: list[Outcome] = []
    for outcome in outcomes:
        prompt_id = _own_prompt(outcome.key, own)
        if prompt_id not in settled:
            settled[prompt_id] = _SETTLED_AS[OutcomeKind(outcome.kind)]
            fresh.append(outcome)
    children: list[ChunkSpec] = []
    for handoff in handoffs:
        for task in handoff.tasks:
            _own_prompt(Outcome.prompt_key(task.prompt_id), own)
        tasks = [task for task in handoff.tasks if task.prompt_id not in settled]
        if not tasks:
            continue
        child = ChunkSpec.of(handoff.queue, tasks, handoff.not_before, record.spec.chunk_id)
        for task in tasks:
            settled[task.prompt_id] = HANDED + child.chunk_id
        children.append(child)
    return Checkpoint(tuple(fresh), tuple(outcome_sets(fresh)), tuple(children), settled)


def _own_prompt(key: str, own: set[str]) -> str:
    prompt_id = key.removeprefix(Outcome.prompt_key(""))
    if key == prompt_id or prompt_id not in own:
        raise ValueError(f"outcome {key!r} is not one of the chunk's prompts")
    return prompt_id


@runtime_checkable
class ChunkStore(Protocol):
    """The job store's chunk records (Google Cloud's Firestore store has them; the embedded
    runtime runs one prompt per task on per-prompt rows and has none: ``chunk_store``)."""

    async def register_chunk_prompts(
        self, job_id: str, prompts: Sequence[tuple[str, int]]
    ) -> list[int | None]:
        """``JobStore.register_prompts`` for prompts that will run in chunks: their claim
        and outcome live on their chunk's record, so no per-prompt claim or cancel sweep
        takes them."""
        ...

    async def create_chunks(self, job_id: str, specs: Sequence[ChunkSpec]) -> int:
        """Create the records of the chunks not created yet (before their tasks exist)."""
        ...

    async def claim_chunk(
        self, job_id: str, chunk_id: str, holder: str, lease_until: datetime, now: datetime
    ) -> tuple[ClaimResult, ChunkRecord | None]:
        """``claim_chunk`` on the stored record, its lease taken (or renewed) if CLAIMED;
        the answer and the record as read."""
        ...

    async def get_chunk(self, job_id: str, chunk_id: str) -> ChunkRecord | None:
        """The chunk's record, or None."""
        ...

    async def write_checkpoint(
        self,
        job_id: str,
        chunk_id: str,
        outcomes: Sequence[Outcome],
        handoffs: Sequence[ChunkSpec],
    ) -> Checkpoint:
        """``plan_checkpoint`` written in one commit, with the job's counters; what it wrote."""
        ...

    async def chunks_not_done(
        self, job_id: str, after: str | None, limit: int
    ) -> tuple[list[ChunkRecord], str | None]:
        """A page of the job's chunks with unsettled prompts, and the next page's cursor."""
        ...


def chunk_store(store: object) -> ChunkStore | None:
    """``store`` if it keeps chunk records, else None (then chunks claim prompt by prompt)."""
    return store if isinstance(store, ChunkStore) else None
