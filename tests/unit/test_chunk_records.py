"""The chunk record's rules (``core.chunk_records``) and outcome sets (``core.outcome_sets``).

Pure: no store. The Firestore mechanics are ``tests/gcp/test_firestore_chunks.py``.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from promptforge.core.chunk_records import (
    CHUNK_GENERATION,
    HANDED,
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
    merge_line_ordered,
    outcome_fields,
    outcome_from_fields,
    outcome_sets,
)
from promptforge.core.outcomes import MAX_OUTCOME_BYTES

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _tasks(count: int, generation: int = 0) -> list[PromptTask]:
    return [PromptTask("job-1", f"p{n}", n + 1, f"prompt {n}", generation) for n in range(count)]


def _record(
    tasks: list[PromptTask], *, holder: str | None = None, until: datetime | None = None
) -> ChunkRecord:
    lease = PromptLease(CHUNK_GENERATION, holder, until, False)
    return ChunkRecord(ChunkSpec.of("q", tasks), lease)


def _result(prompt_id: str, line: int, text: str = "ok") -> Outcome:
    record = {"prompt_id": prompt_id, "result": text}
    return Outcome(Outcome.prompt_key(prompt_id), OutcomeKind.RESULT, line, record, 3, 4, 1)


def _error(prompt_id: str, line: int) -> Outcome:
    record = {"prompt_id": prompt_id, "line": line, "error": {"code": "x"}}
    return Outcome(Outcome.prompt_key(prompt_id), OutcomeKind.ERROR, line, record)


def test_a_chunk_is_claimed_by_the_prompt_claim_rule() -> None:
    tasks = _tasks(3)
    assert claim_chunk(None, holder="a", now=NOW) is ClaimResult.MISSING
    assert claim_chunk(_record(tasks), holder="a", now=NOW) is ClaimResult.CLAIMED
    held = _record(tasks, holder="a", until=NOW + timedelta(seconds=30))
    assert claim_chunk(held, holder="b", now=NOW) is ClaimResult.BUSY
    assert claim_chunk(held, holder="a", now=NOW) is ClaimResult.CLAIMED  # a retried claim
    assert claim_chunk(held, holder="b", now=NOW + timedelta(seconds=31)) is ClaimResult.CLAIMED
    done = plan_checkpoint(held, [_result(t.prompt_id, t.line) for t in tasks], []).settled
    finished = ChunkRecord(held.spec, held.lease, done)
    assert finished.done
    assert claim_chunk(finished, holder="b", now=NOW) is ClaimResult.DONE


def test_the_first_settlement_of_a_prompt_wins() -> None:
    tasks = _tasks(4)
    record = _record(tasks)
    first = plan_checkpoint(record, [_result("p0", 1, "first"), _result("p0", 1, "again")], [])
    assert [o.record["result"] for o in first.fresh] == ["first"]
    record = ChunkRecord(record.spec, record.lease, first.settled, 1)
    replay = plan_checkpoint(record, [_result("p0", 1, "late"), _error("p1", 2)], [])
    assert [o.key for o in replay.fresh] == ["p:p1"]
    assert replay.settled == {"p0": "r", "p1": "e"}
    assert [
        t.prompt_id for t in ChunkRecord(record.spec, record.lease, replay.settled).unsettled()
    ] == [
        "p2",
        "p3",
    ]
    nothing = plan_checkpoint(
        ChunkRecord(record.spec, record.lease, replay.settled), [_error("p1", 2)], []
    )
    assert nothing.empty


def test_a_handoff_creates_the_next_chunk_for_its_unsettled_prompts_only() -> None:
    tasks = _tasks(4)
    record = _record(tasks)
    retry = [PromptTask("job-1", "p1", 2, "prompt 1", 1), PromptTask("job-1", "p0", 1, "x", 1)]
    later = NOW + timedelta(seconds=5)
    plan = plan_checkpoint(record, [_result("p0", 1)], [ChunkSpec.of("q2", retry, later)])
    (child,) = plan.children
    assert [t.prompt_id for t in child.tasks] == ["p1"]  # p0 was settled by its result
    assert child == ChunkSpec.of("q2", [retry[0]], later, record.spec.chunk_id)
    assert plan.settled == {"p0": "r", "p1": HANDED + child.chunk_id}
    after = ChunkRecord(record.spec, record.lease, plan.settled)
    assert after.handed_to() == [child.chunk_id]
    again = plan_checkpoint(after, [_result("p1", 2)], [ChunkSpec.of("q2", retry)])
    assert again.empty  # handed on: this chunk records nothing more for p1


def test_a_chunk_refuses_outcomes_of_prompts_it_does_not_hold() -> None:
    record = _record(_tasks(2))
    with pytest.raises(ValueError, match="not one of the chunk's prompts"):
        plan_checkpoint(record, [_result("elsewhere", 9)], [])
    line_error = Outcome(Outcome.line_key(3), OutcomeKind.ERROR, 3, {})
    with pytest.raises(ValueError, match="not one of the chunk's prompts"):
        plan_checkpoint(record, [line_error], [])
    stranger = ChunkSpec.of("q", [PromptTask("job-1", "zz", 9, "x", 1)])
    with pytest.raises(ValueError, match="not one of the chunk's prompts"):
        plan_checkpoint(record, [], [stranger])


def test_every_field_of_an_outcome_survives_its_set() -> None:
    odd = Outcome("p:ü 🚀", OutcomeKind.RESULT, 7, {"a": [[1, None], {"b": "\u2028"}]}, 1, 2, 3)
    assert outcome_from_fields(outcome_fields(odd)) == odd
    (stored,) = outcome_sets([odd, _result("b", 2)])
    assert decode_set(encode_set(stored)) == [_result("b", 2), odd]


def test_sets_are_split_by_kind_and_bytes_and_a_largest_answer_fits_alone() -> None:
    big = "x" * (MAX_OUTCOME_BYTES - 100)
    outcomes = [_result(f"p{n}", n, big) for n in range(3)] + [_error("e", 1)]
    sets = outcome_sets(outcomes)
    assert [(s.kind, len(s.outcomes)) for s in sets] == [
        (OutcomeKind.RESULT, 1),
        (OutcomeKind.RESULT, 1),
        (OutcomeKind.RESULT, 1),
        (OutcomeKind.ERROR, 1),
    ]
    small = outcome_sets([_result(f"p{n}", n) for n in range(50)])
    assert len(small) == 1 and small[0].first_line == 0 and len(small[0].keys) == 50


_Item = TypeVar("_Item")


async def _aiter(items: Iterable[_Item]) -> AsyncIterator[_Item]:
    for item in items:
        yield item


async def test_interleaved_sets_are_read_back_in_line_order() -> None:
    rng = random.Random(18)
    lines = list(range(1, 2001))
    # Chunks of 100 lines, each published as checkpoints of 10 in the order calls ended,
    # with a few prompts retried into late chunks: sets overlap in lines.
    sets: list[OutcomeSet] = []
    retried = set(rng.sample(lines, 40))
    for start in range(0, 2000, 100):
        chunk = [line for line in lines[start : start + 100] if line not in retried]
        rng.shuffle(chunk)
        for at in range(0, len(chunk), 10):
            sets += outcome_sets(_result(f"p{line}", line) for line in chunk[at : at + 10])
    for at in range(0, 40, 7):
        sets += outcome_sets(_result(f"p{line}", line) for line in sorted(retried)[at : at + 7])
    sets.sort(key=lambda s: s.first_line)
    got = [outcome async for outcome in in_line_order(_aiter(sets))]
    assert [o.line for o in got] == lines


async def test_outcomes_stored_alone_and_in_sets_merge_into_one_order() -> None:
    alone = [_error(f"l{n}", n) for n in (2, 5, 9)]
    in_sets = [_error(f"p{n}", n) for n in (1, 3, 4, 10)]
    merged = merge_line_ordered(_aiter(alone), _aiter(in_sets))
    assert [o.line async for o in merged] == [1, 2, 3, 4, 5, 9, 10]
