"""The chunk records on Firestore: create, claim, checkpoint, and read their outcome sets.

The rules are ``core.chunk_records`` (claim, first settlement wins, handoffs) and
``core.outcome_sets`` (the codec, sets in line order); here only their transactions.

``{prefix}_jobs/{job}/chunks/{chunk_id}``: ``tasks`` (the chunk's task bodies as JSON
text), ``queue``, ``not_before``, ``first_line``, ``lease_holder``, ``lease_until``,
``settled`` (JSON text: ``prompt_id → r | e | h:<chunk>``), ``sets_written``, ``done``.
``{prefix}_jobs/{job}/outcome_sets/{chunk_id}.{n}``: ``kind``, ``first_line``, ``keys``
(array, for ``get_set_outcome``), ``outcomes`` (a list of ``outcome_fields`` maps),
``chunk``. A checkpoint is one transaction: it reads the chunk record and writes the
record, its outcome sets, the records of the chunks it hands prompts to, and one counter
shard — about one read and three writes per ``CHECKPOINT_ANSWERS`` prompts.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from google.api_core.exceptions import AlreadyExists
from google.cloud.firestore import AsyncTransaction, FieldFilter

from promptforge.core.chunk_records import (
    CHUNK_GENERATION,
    Checkpoint,
    ChunkRecord,
    ChunkSpec,
    claim_chunk,
    plan_checkpoint,
)
from promptforge.core.claims import PromptLease
from promptforge.core.models import ClaimResult, Outcome, OutcomeKind, PromptTask
from promptforge.core.outcome_sets import (
    OutcomeSet,
    decode_set,
    encode_set,
    in_line_order,
    in_range,
    sets_from,
)
from promptforge.gcp._firestore_items import counter_increments
from promptforge.gcp._firestore_layout import Layout
from promptforge.gcp._firestore_tx import read_documents, run_transaction
from promptforge.jobstore.fields import dumps

__all__ = [
    "chunks_not_done",
    "claim",
    "create",
    "get_set_outcome",
    "iter_set_outcomes",
    "write_checkpoint",
]


async def create(layout: Layout, job_id: str, specs: Sequence[ChunkSpec]) -> int:
    """Create the records of ``specs`` that do not exist yet; how many were created.

    One commit of creates (no read) when all are new, as a fresh slice's are; a replayed
    slice's commit fails whole and the transaction creates only the missing ones.
    """
    if not specs:
        return 0
    refs = [layout.chunk(job_id, spec.chunk_id) for spec in specs]
    batch = layout.client.batch()
    for ref, spec in zip(refs, specs, strict=True):
        batch.create(ref, _encode(spec) | layout.expiry())
    try:
        await batch.commit()
    except AlreadyExists:
        pass
    else:
        return len(specs)

    async def body(transaction: AsyncTransaction) -> int:
        found = await read_documents(layout.client, refs, transaction)
        created = 0
        for ref, spec in zip(refs, specs, strict=True):
            if not found[ref.path].exists:
                transaction.create(ref, _encode(spec) | layout.expiry())
                created += 1
        return created

    return await run_transaction(layout.client, body)


async def claim(  # noqa: PLR0917 (the port's order: who, until when, at what time)
    layout: Layout, job_id: str, chunk_id: str, holder: str, lease_until: datetime, now: datetime
) -> tuple[ClaimResult, ChunkRecord | None]:
    """Take the chunk's lease (``core.chunk_records.claim_chunk``); the answer and the record
    as read (its ``unsettled`` prompts are what a ``CLAIMED`` holder runs)."""
    ref = layout.chunk(job_id, chunk_id)

    async def body(transaction: AsyncTransaction) -> tuple[ClaimResult, ChunkRecord | None]:
        data = (await read_documents(layout.client, [ref], transaction))[ref.path].to_dict()
        record = None if data is None else _decode(chunk_id, data)
        decision = claim_chunk(record, holder=holder, now=now)
        if decision is ClaimResult.CLAIMED:
            transaction.update(ref, {"lease_holder": holder, "lease_until": lease_until})
        return decision, record

    return await run_transaction(layout.client, body)


async def write_checkpoint(  # noqa: PLR0917 (a checkpoint and where it goes)
    layout: Layout,
    job_id: str,
    chunk_id: str,
    outcomes: Sequence[Outcome],
    handoffs: Sequence[ChunkSpec],
    shards: int,
) -> Checkpoint:
    """Settle the chunk's prompts in one commit (``core.chunk_records.plan_checkpoint``):
    its outcome sets, the records of the chunks it hands prompts to, the chunk's record and
    one counter shard. What was written; ValueError if the chunk has no record."""
    ref = layout.chunk(job_id, chunk_id)

    async def body(transaction: AsyncTransaction) -> Checkpoint:
        data = (await read_documents(layout.client, [ref], transaction))[ref.path].to_dict()
        if data is None:
            raise ValueError(f"job {job_id!r} has no chunk {chunk_id!r}")
        record = _decode(chunk_id, data)
        plan = plan_checkpoint(record, outcomes, handoffs)
        if plan.empty:
            return plan
        for number, outcome_set in enumerate(plan.sets, start=record.sets_written):
            set_ref = layout.outcome_set(job_id, f"{chunk_id}.{number}")
            transaction.create(set_ref, _encode_set(chunk_id, outcome_set) | layout.expiry())
        for child in plan.children:
            transaction.create(
                layout.chunk(job_id, child.chunk_id), _encode(child) | layout.expiry()
            )
        done = all(task.prompt_id in plan.settled for task in record.spec.tasks)
        fields: dict[str, Any] = {
            "settled": dumps(plan.settled),
            "sets_written": record.sets_written + len(plan.sets),
            "done": done,
        }
        transaction.update(ref, fields | layout.expiry())
        if plan.fresh:
            shard = layout.shard(job_id, random.randrange(shards))
            transaction.set(shard, counter_increments(plan.fresh) | layout.expiry(), merge=True)
        return plan

    return await run_transaction(layout.client, body)


async def chunk_record(layout: Layout, job_id: str, chunk_id: str) -> ChunkRecord | None:
    """The chunk's record as stored, or None."""
    data = (await layout.chunk(job_id, chunk_id).get()).to_dict()
    return None if data is None else _decode(chunk_id, data)


