"""The per-item transactions: register prompts, claim and advance leases, record outcomes.

An item is the one document of one outcome key in ``{prefix}_jobs/{job}/items``:
``p:<prompt_id>`` (a prompt: its registered line, generation, lease and ``done`` flag, and
its outcome once recorded) or ``l:<line>`` (an input line that never became a prompt: its
outcome only). Keeping a prompt's lease and outcome on one document is what makes the
port's promises one-document transactions: an outcome is written only if the document
has none yet, in the same commit that bumps one counter shard, so a task delivered twice
concurrently records once and counts once. Every body below only reads and buffers
writes; ``run_transaction`` commits or retries it whole.

Field names: ``key``; prompt ``prompt_line``, ``generation``, ``lease_holder``,
``lease_until``, ``done``, ``chunked`` (its claim and outcome are its chunk's record's,
``_firestore_chunks``: no per-prompt claim, record or cancel sweep takes it); outcome
``kind``, ``line``, ``record`` (JSON), ``input_tokens``, ``output_tokens``. An item is a
registered prompt iff it has ``prompt_line``, and has its outcome iff it has ``kind``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from google.api_core.exceptions import AlreadyExists
from google.cloud.firestore import AsyncTransaction, FieldFilter, Increment

from promptforge.core.claims import PromptLease, decide_claim
from promptforge.core.models import ClaimResult, Outcome, OutcomeKind
from promptforge.core.outcome_sets import outcome_from_fields
from promptforge.gcp._firestore_layout import Layout
from promptforge.gcp._firestore_tx import read_documents, run_transaction
from promptforge.jobstore.base import PendingPrompt
from promptforge.jobstore.fields import dumps

_NO_LEASE = {"lease_holder": None, "lease_until": None}


async def register(
    layout: Layout, job_id: str, firsts: Mapping[str, int], *, chunked: bool = False
) -> dict[str, int]:
    """Register each new ``prompt_id → line``; returns the stored line of those known before.

    ``chunked``: the prompts run in chunks (``_firestore_chunks``), which hold their claims
    and outcomes: the item says so, and no per-prompt claim or cancel sweep takes it.

    First as one commit of creates, which reads nothing (a write per prompt, no read): it
    fails whole if any of the documents exists (a replayed slice, a duplicate
    ``prompt_id``, an outcome recorded first), and then the transaction below reads them
    and sorts each case out.
    """
    refs = {prompt_id: layout.item(job_id, Outcome.prompt_key(prompt_id)) for prompt_id in firsts}
    batch = layout.client.batch()
    owner: dict[str, Any] = {"chunked": True} if chunked else {}
    for prompt_id, line in firsts.items():
        fields: dict[str, Any] = {"key": Outcome.prompt_key(prompt_id), "prompt_line": line}
        fields |= {"generation": 0, "done": False} | _NO_LEASE | owner
        batch.create(refs[prompt_id], fields | layout.expiry())
    try:
        await batch.commit()
    except AlreadyExists:
        pass  # some are known: the transaction tells replays from duplicates
    else:
        return {}

    async def body(transaction: AsyncTransaction) -> dict[str, int]:
        snapshots = await read_documents(layout.client, list(refs.values()), transaction)
        stored: dict[str, int] = {}
        for prompt_id, line in firsts.items():
            ref = refs[prompt_id]
            data = snapshots[ref.path].to_dict()
            if data is not None and "prompt_line" in data:
                stored[prompt_id] = int(data["prompt_line"])
                continue
            fields: dict[str, Any] = {"prompt_line": line, "generation": 0, "done": False}
            fields |= _NO_LEASE | owner | layout.expiry()
            if data is None:
                transaction.create(ref, {"key": Outcome.prompt_key(prompt_id), **fields})
            else:  # its outcome was recorded before it was registered
                transaction.update(ref, fields)
        return stored

    return await run_transaction(layout.client, body)


async def claim(  # noqa: PLR0917 (the port's signature)
    layout: Layout,
    job_id: str,
    prompt_id: str,
    generation: int,
    holder: str,
    lease_until: datetime,
    now: datetime,
) -> ClaimResult:
    """Take the prompt's lease for ``generation`` (the rule: ``core.claims.decide_claim``)."""
    ref = layout.item(job_id, Outcome.prompt_key(prompt_id))

    async def body(transaction: AsyncTransaction) -> ClaimResult:
        data = (await read_documents(layout.client, [ref], transaction))[ref.path].to_dict()
        item = None  # a chunked prompt is claimed with its chunk, never alone
        if data is not None and "prompt_line" in data and not data.get("chunked"):
            item = PromptLease(
                int(data["generation"]),
                data.get("lease_holder"),
                data.get("lease_until"),
                bool(data["done"]),
            )
        decision = decide_claim(item, generation=generation, holder=holder, now=now)
        if decision is ClaimResult.CLAIMED:
            fields = {"generation": generation, "lease_holder": holder, "lease_until": lease_until}
            transaction.update(ref, fields)
        return decision

    return await run_transaction(layout.client, body)


