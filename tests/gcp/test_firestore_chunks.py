"""Chunk records on the Firestore emulator (``gcp/_firestore_chunks.py``): one claim per
chunk, one commit per checkpoint, each prompt settled once, outcome sets read back in
line order. The rules themselves are ``tests/unit/test_chunk_records.py``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from google.cloud.firestore import AsyncClient

from promptforge.core.chunk_records import HANDED, ChunkSpec
from promptforge.core.models import ClaimResult, Outcome, OutcomeKind, PromptTask
from promptforge.core.outcomes import MAX_OUTCOME_BYTES
from promptforge.gcp import _firestore_chunks as chunks
from promptforge.gcp.firestore_store import FirestoreJobStore
from tests.contract._jobstore_data import T0, make_job
from tests.gcp.emulators import FirestoreEmulator

pytestmark = pytest.mark.anyio

LEASE = timedelta(seconds=30)


@pytest.fixture
async def store(firestore_emulator: FirestoreEmulator) -> AsyncIterator[FirestoreJobStore]:
    """A store with one job, on a fresh emulator project."""
    async with firestore_emulator.connect() as client:
        store = FirestoreJobStore(client, counter_shards=4, page_size=3)
        await store.create_job(make_job())
        yield store


def _spec(lines: range, queue: str = "q") -> ChunkSpec:
    return ChunkSpec.of(queue, [PromptTask("job-1", f"p{n}", n, f"prompt {n}") for n in lines])


def _result(line: int, text: str = "ok") -> Outcome:
    record = {"prompt_id": f"p{line}", "result": text}
    return Outcome(Outcome.prompt_key(f"p{line}"), OutcomeKind.RESULT, line, record, 2, 3)


def _error(line: int) -> Outcome:
    record = {"prompt_id": f"p{line}", "line": line, "error": {"code": "x"}}
    return Outcome(Outcome.prompt_key(f"p{line}"), OutcomeKind.ERROR, line, record)


async def test_a_chunk_is_created_once_claimed_once_and_settled_once(
    store: FirestoreJobStore,
) -> None:
    layout = store._layout
    first, second = _spec(range(1, 11)), _spec(range(11, 21))
    assert await chunks.create(layout, "job-1", [first]) == 1
    assert await chunks.create(layout, "job-1", [first, second]) == 1  # a replayed slice
    until = T0 + LEASE
    missing = await chunks.claim(layout, "job-1", "k-nope", "w1", until, T0)
    assert missing == (ClaimResult.MISSING, None)
    claimed, record = await chunks.claim(layout, "job-1", first.chunk_id, "w1", until, T0)
    assert claimed is ClaimResult.CLAIMED and record is not None and record.spec == first
    busy, _ = await chunks.claim(layout, "job-1", first.chunk_id, "w2", until, T0)
    assert busy is ClaimResult.BUSY

    written = await chunks.write_checkpoint(
        layout, "job-1", first.chunk_id, [_result(n) for n in range(1, 6)], [], 4
    )
    assert len(written.fresh) == 5 and len(written.sets) == 1
    replayed = await chunks.write_checkpoint(
        layout, "job-1", first.chunk_id, [_result(3, "again"), _error(6)], [], 4
    )
    assert [o.key for o in replayed.fresh] == ["p:p6"]
    job = await store.get_job("job-1")
    assert job is not None
    assert (job.completed_count, job.failed_count, job.input_tokens) == (5, 1, 10)

    # The holder's lease ran out (a kill): the next delivery runs only what is unsettled.
    later = T0 + LEASE + timedelta(seconds=1)
    again, record = await chunks.claim(layout, "job-1", first.chunk_id, "w2", later + LEASE, later)
    assert again is ClaimResult.CLAIMED and record is not None
    assert [task.line for task in record.unsettled()] == [7, 8, 9, 10]
    await chunks.write_checkpoint(
        layout, "job-1", first.chunk_id, [_result(n) for n in range(7, 11)], [], 4
    )
    done, _ = await chunks.claim(layout, "job-1", first.chunk_id, "w3", later + LEASE, later)
    assert done is ClaimResult.DONE
    page, cursor = await chunks.chunks_not_done(layout, "job-1", None, 10)
    assert [r.spec.chunk_id for r in page] == [second.chunk_id] and cursor is None


async def test_a_handoff_creates_the_next_chunk_in_the_same_commit(
    store: FirestoreJobStore,
) -> None:
    layout = store._layout
    spec = _spec(range(1, 5))
    await chunks.create(layout, "job-1", [spec])
    retry = [PromptTask("job-1", "p2", 2, "prompt 2", 1), PromptTask("job-1", "p4", 4, "x", 1)]
    handoff = ChunkSpec.of("q2", retry, T0 + timedelta(seconds=5))
    written = await chunks.write_checkpoint(
        layout, "job-1", spec.chunk_id, [_result(1), _error(3)], [handoff], 4
    )
    (child,) = written.children
    record = await chunks.chunk_record(layout, "job-1", spec.chunk_id)
    assert record is not None and record.done
    assert record.settled["p2"] == HANDED + child.chunk_id
    assert record.handed_to() == [child.chunk_id]
    stored = await chunks.chunk_record(layout, "job-1", child.chunk_id)
    assert stored is not None and stored.spec == child  # tasks, queue and start kept
    claimed, _ = await chunks.claim(layout, "job-1", child.chunk_id, "w", T0 + LEASE, T0)
    assert claimed is ClaimResult.CLAIMED


async def test_racing_holders_record_each_prompt_once(store: FirestoreJobStore) -> None:
    layout = store._layout
    spec = _spec(range(1, 41))
    await chunks.create(layout, "job-1", [spec])

    async def holder(text: str) -> int:
        total = 0
        for start in range(1, 41, 10):
            batch = [_result(n, text) for n in range(start, start + 10)]
            written = await chunks.write_checkpoint(layout, "job-1", spec.chunk_id, batch, [], 4)
            total += len(written.fresh)
        return total

    counts = await asyncio.gather(holder("a"), holder("b"))
    assert sum(counts) == 40
    job = await store.get_job("job-1")
    assert job is not None and job.completed_count == 40
    lines = [o.line async for o in chunks.iter_set_outcomes(layout, "job-1", OutcomeKind.RESULT, 3)]
    assert lines == list(range(1, 41))


async def test_sets_are_read_in_line_order_and_found_by_key(store: FirestoreJobStore) -> None:
    layout = store._layout
    specs = [_spec(range(start, start + 10)) for start in (1, 11, 21)]
    await chunks.create(layout, "job-1", specs)
    # The chunks finish out of order, each in two checkpoints of interleaved lines; one
    # answer is as large as an answer may be.
    big = "y" * (MAX_OUTCOME_BYTES - 200)
    plan = [(2, [22, 24, 26, 28, 30]), (0, [1, 3, 5, 7, 9]), (1, list(range(11, 21)))]
    plan += [(0, [2, 4, 6, 8, 10]), (2, [21, 23, 25, 27, 29])]
    for index, lines in plan:
        outcomes = [_error(n) if n % 7 == 0 else _result(n, big if n == 5 else "ok") for n in lines]
        await chunks.write_checkpoint(layout, "job-1", specs[index].chunk_id, outcomes, [], 4)
    results = [o async for o in chunks.iter_set_outcomes(layout, "job-1", OutcomeKind.RESULT, 2)]
    errors = [o.line async for o in chunks.iter_set_outcomes(layout, "job-1", OutcomeKind.ERROR, 2)]
    assert [o.line for o in results] == [n for n in range(1, 31) if n % 7]
    assert errors == [7, 14, 21, 28]
    assert results[4].record["result"] == big
    found = await chunks.get_set_outcome(layout, "job-1", "p:p14")
    assert found is not None and found.kind is OutcomeKind.ERROR and found.line == 14
    assert await chunks.get_set_outcome(layout, "job-1", "p:p99") is None


async def test_a_checkpoint_of_a_chunk_without_a_record_is_refused(
    store: FirestoreJobStore,
) -> None:
    with pytest.raises(ValueError, match="has no chunk"):
        await chunks.write_checkpoint(store._layout, "job-1", "k-none", [_result(1)], [], 4)
    client: AsyncClient = store._client
    assert not await client.collection("pf_jobs").document("job-1").collection("counters").get()


async def test_a_chunked_prompt_is_claimed_and_recorded_only_by_its_chunk(
    store: FirestoreJobStore,
) -> None:
    """Its item is its registration only: the per-prompt claim, record and cancel sweep
    leave it to its chunk, and every reader finds its outcome in the chunk's set."""
    assert await store.register_chunk_prompts("job-1", [("p1", 1), ("p2", 2), ("p1", 9)]) == [
        None,
        None,
        1,
    ]
    await store.register_prompts("job-1", [("alone", 3)])
    spec = _spec(range(1, 3))
    await store.create_chunks("job-1", [spec])
    now = T0
    assert await store.claim("job-1", "p1", 0, "w", now + LEASE, now) is ClaimResult.MISSING
    assert await store.record_outcomes("job-1", [_result(1, "not its chunk")]) == 0
    pending, _ = await store.pending_prompts("job-1", None, 10)
    assert [p.prompt_id for p in pending] == ["alone"]

    line_error = Outcome(Outcome.line_key(9), OutcomeKind.ERROR, 9, {"line": 9, "error": {}})
    alone = Outcome("p:alone", OutcomeKind.ERROR, 3, {"prompt_id": "alone", "error": {}})
    assert await store.record_outcomes("job-1", [line_error, alone]) == 2
    await store.write_checkpoint("job-1", spec.chunk_id, [_result(1), _error(2)], [])
    found = await store.get_outcome("job-1", "p:p1")
    assert found is not None and found.record["result"] == "ok"
    assert await store.get_outcome("job-1", "p:alone") == alone
    errors = [o.key async for o in store.iter_outcomes("job-1", OutcomeKind.ERROR)]
    assert errors == ["p:p2", "p:alone", "l:9"]  # items and sets in one line order
    job = await store.get_job("job-1")
    assert job is not None and (job.completed_count, job.failed_count) == (1, 3)