async def chunks_not_done(
    layout: Layout, job_id: str, after: str | None, limit: int
) -> tuple[list[ChunkRecord], str | None]:
    """Up to ``limit`` records of the job's chunks with prompts not settled (by id, after
    the cursor: the last id read); the page and the next cursor (None at the end)."""
    query = layout.chunks(job_id).where(filter=FieldFilter("done", "==", False))
    query = query.order_by("__name__")
    if after is not None:
        query = query.start_after({"__name__": after})
    found = [_decode(snap.id, snap.to_dict() or {}) async for snap in query.limit(limit).stream()]
    return found, found[-1].spec.chunk_id if len(found) == limit else None


async def iter_set_outcomes(
    layout: Layout,
    job_id: str,
    kind: OutcomeKind,
    page_size: int,
    lines: tuple[int, int | None] | None = None,
) -> AsyncIterator[Outcome]:
    """Every outcome of ``kind`` published in outcome sets, in (line, key) order; with
    ``lines`` those of lines ``[start, end)``, read from the sets that can hold them
    (``core.outcome_sets.sets_from``: a set spans fewer than ``SET_SPAN_LINES``)."""
    sets = _sets(layout, job_id, OutcomeKind(kind), page_size, lines)
    if lines is None:
        async for outcome in in_line_order(sets):
            yield outcome
        return
    async for outcome in in_range(in_line_order(sets), *lines):
        yield outcome


async def get_set_outcome(layout: Layout, job_id: str, key: str) -> Outcome | None:
    """The outcome of ``key`` published in an outcome set, or None (one query, by key)."""
    query = layout.outcome_sets(job_id).where(filter=FieldFilter("keys", "array_contains", key))
    for snapshot in await query.limit(1).get():
        for outcome in decode_set((snapshot.to_dict() or {})["outcomes"]):
            if outcome.key == key:
                return outcome
    return None


async def _sets(
    layout: Layout,
    job_id: str,
    kind: OutcomeKind,
    page_size: int,
    lines: tuple[int, int | None] | None,
) -> AsyncIterator[OutcomeSet]:
    """The job's outcome sets of ``kind`` by ascending first line, a page at a time (those
    that can hold a line of ``lines``, if given)."""
    query = layout.outcome_sets(job_id).where(filter=FieldFilter("kind", "==", kind.value))
    if lines is not None:  # the (kind, first_line) index serves the range
        query = query.where(filter=FieldFilter("first_line", ">=", sets_from(lines[0])))
        if lines[1] is not None:
            query = query.where(filter=FieldFilter("first_line", "<", lines[1]))
    query = query.order_by("first_line").order_by("__name__")
    last = None
    while True:
        page = query if last is None else query.start_after(last)
        snapshots = await page.limit(page_size).get()
        for snapshot in snapshots:
            yield OutcomeSet(kind, tuple(decode_set((snapshot.to_dict() or {})["outcomes"])))
        if len(snapshots) < page_size:
            return
        last = snapshots[-1]


def _encode(spec: ChunkSpec) -> dict[str, Any]:
    return {
        "tasks": dumps([task.to_dict() for task in spec.tasks]),
        "queue": spec.queue,
        "not_before": spec.not_before,
        "first_line": min(task.line for task in spec.tasks),
        "lease_holder": None,
        "lease_until": None,
        "settled": dumps({}),
        "sets_written": 0,
        "done": False,
    }


def _decode(chunk_id: str, data: dict[str, Any]) -> ChunkRecord:
    tasks = tuple(PromptTask.from_dict(body) for body in json.loads(data["tasks"]))
    spec = ChunkSpec(chunk_id, str(data["queue"]), tasks, data.get("not_before"))
    lease = PromptLease(CHUNK_GENERATION, data.get("lease_holder"), data.get("lease_until"), False)
    return ChunkRecord(spec, lease, json.loads(data["settled"]), int(data["sets_written"]))


def _encode_set(chunk_id: str, outcome_set: OutcomeSet) -> dict[str, Any]:
    return {
        "kind": outcome_set.kind.value,
        "first_line": outcome_set.first_line,
        "keys": outcome_set.keys,
        "outcomes": encode_set(outcome_set),
        "chunk": chunk_id,
    }