async def advance(layout: Layout, job_id: str, prompt_id: str, generation: int) -> bool:
    """Move the prompt to ``generation + 1`` and drop its lease; False if not at ``generation``."""
    ref = layout.item(job_id, Outcome.prompt_key(prompt_id))

    async def body(transaction: AsyncTransaction) -> bool:
        data = (await read_documents(layout.client, [ref], transaction))[ref.path].to_dict()
        if data is None or "prompt_line" not in data or data["done"]:
            return False
        if int(data["generation"]) != generation:
            return False
        transaction.update(ref, {"generation": generation + 1, **_NO_LEASE})
        return True

    return await run_transaction(layout.client, body)


async def pending(
    layout: Layout, job_id: str, after: str | None, limit: int
) -> tuple[list[PendingPrompt], str | None]:
    """The prompts without an outcome among the next ``limit`` items (by document id)."""
    prefix = Outcome.prompt_key("")
    query = layout.items(job_id).select(["key", "prompt_line", "generation", "done", "chunked"])
    query = query.order_by("__name__")
    if after is not None:
        query = query.start_after({"__name__": after})  # a document id of the collection
    found: list[PendingPrompt] = []
    read, last = 0, None
    async for snapshot in query.limit(limit).stream():
        read, last = read + 1, snapshot.id
        data = snapshot.to_dict() or {}
        key = str(data.get("key", ""))
        pending_alone = not data.get("done") and not data.get("chunked")  # chunks: their records
        if "prompt_line" in data and pending_alone and key.startswith(prefix):
            line, generation = int(data["prompt_line"]), int(data["generation"])
            found.append(PendingPrompt(key.removeprefix(prefix), line, generation))
    return found, last if read == limit else None


async def record(layout: Layout, job_id: str, outcomes: Sequence[Outcome], shards: int) -> int:
    """Write the outcomes (distinct keys) that have none yet, and count them on one shard."""
    refs = [layout.item(job_id, outcome.key) for outcome in outcomes]

    async def body(transaction: AsyncTransaction) -> int:
        snapshots = await read_documents(layout.client, refs, transaction)
        fresh: list[Outcome] = []
        for outcome, ref in zip(outcomes, refs, strict=True):
            data = snapshots[ref.path].to_dict()
            if data is not None and ("kind" in data or data.get("chunked")):
                continue  # recorded before (the first record wins), or its chunk records it
            fields = _outcome_fields(outcome) | layout.expiry()
            if data is None:
                transaction.create(ref, {"key": outcome.key, **fields})
            else:
                if "prompt_line" in data:
                    fields.update(done=True, **_NO_LEASE)
                transaction.update(ref, fields)
            fresh.append(outcome)
        if fresh:
            shard = layout.shard(job_id, random.randrange(shards))
            transaction.set(shard, counter_increments(fresh) | layout.expiry(), merge=True)
        return len(fresh)

    return await run_transaction(layout.client, body)


async def outcome_page(  # noqa: PLR0917 (a page of a ranged query)
    layout: Layout,
    job_id: str,
    kind: OutcomeKind,
    after: tuple[int, str] | None,
    size: int,
    lines: tuple[int, int | None] | None = None,
) -> list[Outcome]:
    """Up to ``size`` outcomes of one kind after ``(line, key)``, in (line, key) order;
    with ``lines`` only those of lines ``[start, end)`` (``end`` None: no end)."""
    query = layout.items(job_id).where(filter=FieldFilter("kind", "==", kind.value))
    if lines is not None:  # a range on the first ordered field: the (kind, line, key) index
        query = query.where(filter=FieldFilter("line", ">=", lines[0]))
        if lines[1] is not None:
            query = query.where(filter=FieldFilter("line", "<", lines[1]))
    query = query.order_by("line").order_by("key")
    if after is not None:
        query = query.start_after({"line": after[0], "key": after[1]})
    page: list[Outcome] = []
    for snapshot in await query.limit(size).get():
        page.append(outcome_of(snapshot.to_dict() or {}))
    return page


def outcome_of(data: dict[str, Any]) -> Outcome:
    """The outcome an item document holds (one that has ``kind``: an outcome is recorded),
    decoded by the one decoder of stored outcomes (``core.outcome_sets``)."""
    return outcome_from_fields(data)


def encoded_size(outcome: Outcome) -> int:
    """About how many bytes the outcome adds to a commit."""
    return len(dumps(outcome.record).encode()) + len(outcome.key.encode()) + 256


def _outcome_fields(outcome: Outcome) -> dict[str, Any]:
    return {
        "kind": OutcomeKind(outcome.kind).value,
        "line": outcome.line,
        "record": dumps(outcome.record),
        "input_tokens": outcome.input_tokens,
        "output_tokens": outcome.output_tokens,
    }


def counter_increments(fresh: Sequence[Outcome]) -> dict[str, Any]:
    """A counter shard's increments for outcomes recorded in one commit."""
    results = sum(1 for outcome in fresh if outcome.kind == OutcomeKind.RESULT)
    return {
        "completed_count": Increment(results),
        "failed_count": Increment(len(fresh) - results),
        "input_tokens": Increment(sum(outcome.input_tokens for outcome in fresh)),
        "output_tokens": Increment(sum(outcome.output_tokens for outcome in fresh)),
        "schema_retries": Increment(sum(outcome.schema_retries for outcome in fresh)),
        "deduplicated_count": Increment(sum(1 for outcome in fresh if outcome.deduplicated)),
    }
